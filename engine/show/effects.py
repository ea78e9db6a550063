"""Effects: what a look part's effect key does, one registered function per YAML name.

Each effect is registered with :func:`effect` under the key a show uses (``chase``,
``circle`` ...); its parameters are declared and validated in :data:`engine.show.model.EFFECTS`
(the same names). An effect function receives the runtime, the timing domain, the compiled
part, the attribute frame being built, the group's expression environment, the presentation
time, beats per bar, and ``base`` (the part's own intensity, or None) and writes the
attributes of the part's group, vectorized over its fixtures or cells.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from engine.fixtures.attributes import AttributeFrame
from engine.show import inputs as I
from engine.show.expr import NAN, Env, _truthy, hash01
from engine.show.model import Duration, ExprRef

if TYPE_CHECKING:  # pragma: no cover - typing only (the runtime imports this module)
    from engine.show.runtime import ShowRuntime, _Domain, _Part

EffectFn = Callable[..., None]

#: YAML name -> implementation.
EFFECTS: dict[str, EffectFn] = {}


def effect(name: str) -> Callable[[EffectFn], EffectFn]:
    """Register an effect implementation under the key a show uses."""

    def deco(fn: EffectFn) -> EffectFn:
        EFFECTS[name] = fn
        return fn

    return deco


def truth(v: Any) -> bool:
    """Whether a condition's value is true (any fixture, for per-fixture values); NaN is false."""
    return bool(np.any(_truthy(v))) if isinstance(v, np.ndarray) else bool(_truthy(v))


def bare_event(ref: ExprRef | None, event_names: set[str]) -> str | None:
    """The event name when an expression is just one event (``onset.kick``), else None."""
    if ref is None or ref.tree is None or ref.tree.kind != "name":
        return None
    return ref.tree.value if (I.is_event_name(ref.tree.value) or ref.tree.value in event_names) else None


def reads_event(ref: ExprRef | None, event_names: set[str]) -> bool:
    """Whether an expression reads any event (it then fires whenever true, not on a rising edge)."""
    c = None if ref is None else ref.compiled
    if c is None:
        return False
    return any(I.is_event_name(n) or n in event_names for n in c.names)




def _beats_x(d: _Domain, dur: Duration, bpb: int, t: float) -> float:
    b = dur.beats(bpb)
    if b is None:
        return t / max(dur.value / 1000.0, 1e-6)
    return d.values["beats"] / max(b, 1e-9)


def _value(ref: ExprRef | None, env: Env, default: float) -> Any:
    if ref is None or ref.compiled is None:
        return default
    return ref.compiled(env)


def _apply_intensity(frame: AttributeFrame, idx: Any, base: Any, m: Any) -> None:
    frame.intensity[idx] = m if base is None else base * m


