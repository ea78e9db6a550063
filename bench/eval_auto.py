"""Evaluate the auto show against a naive baseline, per rig, over real and generated music.

For each piece of audio the fixed-step engine (``EngineCore.run_fixed``, the same analysis as a
live run) runs once with the auto show of the first rig and the flash guard installed; the show
inputs it computes are recorded and every rig's auto show and baseline are replayed over them
(a show frame depends only on its inputs, so this equals a run of the engine per show).

Audio: the built-in demo clip (known beats and sections), generated arrangements with known
sections and phrases (``engine.analysis.structure_synth``), and the MedleyDB mixes in
``../shared/eval/mdb`` (annotated beats, no sections) when present.

Per rig it reports:

* share of look and palette changes on a downbeat: of the show's own beat clock (±1 show frame)
  and of the annotated downbeats (±1 frame and ±70 ms, after the rig's latency lead);
* share of changes on an annotated phrase start (±70 ms, when phrases are annotated);
* brightness contrast: mean field intensity in drops divided by that in breakdowns;
* distinct looks seen, and look changes per five minutes;
* the longest time one base look was held (seconds);
* flash-rate violations (more than 3 full-field flashes in a second): auto with the guard, auto
  without it, baseline; and the share of frames the guard held back;
* CPU: show evaluation ms per frame (auto + guard, baseline) and the analysis load.

The naive baseline: every fixture at a smoothed level, its colour stepping round the hue wheel
every 4 seconds.

    .venv/bin/python bench/eval_auto.py              # demo clip, 2 arrangements, MedleyDB
    .venv/bin/python bench/eval_auto.py --quick      # demo clip only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.auto.generate import generate_show_text, load_auto_show  # noqa: E402
from engine.auto.guard import FlashGuard, FlashMeter, field_level  # noqa: E402

RIGS = [ROOT / "shows" / "rigs" / "club-rig.yaml", ROOT / "shows" / "pixel-bar.yaml", ROOT / "shows" / "ambient.yaml",
        ROOT / "shows" / "rock-band.yaml", ROOT / "shows" / "starter.yaml"]
SHARED = ROOT.parent / "shared" / "eval"
TOL_S = 0.070


@dataclass
class Piece:
    name: str
    samples: np.ndarray
    sample_rate: int
    downbeats: np.ndarray
    phrases: np.ndarray | None = None
    drops: list[tuple[float, float]] = field(default_factory=list)
    breakdowns: list[tuple[float, float]] = field(default_factory=list)


def _spans(sections: list[tuple[float, str]], end: float, kind: str) -> list[tuple[float, float]]:
    out = []
    for k, (t, name) in enumerate(sections):
        if name == kind:
            out.append((t, sections[k + 1][0] if k + 1 < len(sections) else end))
    return out


def pieces(args: argparse.Namespace) -> list[Piece]:
    from engine.audio.demo import demo_clip

    clip = demo_clip(48000)
    dur = len(clip.samples) / clip.sample_rate
    out = [Piece("demo clip", clip.samples, clip.sample_rate, np.asarray(clip.downbeats),
                 np.array([t for t, _ in clip.sections]), _spans(list(clip.sections), dur, "drop"),
                 _spans(list(clip.sections), dur, "breakdown"))]
    if args.quick:
        return out
    from engine.analysis.structure_synth import render_arrangement

    for seed in range(args.arrangements):
        a = render_arrangement(seed, 44100, gain_db=-8.0)
        n = min(len(a.samples), int(args.seconds * a.sample_rate))
        end = n / a.sample_rate
        secs = [(t, k) for t, k in a.sections if t < end]
        out.append(Piece(f"arrangement {seed}", a.samples[:n], a.sample_rate, a.downbeats[a.downbeats < end],
                         a.times("phrase")[a.times("phrase") < end], _spans(secs, end, "drop"), _spans(secs, end, "breakdown")))
    mdb = SHARED / "mdb"
    if mdb.is_dir():
        import soundfile as sf

        for song in sorted(mdb.iterdir()):
            mix = song / "mix.flac"
            if not mix.is_file():
                continue
            x, sr = sf.read(mix, dtype="float32", always_2d=True)
            beats = np.loadtxt(song / "beats.txt")
            out.append(Piece(f"mdb {song.name.split('_')[-1]}", x.mean(1)[: int(args.seconds * sr)], sr,
                             beats[beats[:, 1] == 1, 0]))
    else:
        print(f"note: {mdb} absent, real recordings skipped", file=sys.stderr)
    return out


def record_inputs(piece: Piece, show) -> tuple[list, float, float]:
    """Run the fixed-step engine over ``piece`` and return the show inputs of every frame, the
    analysis load (CPU s per s of audio) and the engine's show+guard ms per frame."""
    from engine.audio.filesource import FileSource
    from engine.auto.guard import install_flash_guard
    from engine.live.core import EngineCore

    src = FileSource(samples=np.ascontiguousarray(piece.samples, np.float32), sample_rate=piece.sample_rate,
                     block_size=256, realtime=False)
    core = EngineCore(src, show, start_outputs=False)
    frames: list = []
    tick = core.runtime.tick

    def recording_tick(inputs):
        frames.append(inputs)
        return tick(inputs)

    core.runtime.tick = recording_tick
    install_flash_guard(core, 3.0)
    with src:
        core.run_fixed()
    core.stop()
    st = core.stats
    return frames, st.analysis_load(piece.sample_rate), 1000.0 * st.show.seconds / max(1, st.show_frames)


