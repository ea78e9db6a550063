"""Running a show: one evaluation per show frame, vectorized over fixtures.

:class:`ShowRuntime` turns a linked :class:`~engine.show.loader.Show` into attribute values
and DMX. Each call of :meth:`ShowRuntime.tick` is one show frame (fixed step: the caller
decides the frame times, so replays are deterministic). The stage order of a frame:

1. **swap**: a show handed to :meth:`ShowRuntime.swap` (hot reload) replaces the running one
   here, at the frame boundary; tempo, beat count, counters, palette positions, the looks on
   the layers and operator states carry over by name.
2. **clock and events**, per *timing domain*: fixtures whose outputs share a latency form one
   domain, evaluated at its *presentation time* ``frame time + lead`` (lead = the output's
   ``latency_ms`` + ``settings.latency_ms``). A beat predicted by the beat clock fires in the
   domain's frame nearest to ``beat time - lead``, so light lands on the beat. Other events
   (onsets, notes, sections, buttons) fire when their time is reached.
3. **signals** in dependency order (operators keep their state per domain).
4. **rules** in file order; a rule that raises is marked faulty, reported in
   :attr:`ShowRuntime.faults`, and skipped; the frame still goes out.
5. **layers**, bottom first: each evaluates its look (cross-fading during a transition) into
   a scratch :class:`~engine.fixtures.attributes.AttributeFrame` and blends onto the frame.
6. **render**: master and blackout, then the fixture renderer writes the DMX frame.

NaN means "not set" throughout (as in the attribute frame): an absent feature reads NaN, so
whatever it drives stays unset and a rule on it stays idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from engine.fixtures.attributes import SCALAR_ATTRIBUTES, AttributeFrame, hsv_to_linear
from engine.output.frame import DmxFrame
from engine.show import inputs as I
from engine.show.effects import EFFECTS, bare_event, reads_event, truth
from engine.show.expr import NAN, CompiledExpr, Env, hash01
from engine.show.loader import Show
from engine.show.model import Action, Colour, Duration, Part

_DISCRETE = ("gobo", "wheel")
#: Events stamped further ahead than this are dropped (predictions reach a beat or two ahead).
MAX_EVENT_LEAD_S = 10.0


# ---------------------------------------------------------------------------------------------
# Compiled program (immutable per show)


@dataclass
class _Group:
    """Index data for one group: fixture indices (a slice when contiguous), cells."""

    name: str
    idx: Any  # slice or int array
    indices: np.ndarray
    cells: np.ndarray
    cell_pos: np.ndarray  # 0..1 across all cells of the group
    cell_local: np.ndarray  # 0..1 inside each fixture
    cell_owner: np.ndarray  # index into the group's fixtures for each cell
    cell_global: np.ndarray


_ALL_ATTRS = (*SCALAR_ATTRIBUTES, "color", "cell_intensity", "cell_color")


def _look_writes(parts: list["_Part"]) -> tuple[str, ...]:
    """The attribute arrays a look can write (only these are cleared and blended)."""
    w: set[str] = set()
    for part in parts:
        p = part.part
        w.update(p.attributes)
        if p.colour is not None:
            w.add("color")
        if p.cells is not None:
            if p.cells.intensity is not None:
                w.add("cell_intensity")
            if p.cells.colour is not None:
                w.add("cell_color")
        e = p.effect
        if e is None:
            continue
        if e.kind in ("chase", "pulse"):
            w.add("intensity")
        elif e.kind == "strobe":
            w.update(("strobe", "intensity"))
        elif e.kind == "colour_cycle":
            w.add("color")
        elif e.kind in ("circle", "figure8", "sweep", "fan"):
            w.update(("pan", "tilt"))
        else:  # pixel effects
            w.add("cell_intensity")
            if p.colour is not None:
                w.add("cell_color")
    return tuple(a for a in _ALL_ATTRS if a in w)


def _clear(frame: AttributeFrame, attrs: tuple[str, ...]) -> None:
    for name in attrs:
        getattr(frame, name).fill(np.nan)


def _as_index(ix: np.ndarray) -> Any:
    if len(ix) and np.all(np.diff(ix) == 1):
        return slice(int(ix[0]), int(ix[-1]) + 1)
    return ix


@dataclass
class _Part:
    part: Part
    group: _Group
    attrs: list[tuple[str, CompiledExpr]]
    key: tuple[str, int]


@dataclass
class _Rule:
    key: str
    when: CompiledExpr
    every: int
    actions: list[Action]
    is_event: bool
    trigger_name: str | None


@dataclass
class _Signal:
    name: str
    kind: str
    params: dict[str, Any]
    is_event_trigger: bool
    trigger_name: str | None


class Program:
    """Everything derived from one :class:`Show` that does not change while it runs."""

    def __init__(self, show: Show) -> None:
        self.show = show
        m = show.model
        self.settings = m.settings
        patch = show.patch
        self.n = patch.n_fixtures
        self.groups: dict[str, _Group] = {}
        self.palettes = {name: np.array([c.rgb for c in cols], dtype=np.float64) for name, cols in m.palettes.items()}
        events = show.event_names
        self.signals = []
        for name in show.signal_order:
            sig = m.signals[name]
            trig = sig.params.get(sig.kind) if sig.kind in ("envelope", "quantize", "counter") else None
            self.signals.append(_Signal(name, sig.kind, sig.params, reads_event(trig, events), bare_event(trig, events)))
        self.rules = []
        for i, r in enumerate(m.rules):
            if not r.enabled or r.when.compiled is None:
                continue
            self.rules.append(_Rule(r.name or f"rules[{i}]", r.when.compiled, r.every, r.do,
                                    reads_event(r.when, events), bare_event(r.when, events)))
        self.looks: dict[str, list[_Part]] = {}
        for lname, look in m.looks.items():
            parts = []
            for j, p in enumerate(look.parts):
                g = self.group(p.group)
                attrs = [(k, v.compiled) for k, v in p.attributes.items() if v.compiled is not None]
                parts.append(_Part(p, g, attrs, (lname, j)))
            self.looks[lname] = parts
        self.writes: dict[str, tuple[str, ...]] = {name: _look_writes(parts) for name, parts in self.looks.items()}
        order = sorted(range(len(m.layers)), key=lambda i: (m.layers[i].priority if m.layers[i].priority is not None else i, i))
        self.layers = [m.layers[i] for i in order]
        self.first_layer = m.layers[0].name if m.layers else None
        self.cues = list(m.cues)
        self.event_names_used = sorted({n for n in I.EVENT_FEATURES} | {n for n in events})

    def group(self, name: str) -> _Group:
        g = self.groups.get(name)
        if g is not None:
            return g
        patch = self.show.patch
        ix = np.arange(self.n, dtype=np.int64) if name == "all" else np.asarray(patch.group(name), dtype=np.int64)
        offs = patch.cell_offsets
        cells, owner, local = [], [], []
        for k, f in enumerate(ix):
            a, b = int(offs[f]), int(offs[f + 1])
            if b > a:
                cells.append(np.arange(a, b))
                owner.append(np.full(b - a, k))
                local.append(np.arange(b - a) / max(1, b - a - 1) if b - a > 1 else np.zeros(1))
        cells_a = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
        m = len(cells_a)
        g = _Group(
            name, _as_index(ix), ix, cells_a,
            np.arange(m) / max(1, m - 1) if m > 1 else np.zeros(m),
            np.concatenate(local) if local else np.zeros(0),
            np.concatenate(owner).astype(np.int64) if owner else np.zeros(0, dtype=np.int64),
            cells_a.astype(np.float64),
        )
        self.groups[name] = g
        return g


# ---------------------------------------------------------------------------------------------
# Running state (per timing domain; carried across reloads by name)


@dataclass
class _LayerState:
    look: str | None
    prev_look: str | None = None
    t0: float = -math.inf
    dur: float = 0.0
    revert_at: float | None = None
    revert_look: str | None = None
    revert_dur: float = 0.0
    fade_from: float = 1.0
    fade_to: float = 1.0
    fade_t0: float = -math.inf
    fade_dur: float = 0.0

    def opacity(self, t: float) -> float:
        if self.fade_dur <= 0 or t >= self.fade_t0 + self.fade_dur:
            return self.fade_to
        p = max(0.0, (t - self.fade_t0) / self.fade_dur)
        return self.fade_from + (self.fade_to - self.fade_from) * p

    def set_look(self, look: str, t: float, dur: float) -> None:
        if look == self.look and t >= self.t0 + self.dur:
            return
        self.prev_look, self.look, self.t0, self.dur = self.look, look, t, dur


@dataclass
class _RuleState:
    prev: bool = False
    count: int = 0


@dataclass
class _PaletteState:
    index: int = 0


@dataclass
class _SignalState:
    kind: str
    value: float = NAN
    aux: float = 0.0
    t_trigger: float = -math.inf
    armed: bool = False
    prev: bool = False
    count: int = 0
    grid: float = NAN


class _Domain:
    """The running state of one timing domain (fixtures sharing one latency lead)."""

    def __init__(self, lead: float, mask: np.ndarray) -> None:
        self.lead = lead
        self.mask = mask
        self.values: dict[str, float] = {}
        self.envs: dict[str, Env] = {}
        self.cell_envs: dict[str, Env] = {}
        self.scalar = Env()
        self.scalar.values = self.values
        self.pending: list[tuple[float, tuple[str, ...], dict[str, Any]]] = []
        self.fired: list[str] = []
        self.last_time: dict[str, float] = {}
        self.beat_count = 0
        self.bar_count = 0
        self.beat_time: float | None = None
        self.beat_in_bar = 1
        self.beat_period = 0.5
        self.t_prev: float | None = None
        self.signals: dict[str, _SignalState] = {}
        self.rules: dict[str, _RuleState] = {}
        self.palettes: dict[str, _PaletteState] = {}
        self.layers: dict[str, _LayerState] = {}
        self.parts: dict[tuple[str, int], float] = {}
        self.cue_index = -1
        self.blackout = False
        self.master = (1.0, 1.0, -math.inf, 0.0)  # from, to, t0, dur

    def master_at(self, t: float) -> float:
        a, b, t0, dur = self.master
        if dur <= 0 or t >= t0 + dur:
            return b
        return a + (b - a) * max(0.0, (t - t0) / dur)


@dataclass
class Fault:
    """A rule, signal or look part that raised: what, the error, when first and how often."""

    where: str
    message: str
    first_frame: int
    count: int = 1


# ---------------------------------------------------------------------------------------------


class _Prepared:
    """Everything built from a show before it runs: program, renderer, preallocated frames,
    timing domains. Built in the caller's thread (see :meth:`ShowRuntime.swap`)."""

    def __init__(self, show: Show, renderer: Any) -> None:
        from engine.fixtures.render import Renderer

        self.show = show
        self.program = Program(show)
        patch = show.patch
        self.renderer = renderer if renderer is not None else Renderer(patch)
        self.attrs = AttributeFrame.for_patch(patch)
        self.scratch = [self.attrs.like() for _ in range(3)]
        self.blender = _Blender(self.attrs)
        self.dmx = self.renderer.new_frame()
        leads = np.round(np.asarray(show.fixture_leads, dtype=np.float64), 4)
        distinct = sorted(set(leads.tolist())) or [round(show.settings.latency_ms / 1000.0, 4)]
        self.domains = [(lead, leads == lead) for lead in distinct]
        self.domain_frames = [self.attrs.like() for _ in distinct] if len(distinct) > 1 else [self.attrs]