@effect("chase")
def _fx_chase(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    n = max(1.0, float(env.n))
    pos = np.asarray(env.i) / n
    x = _beats_x(d, p["period"], bpb, t)
    w = np.maximum(_value(p["width"], env, 0.25), 1e-6)
    if p["direction"] == "bounce":
        head = 1.0 - abs(2.0 * (x % 1.0) - 1.0)
        span = (n - 1) / n
        m = np.clip(1.0 - np.abs(head * span - pos) / w, 0.0, 1.0)
    else:
        if p["direction"] == "backward":
            pos = (n - 1) / n - pos
        m = np.clip(1.0 - np.mod(x - pos, 1.0) / w, 0.0, 1.0)
    _apply_intensity(frame, part.group.idx, base, m)


@effect("pulse")
def _fx_pulse(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    key = part.key
    trig = p["trigger"]
    if trig is None or trig.compiled is None:
        fired = d.values.get("beat", 0.0) == 1.0
        when = d.last_time.get("beat", t)
    else:
        fired = truth(trig.compiled(d.scalar))
        name = bare_event(trig, rt.show.event_names)
        when = d.last_time.get(name, t) if name else t
        prev_key = (key[0], -1 - key[1])
        if not reads_event(trig, rt.show.event_names):
            was = d.parts.get(prev_key, 0.0)
            d.parts[prev_key] = 1.0 if fired else 0.0
            fired = fired and not was
    if fired:
        d.parts[key] = when
    t0 = d.parts.get(key, -math.inf)
    bpm = d.values["bpm"]
    a = p["attack"].seconds(bpm, bpb)
    dc = p["decay"].seconds(bpm, bpb)
    e = t - t0
    if e < 0:
        v = 0.0
    elif e < a:
        v = e / a
    elif e < a + dc:
        v = 1.0 - (e - a) / dc
    else:
        v = 0.0
    fl = p["floor"]
    _apply_intensity(frame, part.group.idx, base, fl + (1.0 - fl) * v)


@effect("strobe")
def _fx_strobe(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    idx = part.group.idx
    if p["sync"] is not None:
        x = _beats_x(d, p["sync"], bpb, t)
        on = 1.0 if (x % 1.0) < p["duty"] else 0.0
        _apply_intensity(frame, idx, base, on)
    else:
        frame.strobe[idx] = _value(p["rate"], env, 10.0)
        if base is None:
            frame.intensity[idx] = 1.0


@effect("colour_cycle")
def _fx_colour_cycle(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    pal = rt.program.palettes[p["palette"]]
    k = len(pal)
    x = _beats_x(d, p["period"], bpb, t)
    n = max(1.0, float(env.n))
    spread = _value(p["spread"], env, 0.0)
    pos = x + np.asarray(env.i) / n * spread * k
    i0 = np.floor(pos).astype(np.int64)
    c0 = pal[i0 % k]
    if p["fade"]:
        f = (pos - i0)[..., None] if np.ndim(pos) else pos - i0
        c1 = pal[(i0 + 1) % k]
        c0 = c0 + (c1 - c0) * f
    frame.color[part.group.idx] = c0


def _move(kind: str) -> Callable[..., None]:
    def fx(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
        p = part.part.effect.params  # type: ignore[union-attr]
        n = max(1.0, float(env.n))
        spread = _value(p["spread"], env, 0.0)
        x = _beats_x(d, p["period"], bpb, t) - np.asarray(env.i) / n * spread
        size = _value(p["size"], env, 30.0)
        cp = _value(p["pan"], env, 0.0)
        ct = _value(p["tilt"], env, 0.0)
        w = 2.0 * math.pi * x
        idx = part.group.idx
        if kind == "circle":
            pan, tilt = cp + size * np.sin(w), ct + size * np.cos(w)
        elif kind == "figure8":
            pan, tilt = cp + size * np.sin(w), ct + 0.5 * size * np.sin(2.0 * w)
        elif kind == "sweep":
            pan, tilt = cp + size * np.sin(w), (ct if p["tilt"] is not None else None)
        else:  # fan: beams spread across the group, opening and closing once per period
            spread_pos = (2.0 * np.asarray(env.pos) - 1.0) if env.n > 1 else np.zeros(int(env.n))
            pan, tilt = cp + size * spread_pos * (0.5 - 0.5 * np.cos(w)), (ct if p["tilt"] is not None else None)
        frame.pan[idx] = pan
        if tilt is not None:
            frame.tilt[idx] = tilt

    return fx


def _cell_base(frame: AttributeFrame, part: _Part, base: Any) -> Any:
    if base is None:
        return 1.0
    b = np.broadcast_to(np.asarray(base, dtype=np.float64), (len(part.group.indices),))
    return b[part.group.cell_owner]


def _cells_colour(frame: AttributeFrame, part: _Part) -> None:
    g = part.group
    if part.part.colour is not None and len(g.cells):
        frame.cell_color[g.cells] = frame.color[g.indices][g.cell_owner]


@effect("wave")
def _fx_wave(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    g = part.group
    x = _beats_x(d, p["period"], bpb, t)
    v = 0.5 - 0.5 * np.cos(2.0 * math.pi * (x - p["wavelength"] * g.cell_pos))
    frame.cell_intensity[g.cells] = v * _cell_base(frame, part, base)
    _cells_colour(frame, part)


@effect("sparkle")
def _fx_sparkle(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    g = part.group
    step = math.floor(_beats_x(d, p["period"], bpb, t))
    density = float(np.mean(_value(p["density"], d.scalar, 0.1)))
    r = hash01(np.full(len(g.cells), float(step)), g.cell_global, rt.show.settings.seed + p["seed"])
    frame.cell_intensity[g.cells] = (np.asarray(r) < density) * _cell_base(frame, part, base)
    _cells_colour(frame, part)


@effect("vu")
def _fx_vu(rt: ShowRuntime, d: _Domain, part: _Part, frame: AttributeFrame, env: Env, t: float, bpb: int, base: Any) -> None:
    p = part.part.effect.params  # type: ignore[union-attr]
    g = part.group
    level = float(np.mean(_value(p["input"], d.scalar, d.values.get("level", NAN))))
    if level != level:
        return  # absent input: the meter stays unset
    pos = np.abs(2.0 * g.cell_local - 1.0) if p["mirror"] else g.cell_local
    lit = (pos < level - 1e-9) | ((level >= 1.0) & (pos <= 1.0))
    frame.cell_intensity[g.cells] = lit * _cell_base(frame, part, base)
    _cells_colour(frame, part)


for _kind in ("circle", "figure8", "sweep", "fan"):
    EFFECTS[_kind] = _move(_kind)