BASELINE_SHOW = """
palettes: {}
signals:
  lvl: {smooth: 'if(level == level, level, 0)', attack: 50ms, release: 300ms}
looks:
  naive:
    - {group: all, intensity: 'clamp(1.5 * lvl)', colour: {hue: '60 * floor(t / 4)', saturation: 1, value: 1}}
layers:
  - {name: base, look: naive}
"""


def baseline_show(rig: Path):
    """The naive show: the rig's patch with one look (level -> intensity, hue steps on a 4 s timer)."""
    from engine.auto.generate import _find_rig_nodes
    from engine.show.loader import load_show
    from ruamel.yaml import YAML
    import io

    nodes = _find_rig_nodes(rig)
    doc = {"show": "naive baseline", "fixtures": nodes["fixtures"]}
    if nodes.get("outputs") is not None:
        doc["outputs"] = nodes["outputs"]
    if nodes.get("groups"):
        doc["groups"] = nodes["groups"]
    buf = io.StringIO()
    YAML().dump(doc, buf)
    return load_show(rig.with_name("baseline.yaml"), text=buf.getvalue() + BASELINE_SHOW)


@dataclass
class Run:
    t: np.ndarray
    field: np.ndarray
    changes: list[float]  # times of look and palette changes (presentation time)
    base_looks: list[str | None]
    looks_seen: set[str]
    show_downbeats: np.ndarray
    violations: int
    ms_per_frame: float
    held_share: float  # share of frames whose intensity the guard held back


def replay_run(show, frames, *, guard: bool, baseline: bool = False) -> Run:
    from engine.show.runtime import ShowRuntime

    rt = ShowRuntime(show)
    g = FlashGuard(3.0) if guard else None
    meter = FlashMeter(3.0)
    n = len(frames)
    t = np.zeros(n)
    fld = np.zeros(n)
    base: list[str | None] = []
    seen: set[str] = set()
    changes: list[float] = []
    dbs: list[float] = []
    prev_look: tuple | None = None
    prev_pal: tuple | None = None
    cost = 0.0
    lead = 0.0
    for k, f in enumerate(frames):
        t0 = time.perf_counter()
        a = rt.tick(f)
        if g is not None:
            g.apply(a, f.time)
        cost += time.perf_counter() - t0
        d = rt.domains[0]
        lead = float(d.lead) if np.ndim(d.lead) == 0 else float(np.max(d.lead))
        shown = f.time + lead  # when the light is seen
        t[k] = shown
        fld[k] = field_level(a)
        meter.observe(a, f.time)
        if d.values.get("downbeat") == 1.0:
            dbs.append(shown)
        looks = tuple(st.look for st in d.layers.values())
        base.append(looks[0])
        seen.update(x for x in looks if x)
        pal = tuple(st.index for st in d.palettes.values())
        if baseline:
            if k and np.floor(f.time / 4) != np.floor(frames[k - 1].time / 4):
                changes.append(shown)
        else:
            if (prev_look is not None and looks[0] != prev_look[0]) or (prev_pal is not None and pal != prev_pal):
                changes.append(shown)
        prev_look, prev_pal = looks, pal
    return Run(t, fld, changes, base, seen, np.array(dbs), meter.violations + meter.strobe_violations, 1000 * cost / max(1, n),
               (g.limited_frames / max(1, n)) if g is not None else 0.0)


def _share(times: list[float], refs: np.ndarray, tol: float) -> float:
    if not times or refs is None or not len(refs):
        return float("nan")
    r = np.asarray(refs)
    return float(np.mean([np.min(np.abs(r - x)) <= tol + 1e-9 for x in times]))