class ShowRuntime:
    """Evaluates a show once per :meth:`tick` and renders DMX with :meth:`render`.

    ``renderer`` defaults to :class:`engine.fixtures.render.Renderer` for the show's patch.
    :meth:`swap` installs another show at the next frame boundary (hot reload).
    """

    def __init__(self, show: Show, *, renderer: Any = None) -> None:
        self._pending: _Prepared | None = None
        self.faults: dict[str, Fault] = {}
        self.frames = 0
        self._install(_Prepared(show, renderer), carry=None)

    # --- installing and swapping -----------------------------------------------------------
    def _install(self, prep: "_Prepared", carry: list[_Domain] | None) -> None:
        show = prep.show
        self.show = show
        self.program = prep.program
        self.renderer = prep.renderer
        self.attrs = prep.attrs
        self._scratch = prep.scratch
        self._blender = prep.blender
        self.dmx = prep.dmx
        domains = []
        for lead, mask in prep.domains:
            old = None
            if carry:
                old = next((d for d in carry if abs(d.lead - lead) < 1e-6), carry[0])
            d = _Domain(lead, mask)
            if old is not None:
                self._carry(old, d)
            domains.append(d)
        self.domains = domains
        self._domain_frames = prep.domain_frames
        self.faults = {}
        for d in self.domains:
            self._init_domain(d)

    def _carry(self, old: _Domain, new: _Domain) -> None:
        # The beat clock, counters and positions survive a reload (the music did not stop).
        for name in ("beat_count", "bar_count", "beat_time", "beat_in_bar", "beat_period", "t_prev",
                     "cue_index", "blackout", "master", "last_time", "pending"):
            setattr(new, name, getattr(old, name))
        new.rules = old.rules
        new.palettes = old.palettes
        new.layers = old.layers
        new.parts = old.parts
        new.signals = old.signals

    def _init_domain(self, d: _Domain) -> None:
        p = self.program
        m = self.show.model
        # Keep state only where the name still means the same kind of thing.
        d.signals = {s.name: d.signals[s.name] if s.name in d.signals and d.signals[s.name].kind == s.kind
                     else _SignalState(s.kind) for s in p.signals}
        d.rules = {r.key: d.rules.get(r.key, _RuleState()) for r in p.rules}
        d.palettes = {name: d.palettes.get(name, _PaletteState()) for name in m.palettes}
        layers = {}
        for layer in p.layers:
            st = d.layers.get(layer.name)
            if st is None or (st.look is not None and st.look not in m.looks):
                st = _LayerState(layer.look)
            if st.prev_look is not None and st.prev_look not in m.looks:
                st.prev_look, st.dur = None, 0.0
            if st.revert_look is not None and st.revert_look not in m.looks:
                st.revert_at = st.revert_look = None
            layers[layer.name] = st
        d.layers = layers
        d.envs = {}
        d.cell_envs = {}
        for g in p.groups.values():
            self._init_domain_group(d, g)
        d.scalar.seed = self.show.settings.seed

    @staticmethod
    def prepare(show: Show) -> "_Prepared":
        """Build everything a show needs to run (program, renderer, frames), in the caller's
        thread; pass the result to :meth:`swap`."""
        return _Prepared(show, None)

    def swap(self, show: "Show | _Prepared") -> None:
        """Install ``show`` (a :class:`Show` or the result of :meth:`prepare`) at the start of
        the next frame.

        Call it from any thread, ideally the hot-reload watcher's: the expensive part
        (:meth:`prepare`) runs in the caller's thread; the frame loop then only carries the
        running state over, at a frame boundary. The hand-over is a single reference
        assignment, so the frame loop never waits.
        """
        self._pending = show if isinstance(show, _Prepared) else _Prepared(show, None)

    # --- one frame ----------------------------------------------------------------------------
    def tick(self, inputs: I.ShowInputs) -> AttributeFrame:
        """Evaluate one show frame; returns the merged attribute frame (owned by the runtime)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._install(pending, carry=self.domains)
        self.frames += 1
        # Expression values beyond float32 (``1e308 * level``) become +-inf in the float32
        # attribute frames, as ``1/0`` already does, and the renderer clamps them to the
        # channel's range; without this numpy warns on every such frame (and a warnings
        # filter set to "error" turned the look into a fault). One errstate per frame.
        with np.errstate(over="ignore"):
            for d, frame in zip(self.domains, self._domain_frames):
                try:
                    self._tick_domain(d, frame, inputs)
                except Exception as exc:  # a bug or malformed input: keep the last frame going out
                    self._fault("frame", exc)
        if len(self.domains) > 1:
            self._combine()
        return self.attrs

    def render(self, inputs: I.ShowInputs) -> DmxFrame:
        """:meth:`tick` then the renderer: the DMX frame for these inputs (owned by the runtime)."""
        attrs = self.tick(inputs)
        d = self.domains[0]
        t = inputs.time + d.lead
        self.renderer.render(attrs, self.dmx, self.master(), d.blackout, time=t)
        return self.dmx

    def status(self) -> dict[str, Any]:
        """A snapshot for the UI and telemetry (plain data; call between frames): the look and
        opacity of each layer, palette positions, signal values, the beat, and the faults."""
        d = self.domains[0]
        t = d.t_prev if d.t_prev is not None else 0.0
        return {
            "show": self.show.model.name,
            "frames": self.frames,
            "layers": {name: {"look": st.look, "opacity": round(st.opacity(t), 4),
                              "transition": bool(st.dur > 0 and t < st.t0 + st.dur)}
                       for name, st in d.layers.items()},
            "palettes": {name: st.index % len(self.program.palettes[name]) for name, st in d.palettes.items()},
            "signals": {s.name: float(d.values.get(s.name, NAN)) for s in self.program.signals},
            "beat": {"count": d.beat_count, "in_bar": d.beat_in_bar, "bpm": d.values.get("bpm", 0.0)},
            "cue": self.program.cues[d.cue_index] if 0 <= d.cue_index < len(self.program.cues) else None,
            "blackout": d.blackout,
            "faults": [{"where": f.where, "message": f.message, "first_frame": f.first_frame, "count": f.count}
                       for f in self.faults.values()],
        }

    def master(self) -> float:
        d = self.domains[0]
        t = d.t_prev if d.t_prev is not None else 0.0
        return float(self.show.settings.master * d.master_at(t))

    def _combine(self) -> None:
        out = self.attrs
        for d, frame in zip(self.domains, self._domain_frames):
            mask = d.mask
            for name in SCALAR_ATTRIBUTES:
                np.copyto(getattr(out, name), getattr(frame, name), where=mask)
            np.copyto(out.color, frame.color, where=mask[:, None])
            if out.n_cells:
                cm = mask[self.show.patch.cell_fixture]
                np.copyto(out.cell_intensity, frame.cell_intensity, where=cm)
                np.copyto(out.cell_color, frame.cell_color, where=cm[:, None])

    def _fault(self, where: str, exc: BaseException) -> None:
        f = self.faults.get(where)
        if f is None:
            self.faults[where] = Fault(where, f"{type(exc).__name__}: {exc}", self.frames)
        else:
            f.count += 1

    # --- stage 2: clock and events -----------------------------------------------------------
    def _tick_domain(self, d: _Domain, frame: AttributeFrame, inputs: I.ShowInputs) -> None:
        s = self.show.settings
        dt_frame = 1.0 / s.frame_rate
        t = inputs.time + d.lead
        dt = min(1.0, max(0.0, t - d.t_prev)) if d.t_prev is not None else dt_frame
        d.t_prev = t
        values = d.values
        for name in d.fired:
            values[name] = 0.0
        d.fired.clear()
        values.update(inputs.values)
        clock = inputs.clock
        bpb = clock.beats_per_bar if clock.running else s.beats_per_bar
        for ev in inputs.events:
            if ev.name in ("beat", "downbeat") and clock.running:
                continue  # the clock's prediction drives beats; the tracker's event is late
            when = ev.time / inputs.sample_rate
            if when > t + MAX_EVENT_LEAD_S:
                continue  # a time stamp far in the future is a bug upstream; do not hoard it
            d.pending.append((when, I.event_names(ev), ev.data or {}))
        horizon = t + dt_frame / 2.0  # fire in the frame nearest to the event's time
        if clock.running:
            tn = clock.next_beat / inputs.sample_rate  # type: ignore[operator]
            period = 60.0 / clock.bpm
            d.beat_period = period
            # The beat the clock has just passed, when it fell between this frame and the one
            # before (its "next beat" is already the following one)...
            tp = inputs.time - clock.phase * period
            if 0.0 <= t - tp < dt_frame / 2.0 + 1e-9 and (d.beat_time is None or tp - d.beat_time > 0.5 * period):
                self._fire_beat(d, tp, clock.beat_in_bar, bpb)
            # ... and the predicted next beat, once this frame is the one nearest to it.
            if horizon >= tn and (d.beat_time is None or tn - d.beat_time > 0.5 * period):
                self._fire_beat(d, tn, clock.next_beat_in_bar, bpb)
        if d.pending:
            keep = []
            for item in d.pending:
                when, names, data = item
                if when <= horizon:
                    if names and names[0] == "beat":
                        if d.beat_time is None or when - d.beat_time > 0.25 * d.beat_period:
                            if d.beat_time is not None and when > d.beat_time:
                                d.beat_period = min(2.0, when - d.beat_time)
                            pos = data.get("position", 0)
                            pos = int(pos) if isinstance(pos, (int, float)) and pos == pos else 0
                            self._fire_beat(d, when, pos if pos > 0 else (d.beat_in_bar % bpb) + 1, bpb)
                        continue
                    # Envelopes count from the event's own time, but from no earlier than one
                    # frame before it arrives: notes and chords are known ~0.2 s after they
                    # sound, and a short pulse timed from the sound would be over unseen.
                    start = max(when, t - dt_frame)
                    for n in names:
                        values[n] = 1.0
                        d.fired.append(n)
                        d.last_time[n] = start
                    try:
                        self._event_values(values, names[0] if names else "", data)
                    except (TypeError, ValueError, KeyError) as exc:  # malformed data: report, go on
                        self._fault(f"inputs.{names[0] if names else '?'}", exc)
                else:
                    keep.append(item)
            d.pending = keep
        self._clock_values(d, frame, inputs, t, dt, bpb)

    @staticmethod
    def _event_values(values: dict[str, float], first: str, data: dict[str, Any]) -> None:
        """Values that events carry (the last note's pitch, the chord root ...)."""
        if first == "note_on":
            if "pitch" in data:
                values["note.pitch"] = float(data["pitch"])
                values["pitch_class"] = float(int(data["pitch"]) % 12)
            if "velocity" in data:
                v = float(data["velocity"])
                values["note.velocity"] = v / 127.0 if v > 1.0 else v
            # every note_on has exactly one note_off (engine/analysis/notes.py): count the sounding
            values["notes.count"] = values.get("notes.count", 0.0) + 1.0
        elif first == "note_off":
            values["notes.count"] = max(0.0, values.get("notes.count", 0.0) - 1.0)
        elif first.startswith("pitch_class.") and "pitch_class" in data:
            values["pitch_class"] = float(data["pitch_class"])
        elif first == "chord":
            root = data.get("root")
            values["chord.root"] = float(root) if root is not None else NAN
        elif first == "key" and data.get("tonic") is not None:
            values["key.tonic"] = float(data["tonic"])

    def _clock_values(self, d: _Domain, frame: AttributeFrame, inputs: I.ShowInputs, t: float, dt: float,
                      bpb: int) -> None:
        """Clock values at presentation time, then signals, rules and layers of the domain."""
        clock = inputs.clock
        values = d.values
        bps = (clock.bpm / 60.0) if clock.bpm > 0 else (1.0 / d.beat_period if d.beat_time is not None else 0.0)
        if d.beat_time is not None:
            phase = min(0.999999, max(0.0, (t - d.beat_time) * bps))
            beats = d.beat_count - 1 + phase
        else:
            phase, beats = 0.0, 0.0
        values["beat.phase"] = phase
        values["beat.in_bar"] = float(d.beat_in_bar)
        values["bar.phase"] = ((d.beat_in_bar - 1) % bpb + phase) / bpb
        values["beat.confidence"] = float(clock.confidence)
        values["bpm"] = float(clock.bpm) if clock.bpm > 0 else (60.0 / d.beat_period if d.beat_time is not None else 0.0)
        if "tempo" not in inputs.values:
            values["tempo"] = values["bpm"]
        values["beats"] = beats
        values["t"] = t
        for n in self.program.event_names_used:
            values.setdefault(n, 0.0)
        d.scalar.beats = beats
        d.scalar.t = t
        for env in d.envs.values():
            env.beats = beats
            env.t = t
        for env in d.cell_envs.values():
            env.beats = beats
            env.t = t
        self._signals(d, t, dt, bpb)
        self._rules(d, t, bpb)
        self._layers(d, frame, t, bpb)

    def _fire_beat(self, d: _Domain, when: float, position: int, bpb: int) -> None:
        d.beat_count += 1
        d.beat_time = when
        d.beat_in_bar = position if position >= 1 else 1
        names = ("beat", "downbeat") if d.beat_in_bar == 1 else ("beat",)
        if d.beat_in_bar == 1:
            d.bar_count += 1
        for n in names:
            d.values[n] = 1.0
            d.fired.append(n)
            d.last_time[n] = when

    # --- stage 3: signals --------------------------------------------------------------------
    def _trigger(self, d: _Domain, st: _SignalState, cond: bool, is_event: bool) -> bool:
        fire = cond and (is_event or not st.prev)
        st.prev = cond
        return fire

    def _signals(self, d: _Domain, t: float, dt: float, bpb: int) -> None:
        values = d.values
        bpm = values["bpm"]
        env = d.scalar
        for sig in self.program.signals:
            st = d.signals[sig.name]
            try:
                values[sig.name] = self._signal_value(d, sig, st, env, t, dt, bpm, bpb)
            except Exception as exc:  # failure isolation: report, keep the frame going
                self._fault(f"signals.{sig.name}", exc)
                values[sig.name] = NAN

    def _signal_value(self, d: _Domain, sig: _Signal, st: _SignalState, env: Env, t: float, dt: float,
                      bpm: float, bpb: int) -> float:
        p = sig.params
        k = sig.kind
        if k == "expr":
            return float(np.mean(p["expr"].compiled(env)))
        if k == "smooth":
            x = float(p["smooth"].compiled(env))
            if x != x:
                return st.value
            if st.value != st.value:
                st.value = x
                return x
            dur: Duration = p["attack"] if x > st.value else p["release"]
            tau = dur.seconds(bpm, bpb)
            a = 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)
            st.value += (x - st.value) * a
            return st.value
        if k == "envelope":
            cond = truth(p["envelope"].compiled(env))
            if self._trigger(d, st, cond, sig.is_event_trigger):
                st.t_trigger = d.last_time.get(sig.trigger_name, t) if sig.trigger_name else t
            e = t - st.t_trigger
            a = p["attack"].seconds(bpm, bpb)
            h = p["hold"].seconds(bpm, bpb)
            dc = p["decay"].seconds(bpm, bpb)
            if e < 0:
                return 0.0
            if e < a:
                return e / a
            if e < a + h:
                return 1.0
            if e < a + h + dc:
                x = (e - a - h) / dc
                return math.exp(-5.0 * x) * (1.0 - x) if p["curve"] == "exp" else 1.0 - x
            return 0.0
        if k == "threshold":
            x = float(p["threshold"].compiled(env))
            on = p["on"]
            off = p["off"] if p["off"] is not None else on
            if x != x:
                st.value = 0.0
            elif x > on:
                st.value = 1.0
            elif x < off:
                st.value = 0.0
            elif st.value != st.value:
                st.value = 0.0
            return st.value
        if k == "map":
            x = float(p["map"].compiled(env))
            (a, b), (c, e2) = p["from"][:2], p["to"][:2]
            u = (x - a) / (b - a)
            if p["clamp"]:
                u = min(1.0, max(0.0, u)) if u == u else u
            u = _CURVES[p["curve"]](u)
            return c + (e2 - c) * u
        if k == "quantize":
            cond = truth(p["quantize"].compiled(env))
            if self._trigger(d, st, cond, sig.is_event_trigger):
                st.armed = True
            q: Duration = p["to"]
            if q.unit == "bars":
                g = math.floor(d.bar_count / max(q.value, 1e-9))
            elif q.unit == "beats":
                g = math.floor((d.values["beats"] + 1e-9) / max(q.value, 1e-9))
            else:
                g = math.floor(t / max(q.value / 1000.0, 1e-6))
            crossed = st.grid == st.grid and g != st.grid
            st.grid = g
            if st.armed and crossed:
                st.armed = False
                return 1.0
            return 0.0
        if k == "counter":
            cond = truth(p["counter"].compiled(env))
            if self._trigger(d, st, cond, sig.is_event_trigger):
                st.count += 1
                if (st.count - 1) % p["every"] == p["offset"] % p["every"]:
                    return 1.0
            return 0.0
        if k == "lfo":
            per: Duration = p["period"]
            beats_per = per.beats(bpb)
            x = (d.values["beats"] / beats_per if beats_per else t / max(per.value / 1000.0, 1e-6)) + p["phase"]
            shape = p["lfo"]
            if shape == "random":
                u = float(hash01(math.floor(x), 0, self.show.settings.seed))
            else:
                from engine.show.expr import SHAPES

                u = float(SHAPES[shape](x))
            return p["min"] + (p["max"] - p["min"]) * u
        if k == "random":
            per = p["random"]
            beats_per = per.beats(bpb)
            x = d.values["beats"] / beats_per if beats_per else t / max(per.value / 1000.0, 1e-6)
            u = float(hash01(math.floor(x), 1, self.show.settings.seed + p["seed"]))
            return p["min"] + (p["max"] - p["min"]) * u
        raise ValueError(f"unknown operator {k}")  # pragma: no cover - the loader rejects it

    # --- stage 4: rules ------------------------------------------------------------------------
    def _rules(self, d: _Domain, t: float, bpb: int) -> None:
        env = d.scalar
        for rule in self.program.rules:
            key = f"rules.{rule.key}"
            if key in self.faults:
                continue  # marked faulty: skipped until the show is reloaded
            st = d.rules[rule.key]
            try:
                cond = truth(rule.when(env))
                fire = cond and (rule.is_event or not st.prev)
                st.prev = cond
                if fire:
                    st.count += 1
                    if (st.count - 1) % rule.every == 0:
                        for a in rule.actions:
                            self._act(d, a, t, bpb)
            except Exception as exc:
                self._fault(key, exc)

    def _act(self, d: _Domain, a: Action, t: float, bpb: int) -> None:
        p = a.params
        bpm = d.values["bpm"]
        s = self.show.settings
        if a.kind == "look":
            layer = p["layer"] or self.program.first_layer
            st = d.layers[layer]
            dur = (p["transition"] or s.transition).seconds(bpm, bpb)
            if p["for"] is not None:
                if st.revert_at is None:
                    st.revert_look, st.revert_dur = st.look, dur
                st.revert_at = t + p["for"].seconds(bpm, bpb)
            else:
                st.revert_at = st.revert_look = None
            st.set_look(p["look"], t, dur)
        elif a.kind == "palette_step":
            d.palettes[p["palette_step"]].index += p["by"]
        elif a.kind == "fade":
            st = d.layers[p["fade"]]
            st.fade_from, st.fade_to = st.opacity(t), p["to"]
            st.fade_t0, st.fade_dur = t, p["over"].seconds(bpm, bpb)
        elif a.kind == "cue":
            cues = self.program.cues
            target = p["cue"]
            if target == "next":
                i = (d.cue_index + 1) % len(cues) if cues else -1
            elif target == "previous":
                i = (d.cue_index - 1) % len(cues) if cues else -1
            else:
                i = cues.index(target)
            if i < 0:
                return
            d.cue_index = i
            cue = self.show.model.cues[cues[i]]
            dur = (cue.transition or s.transition).seconds(bpm, bpb)
            for layer, look in cue.looks.items():
                st = d.layers[layer]
                st.revert_at = st.revert_look = None
                st.set_look(look, t, dur)
            for sub in cue.do:
                self._act(d, sub, t, bpb)
        elif a.kind == "blackout":
            d.blackout = bool(p["blackout"])
        elif a.kind == "master":
            d.master = (d.master_at(t), p["master"], t, p["over"].seconds(bpm, bpb))

    # --- stage 5: layers and looks -------------------------------------------------------------
    def _layers(self, d: _Domain, out: AttributeFrame, t: float, bpb: int) -> None:
        out.clear()
        scratch, a_frame, b_frame = self._scratch  # kept all-NaN between uses
        writes = self.program.writes
        for layer in self.program.layers:
            st = d.layers[layer.name]
            if st.revert_at is not None and t >= st.revert_at:
                look = st.revert_look
                st.revert_at, st.revert_look = None, None
                if look is not None:
                    st.set_look(look, t, st.revert_dur)
            if st.look is None:
                continue
            w: tuple[str, ...] = ()
            try:
                opacity = st.opacity(t)
                if layer.opacity is not None and layer.opacity.compiled is not None:
                    v = float(layer.opacity.compiled(d.scalar))
                    opacity *= min(1.0, max(0.0, v)) if v == v else 0.0
                if opacity <= 0.0:
                    continue
                in_transition = st.dur > 0 and t < st.t0 + st.dur and st.prev_look is not None
                if in_transition:
                    wa, wb = writes.get(st.prev_look, ()), writes.get(st.look, ())  # type: ignore[arg-type]
                    w = tuple(a for a in _ALL_ATTRS if a in wa or a in wb)
                    self._look(d, st.prev_look, a_frame, t, bpb)  # type: ignore[arg-type]
                    self._look(d, st.look, b_frame, t, bpb)
                    _crossfade(a_frame, b_frame, scratch, max(0.0, (t - st.t0) / st.dur), w)
                    _clear(a_frame, wa)
                    _clear(b_frame, wb)
                else:
                    w = writes.get(st.look, ())
                    self._look(d, st.look, scratch, t, bpb)
                self._blender.blend(out, scratch, layer.blend, opacity, w)
            except Exception as exc:
                self._fault(f"layers.{layer.name}", exc)
            finally:
                _clear(scratch, w)

    def _look(self, d: _Domain, name: str, frame: AttributeFrame, t: float, bpb: int) -> None:
        for part in self.program.looks.get(name, ()):
            key = f"looks.{name}[{part.key[1]}]"
            if key in self.faults:
                continue
            try:
                self._part(d, part, frame, t, bpb)
            except Exception as exc:
                self._fault(key, exc)

    def _part(self, d: _Domain, part: _Part, frame: AttributeFrame, t: float, bpb: int) -> None:
        g = part.group
        env = d.envs.get(g.name)
        if env is None:  # group first used after a reload: build its environment
            self._init_domain_group(d, g)
            env = d.envs[g.name]
        idx = g.idx
        for attr, fn in part.attrs:
            getattr(frame, attr)[idx] = fn(env)
        if part.part.colour is not None:
            frame.color[idx] = self._colour(d, part.part.colour, env, len(g.indices))
        eff = part.part.effect
        if eff is not None:
            base = frame.intensity[idx] if "intensity" in part.part.attributes else None
            EFFECTS[eff.kind](self, d, part, frame, env, t, bpb, base)
        cells = part.part.cells
        if cells is not None and len(g.cells):
            cenv = d.cell_envs[g.name]
            if cells.intensity is not None and cells.intensity.compiled is not None:
                frame.cell_intensity[g.cells] = cells.intensity.compiled(cenv)
            if cells.colour is not None:
                frame.cell_color[g.cells] = self._colour(d, cells.colour, cenv, len(g.cells))

    def _init_domain_group(self, d: _Domain, g: _Group) -> None:
        """The per-fixture (and per-cell) variables of a group, sharing the domain's values."""
        seed = self.show.settings.seed
        patch = self.show.patch
        for ids, salt, table, where in ((g.indices, 7.0, d.envs, patch.positions),
                                        (g.cells, 11.0, d.cell_envs, patch.cell_positions)):
            env = Env()
            xyz = np.asarray(where, dtype=np.float64)[np.asarray(ids, dtype=np.int64)] if len(ids) else np.zeros((0, 3))
            env.x, env.y, env.z = xyz[:, 0].copy(), xyz[:, 1].copy(), xyz[:, 2].copy()
            env.values = d.values
            n = len(ids)
            env.i = np.arange(n, dtype=np.float64)
            env.n = float(n)
            env.pos = env.i / (n - 1) if n > 1 else np.zeros(n)
            env.rand = hash01(np.asarray(ids, dtype=np.float64), salt, seed)
            env.seed = seed
            env.beats = d.scalar.beats
            env.t = d.scalar.t
            table[g.name] = env

    def _colour(self, d: _Domain, c: Colour, env: Env, n: int) -> np.ndarray:
        if c.kind == "rgb":
            return np.asarray(c.rgb)
        if c.kind == "palette":
            pal = self.program.palettes[c.palette]  # type: ignore[index]
            k = len(pal)
            base = d.palettes[c.palette].index  # type: ignore[index]
            if c.spread is not None and c.spread.compiled is not None:
                off = np.floor(np.asarray(env.i) / max(1.0, float(n)) * c.spread.compiled(env) * k)
                return pal[(base + off.astype(np.int64)) % k]
            return pal[base % k]
        if c.kind == "hsv":
            h, s, v = c.channels  # type: ignore[misc]
            hv = h.compiled(env)
            sv = s.compiled(env) if s is not None else 1.0
            vv = v.compiled(env) if v is not None else 1.0
            return hsv_to_linear(hv, sv, vv)
        if c.kind == "exprs":
            chans = [np.broadcast_to(np.asarray(ch.compiled(env), dtype=np.float64), (n,)) for ch in c.channels]  # type: ignore[union-attr]
            return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)
        raise ValueError(f"unresolved colour {c.name!r}")


