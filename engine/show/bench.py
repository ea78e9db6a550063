"""``beamsync bench show``: show evaluation time per frame on a large generated show.

The show has 500 fixtures (RGBW pars, zoom wash movers, 12-cell pixel bars), 30 rules, 10
layers (several effects, per-fixture expressions, palettes, transitions) and is driven by the
synthetic feature stream of :mod:`engine.show.stream`. It prints the time of
:meth:`ShowRuntime.tick` (the show graph: clock, signals, rules, layers) and of tick plus the
fixture renderer (attributes -> DMX), as mean, median, p99 and max per frame, and the ratio
to the 2 ms goal and to the 10 ms frame period at 100 Hz.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bench_show_text(n_fixtures: int = 500, n_rules: int = 30, n_layers: int = 10) -> str:
    """YAML of the benchmark show (fixture mix: 80% pars, 12% movers, 8% pixel bars)."""
    n_bar = max(1, n_fixtures * 8 // 100)
    n_mov = max(1, n_fixtures * 12 // 100)
    n_par = n_fixtures - n_bar - n_mov
    lines = ["show: benchmark", "settings: {frame_rate: 100, transition: 1/2 beat}", "fixtures:"]
    universe, address = 1, 1

    def place(footprint: int) -> tuple[int, int]:
        nonlocal universe, address
        if address + footprint - 1 > 512:
            universe, address = universe + 1, 1
        u, a = universe, address
        address += footprint
        return u, a

    for kind, count, profile, mode, fp in (("par", n_par, "led-par-rgbw", "7ch", 7),
                                           ("mover", n_mov, "wash-mover-zoom", "16ch", 16),
                                           ("bar", n_bar, "pixel-bar-12-rgbw", "48ch", 48)):
        for i in range(count):
            u, a = place(fp)
            lines.append(f"  - {{name: {kind}{i}, profile: {profile}, mode: {mode}, universe: {u}, address: {a}}}")
    last_universe = universe
    lines.append("outputs:")
    lines.append(f"  - {{type: sacn, name: rig, universes: 1-{last_universe}, latency_ms: 12}}")
    lines.append("groups:")
    pars = [f"par{i}" for i in range(n_par)]
    groups = {
        "pars": pars, "pars_a": pars[0::2], "pars_b": pars[1::2],
        "front": pars[: n_par // 2], "back": pars[n_par // 2:],
        "movers": [f"mover{i}" for i in range(n_mov)], "bars": [f"bar{i}" for i in range(n_bar)],
    }
    for g, members in groups.items():
        lines.append(f"  {g}: [{', '.join(members)}]")
    lines += [
        "palettes:",
        "  neon: [magenta, cyan, '#8000ff', lime]",
        "  fire: [red, orange, amber]",
        "  ice: [white, light blue, deep blue]",
        "signals:",
        "  kick: {envelope: onset.kick, decay: 1/2 beat}",
        "  snare: {envelope: onset.snare, decay: 1/4 beat}",
        "  bass: {smooth: level.bass, attack: 20ms, release: 250ms}",
        "  loud: {threshold: energy, on: 0.75, off: 0.6}",
        "  every2: {counter: downbeat, every: 2}",
        "  wobble: {lfo: sine, period: 2 beats}",
        "  drive: 'clamp(0.3 + 0.7 * level, 0, 1)'",
        "  q: {quantize: onset.snare, to: 1 beat}",
        "looks:",
    ]
    look_bodies = [
        ["- {group: pars, intensity: '0.25 + 0.75 * kick', colour: {palette: neon, spread: 0.5}}"],
        ["- {group: pars_a, intensity: 1, colour: fire, chase: {period: 1 bar, width: 0.2}}"],
        ["- {group: pars_b, intensity: 'sine(2, spread=1) * drive', colour: {hue: '360 * pos + 90 * beats', saturation: 1, value: 1}}"],
        ["- {group: movers, intensity: '0.4 + 0.6 * bass', colour: ice, zoom: 0.3, circle: {period: 2 bars, size: 25, spread: 0.25}}"],
        ["- {group: movers, intensity: 0.8, figure8: {period: 4 beats, size: 30, tilt: -30, spread: 0.5}}"],
        ["- {group: bars, intensity: drive, colour: neon, wave: {period: 1 bar, wavelength: 2}}"],
        ["- {group: bars, colour: white, sparkle: {density: '0.1 + 0.5 * level', period: 1/4 beat}}"],
        ["- {group: front, intensity: 'randstep(1, spread=1) * kick', colour: fire}"],
        ["- {group: back, colour_cycle: {palette: neon, period: 1 beat, spread: 1, fade: true}, intensity: wobble}"],
        ["- {group: pars, pulse: {trigger: beat, decay: 1/2 beat, floor: 0.1}, colour: ice}"],
        ["- {group: movers, intensity: 1, fan: {period: 2 beats, size: 60, tilt: -45}}"],
        ["- {group: all, intensity: 1, colour: white}"],
    ]
    for i, body in enumerate(look_bodies):
        lines.append(f"  look{i}:")
        lines += [f"    {b}" for b in body]
    lines.append("layers:")
    blends = ["htp", "htp", "ltp", "htp", "mix", "htp", "htp", "multiply", "mix", "htp"]
    for i in range(n_layers):
        extra = ", opacity: 'clamp(level * 1.5)'" if blends[i % len(blends)] == "mix" else ""
        lines.append(f"  - {{name: layer{i}, look: look{i % len(look_bodies)}, blend: {blends[i % len(blends)]}{extra}}}")
    lines.append("rules:")
    templates = [
        "  - {{when: downbeat, do: {{palette_step: neon}}}}",
        "  - {{when: every2, do: {{palette_step: fire}}}}",
        "  - {{when: drop, do: {{look: look11, layer: layer{l}, for: 16 beats, transition: 1 beat}}}}",
        "  - {{when: buildup, do: {{look: look1, layer: layer{l}, transition: 1 beat}}}}",
        "  - {{when: 'snare > 0.9 and loud', do: {{look: look10, layer: layer{l}, for: 1 beat}}}}",
        "  - {{when: 'level.vocals > 0.3', every: 2, do: {{fade: layer{l}, to: 0.5, over: 1 bar}}}}",
        "  - {{when: breakdown, do: {{look: look{k}, layer: layer{l}, transition: 2 beats}}}}",
        "  - {{when: q, do: {{palette_step: ice}}}}",
        "  - {{when: 'note_on and note.pitch > 50', do: {{palette_step: fire, by: -1}}}}",
        "  - {{when: 'beat and beat.in_bar == 3', every: 4, do: {{look: look{k}, layer: layer{l}, for: 2 beats}}}}",
    ]
    for i in range(n_rules):
        lines.append(templates[i % len(templates)].format(l=i % n_layers, k=(i * 7) % len(look_bodies)))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="beamsync bench show", description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=int, default=500)
    ap.add_argument("--rules", type=int, default=30)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the replayed stream (100 frames per second)")
    args = ap.parse_args(argv or [])

    from engine.show.loader import load_show
    from engine.show.runtime import ShowRuntime
    from engine.show.stream import synthetic_stream

    text = bench_show_text(args.fixtures, args.rules, args.layers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(text)
        t0 = time.perf_counter()
        show = load_show(path)
        load_s = time.perf_counter() - t0
    m = show.model
    frames = synthetic_stream(args.seconds)
    rt = ShowRuntime(show)
    for f in frames[:50]:  # warm-up (first-use allocations)
        rt.tick(f)
    rt = ShowRuntime(show)
    tick_ms = np.empty(len(frames))
    render_ms = np.empty(len(frames))
    tick_cpu = np.empty(len(frames))
    render_cpu = np.empty(len(frames))
    for i, f in enumerate(frames):
        ca = time.thread_time()
        a = time.perf_counter()
        attrs = rt.tick(f)
        b = time.perf_counter()
        cb = time.thread_time()
        rt.renderer.render(attrs, rt.dmx, rt.master(), rt.domains[0].blackout, time=f.time)
        c = time.perf_counter()
        render_cpu[i] = (time.thread_time() - cb) * 1000.0
        tick_ms[i] = (b - a) * 1000.0
        render_ms[i] = (c - b) * 1000.0
        tick_cpu[i] = (cb - ca) * 1000.0
    total = tick_ms + render_ms
    print(f"show: {show.patch.n_fixtures} fixtures ({show.patch.n_cells} cells, {len(show.patch.universes)} universes), "
          f"{len(m.rules)} rules, {len(m.layers)} layers, {len(m.signals)} signals; {len(frames)} frames; load {load_s * 1000:.0f} ms")
    if rt.faults:
        print(f"faults: {rt.faults}")
    for label, xs in (("show tick (graph)", tick_ms), ("render (DMX)", render_ms), ("tick + render", total)):
        print(f"{label:18s} mean {xs.mean():.3f} ms  median {np.median(xs):.3f}  p99 {np.percentile(xs, 99):.3f}  "
              f"max {xs.max():.3f}")
    print(f"CPU time (thread)  tick mean {tick_cpu.mean():.3f} ms, render mean {render_cpu.mean():.3f} ms, "
          f"together {tick_cpu.mean() + render_cpu.mean():.3f} ms (not inflated by other processes taking the core; "
          f"the wall-clock figures above are)")
    print(f"tick CPU mean / 2 ms goal = {tick_cpu.mean() / 2.0:.2f}")
    print(f"tick mean / 2 ms goal = {tick_ms.mean() / 2.0:.2f}; tick+render mean / 10 ms frame period = {total.mean() / 10.0:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