def _mean_in(run: Run, spans: list[tuple[float, float]]) -> float:
    m = np.zeros(len(run.t), bool)
    for a, b in spans:
        m |= (run.t >= a) & (run.t < b)
    return float(run.field[m].mean()) if m.any() else float("nan")


def _longest_hold(run: Run) -> float:
    best, start = 0.0, 0
    for k in range(1, len(run.base_looks) + 1):
        if k == len(run.base_looks) or run.base_looks[k] != run.base_looks[start]:
            best = max(best, run.t[k - 1] - run.t[start])
            start = k
    return best


def metrics(run: Run, piece: Piece, frame_s: float) -> dict[str, float]:
    dur = run.t[-1] - run.t[0]
    drop, brk = _mean_in(run, piece.drops), _mean_in(run, piece.breakdowns)
    return {
        "changes": len(run.changes),
        "on_show_db": _share(run.changes, run.show_downbeats, frame_s),
        "on_true_db_1f": _share(run.changes, piece.downbeats, frame_s),
        "on_true_db_70ms": _share(run.changes, piece.downbeats, TOL_S),
        "on_phrase": _share(run.changes, piece.phrases, TOL_S) if piece.phrases is not None else float("nan"),
        "contrast": drop / brk if brk == brk and brk > 0 else float("nan"),
        "looks": len(run.looks_seen),
        "changes_per_5min": len(run.changes) * 300.0 / max(dur, 1e-9),
        "longest_hold_s": _longest_hold(run),
        "violations": run.violations,
        "ms_per_frame": run.ms_per_frame,
        "held_share": run.held_share,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the demo clip only")
    ap.add_argument("--arrangements", type=int, default=2, help="generated arrangements (default 2)")
    ap.add_argument("--seconds", type=float, default=90.0, help="at most this much of each piece (default 90)")
    args = ap.parse_args()
    rigs = [r for r in RIGS if r.is_file()]
    autos = {r: load_auto_show(r) for r in rigs}
    bases = {r: baseline_show(r) for r in rigs}
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:  # every export must check clean
        from engine.show.loader import check_show

        for r in rigs:
            p = Path(tmp) / f"{r.stem}.yaml"
            p.write_text(generate_show_text(r), encoding="utf-8")
            res = check_show(p)
            print(f"export {r.relative_to(ROOT)}: {'ok' if res.ok else 'ERRORS'}, {len(res.warnings)} warnings")
    for piece in pieces(args):
        t0 = time.perf_counter()
        frames, load, engine_ms = record_inputs(piece, autos[rigs[0]])
        print(f"\n{piece.name}: {len(piece.samples) / piece.sample_rate:.1f} s, engine {time.perf_counter() - t0:.1f} s "
              f"(analysis {load:.2f}x real time, show+guard {engine_ms:.2f} ms/frame in the engine)")
        for r in rigs:
            fs = 1.0 / float(autos[r].settings.frame_rate)
            for label, show, guard, base in (("auto", autos[r], True, False), ("auto, no guard", autos[r], False, False),
                                             ("baseline", bases[r], False, True)):
                run = replay_run(show, frames, guard=guard, baseline=base)
                m = metrics(run, piece, fs)
                rows.setdefault((r.stem, label), []).append(m)
    keys = ["on_show_db", "on_true_db_1f", "on_true_db_70ms", "on_phrase", "contrast", "looks", "changes_per_5min",
            "longest_hold_s", "violations", "held_share", "ms_per_frame"]
    heads = ["rig", "show", "db(show)±1f", "db(true)±1f", "db(true)±70ms", "phrase±70ms", "drop/brk", "looks",
             "chg/5min", "hold max s", "flash viol.", "guard held", "ms/frame"]
    print("\nmeans over the pieces (nan = not measurable there; violations summed)\n")
    print(" | ".join(heads))
    print(" | ".join("---" for _ in heads))
    for (rig, label), ms in rows.items():
        cells = [rig, label]
        for k in keys:
            vals = np.array([m[k] for m in ms], float)
            if k == "violations":
                cells.append(f"{int(np.nansum(vals))}")
            elif np.all(np.isnan(vals)):
                cells.append("n/a")
            elif k in ("looks",):
                cells.append(f"{np.nanmax(vals):.0f}")
            elif k == "longest_hold_s":
                cells.append(f"{np.nanmax(vals):.1f}")
            else:
                cells.append(f"{np.nanmean(vals):.2f}")
        print(" | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