_CURVES: dict[str, Callable[[float], float]] = {
    "linear": lambda u: u,
    "square": lambda u: u * u,
    "sqrt": lambda u: math.sqrt(u) if u > 0 else 0.0,
    "exp": lambda u: (math.exp(3.0 * u) - 1.0) / (math.exp(3.0) - 1.0),
    "log": lambda u: math.log1p(u * (math.e - 1.0)) if u > -1 / (math.e - 1.0) else NAN,
    "smooth": lambda u: u * u * (3.0 - 2.0 * u),
}


# ---------------------------------------------------------------------------------------------
# Blending


def _crossfade(a: AttributeFrame, b: AttributeFrame, out: AttributeFrame, p: float, attrs: tuple[str, ...]) -> None:
    """``out`` = look ``a`` cross-faded to look ``b`` by ``p`` (0..1). Intensity treats unset
    as 0 (fades in/out); other attributes take whichever side is set; gobo/wheel switch at
    half-way."""
    p = min(1.0, max(0.0, p))
    for name in attrs:
        x, y = getattr(a, name), getattr(b, name)
        if name in ("intensity", "cell_intensity"):
            r = np.nan_to_num(x) * (1.0 - p) + np.nan_to_num(y) * p
            r[np.isnan(x) & np.isnan(y)] = np.nan
        elif name in _DISCRETE:
            r = np.where(np.isnan(y), x, y) if p >= 0.5 else np.where(np.isnan(x), y, x)
        else:
            r = np.where(np.isnan(x), y, np.where(np.isnan(y), x, x + (y - x) * p))
        getattr(out, name)[...] = r


class _Blender:
    """Blends a layer onto the frame below (the ``blend`` key of a layer), touching only the
    attributes the layer's look writes; masks are preallocated per array shape."""

    def __init__(self, like: AttributeFrame) -> None:
        self.masks = {name: np.zeros(getattr(like, name).shape, dtype=bool) for name in _ALL_ATTRS}
        self.tmp = {name: np.zeros(getattr(like, name).shape, dtype=np.float32) for name in _ALL_ATTRS}

    def blend(self, out: AttributeFrame, layer: AttributeFrame, mode: str, o: float, attrs: tuple[str, ...]) -> None:
        for name in attrs:
            below, top = getattr(out, name), getattr(layer, name)
            set_ = self.masks[name]
            np.isnan(top, out=set_)
            np.logical_not(set_, out=set_)
            tmp = self.tmp[name]
            if name in ("intensity", "cell_intensity"):
                if mode == "htp":
                    if o >= 1.0:
                        np.fmax(below, top, out=below)
                    else:
                        np.multiply(top, o, out=tmp)
                        np.fmax(below, tmp, out=below)
                elif mode == "multiply":
                    # below * (1 + (top - 1) * o), where both are set
                    np.subtract(top, 1.0, out=tmp)
                    tmp *= o
                    tmp += 1.0
                    tmp *= below
                    np.copyto(below, tmp, where=set_)
                else:  # ltp and mix: cross-fade from what is below (unset below = 0)
                    np.nan_to_num(below, copy=False)
                    np.subtract(top, below, out=tmp)
                    tmp *= o
                    tmp += below
                    np.copyto(below, tmp, where=set_)
                continue
            if mode == "multiply":
                continue
            if mode == "mix" and name not in _DISCRETE and o < 1.0:
                np.subtract(top, below, out=tmp)
                tmp *= o
                tmp += below
                # where nothing is below, the layer's value itself
                np.copyto(tmp, top, where=np.isnan(below))
                np.copyto(below, tmp, where=set_)
            elif o >= 0.5 or mode != "mix":
                np.copyto(below, top, where=set_)
