"""MIDI controllers: notes and CCs mapped to operator controls, LED feedback, MIDI clock in/out.

The mapping lives in a small YAML file given with ``beamsync run --midi-map FILE`` (the show
file stays about the show); ``beamsync midi learn`` writes it. Format (``docs/control.md``)::

    midi:
      input: nanoKONTROL2      # part of the input port's name (default: the first input)
      output: nanoKONTROL2     # LED feedback and clock out (default: same as input; null: none)
      api: alsa                # alsa | jack
      clock_out: false         # 24 ppqn MIDI clock from the beat clock
      clock_in: false          # external tempo: one tap per quarter note of incoming clock
    controls:
      - {cc: 0, control: master}
      - {note: 41, control: blackout}
      - {note: 43, control: look, look: drop}
      - {note: 44, control: nudge, amount: -0.01, channel: 10}

The pure parts — :class:`MidiMap` (message → controls, control change → LED messages),
:class:`ClockOut` (beat position → clock pulses) and :class:`ClockIn` (pulses → taps, tempo) —
take times as arguments, so tests drive them without ports or sleeping. :class:`MidiController`
connects them to mido ports (python-rtmidi; its callback thread only decodes and posts).
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.config import ConfigError, Location, load_yaml, location_of, suggest, value_location
from engine.control.errors import ControlError
from engine.control.operator import CONTROLS, SWITCHES, TRIGGERS, Operator

log = logging.getLogger("beamsync.control.midi")

PPQN = 24
API_NAMES = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK"}
ENTRY_KEYS = {"note", "cc", "channel", "control", "look", "layer", "amount", "min", "max"}
SETTING_KEYS = {"input", "output", "api", "clock_out", "clock_in"}


@dataclass(frozen=True)
class Binding:
    """One controller element (a note or a CC, on one channel or any) bound to one control."""

    control: str
    note: int | None = None
    cc: int | None = None
    channel: int | None = None  # 0-based; None: any channel
    look: str | None = None
    layer: str | None = None
    amount: float = 0.01  # nudge seconds per press
    lo: float = 0.0  # range a CC/velocity is scaled to (faders, master)
    hi: float = 1.0

    def matches(self, kind: str, number: int, channel: int) -> bool:
        mine = self.note if kind == "note" else self.cc
        return mine == number and (self.channel is None or self.channel == channel)


@dataclass
class MidiSettings:
    input: str | None = None
    output: str | None = "same"
    api: str = "alsa"
    clock_out: bool = False
    clock_in: bool = False


@dataclass
class MidiMap:
    """Bindings and settings read from a mapping file."""

    bindings: list[Binding] = field(default_factory=list)
    settings: MidiSettings = field(default_factory=MidiSettings)

    # -- input -------------------------------------------------------------------------------
    def controls_for(self, msg: Any) -> list[tuple[str, list[Any]]]:
        """The ``(control, args)`` a mido message asks for (empty for unmapped messages)."""
        t = msg.type
        if t in ("note_on", "note_off"):
            kind, number, value = "note", msg.note, (msg.velocity if t == "note_on" else 0)
        elif t == "control_change":
            kind, number, value = "cc", msg.control, msg.value
        else:
            return []
        out = []
        for b in self.bindings:
            if not b.matches(kind, number, msg.channel):
                continue
            pressed = value > 0 if kind == "note" else value >= 64
            c = b.control
            if c in ("master",) or c.startswith("fader."):
                out.append((c, [b.lo + (b.hi - b.lo) * value / 127.0]))
            elif c in SWITCHES:
                if kind == "note":
                    if pressed:
                        out.append((c, []))  # a pad toggles on each press
                else:
                    out.append((c, [pressed]))  # a CC switch sends its state
            elif c == "look":
                if pressed:
                    out.append(("look", [b.look] + ([b.layer] if b.layer else [])))
            elif c == "nudge":
                if pressed:
                    out.append(("nudge", [b.amount]))
            elif c == "beat_mode":
                if pressed:
                    out.append(("beat_mode", [b.look or "manual"]))
            elif c in TRIGGERS or c.startswith("button."):
                if pressed:
                    out.append((c, []))
        return out

    # -- LED feedback ------------------------------------------------------------------------
    def feedback_for(self, control: str, value: Any) -> list[Any]:
        """mido messages that show a control's new value on the controller's LEDs/motor faders."""
        import mido

        out = []
        for b in self.bindings:
            if b.control != control:
                continue
            if control == "look":
                v = 127 if value == b.look else 0
            elif isinstance(value, bool):
                v = 127 if value else 0
            elif isinstance(value, (int, float)) and b.hi != b.lo:
                v = int(round(127 * min(1.0, max(0.0, (float(value) - b.lo) / (b.hi - b.lo)))))
            else:
                continue
            ch = b.channel or 0
            if b.note is not None:
                out.append(mido.Message("note_on", note=b.note, velocity=v, channel=ch))
            else:
                out.append(mido.Message("control_change", control=b.cc, value=v, channel=ch))
        return out


def _err(msg: str, node: Any, key: Any, file: str) -> ConfigError:
    return ConfigError(msg, value_location(node, key, file) if key is not None else location_of(node, None, file))


def _int(node: Any, key: str, lo: int, hi: int, file: str) -> int:
    v = node[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _err(f"'{key}' must be a whole number {lo}..{hi}, got {v!r}", node, key, file)
    return v


def parse_map(data: Any, file: str = "<midi map>") -> MidiMap:
    """A MidiMap from the loaded YAML (raises ConfigError with file, line, column)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("a MIDI map is a mapping with 'midi' and 'controls'", Location(file, 1, 1))
    for key in data:
        if key not in ("midi", "controls"):
            raise ConfigError(f"unknown key '{key}'{suggest(str(key), ['midi', 'controls'])}",
                              location_of(data, key, file))
    settings = MidiSettings()
    m = data.get("midi") or {}
    if not isinstance(m, dict):
        raise _err("'midi' must be a mapping", data, "midi", file)
    for key, v in m.items():
        if key not in SETTING_KEYS:
            raise ConfigError(f"unknown setting '{key}'{suggest(str(key), SETTING_KEYS)}", location_of(m, key, file))
        if key in ("input", "output"):
            if v is not None and not isinstance(v, str):
                raise _err(f"'{key}' must be (part of) a port name", m, key, file)
            setattr(settings, key, v)
        elif key == "api":
            if v not in API_NAMES:
                raise _err(f"'api' must be one of {', '.join(API_NAMES)}, got {v!r}", m, key, file)
            settings.api = v
        else:
            if not isinstance(v, bool):
                raise _err(f"'{key}' must be true or false", m, key, file)
            setattr(settings, key, v)
    if settings.output == "same":
        settings.output = settings.input
    bindings = []
    entries = data.get("controls") or []
    if not isinstance(entries, list):
        raise _err("'controls' must be a list", data, "controls", file)
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ConfigError("each control is a mapping like {cc: 7, control: master}", location_of(entries, i, file))
        for key in e:
            if key not in ENTRY_KEYS:
                raise ConfigError(f"unknown key '{key}'{suggest(str(key), ENTRY_KEYS)}", location_of(e, key, file))
        if ("note" in e) == ("cc" in e):
            raise ConfigError("give exactly one of 'note' or 'cc'", location_of(entries, i, file))
        control = e.get("control")
        if not isinstance(control, str) or not Operator.known(control):
            names = list(CONTROLS) + ["fader.NAME", "button.NAME"]
            raise ConfigError(f"unknown control {control!r}{suggest(str(control), names)} "
                              f"(one of {', '.join(names)})", value_location(e, "control", file)
                              if "control" in e else location_of(entries, i, file))
        if control == "look" and not isinstance(e.get("look"), str):
            raise ConfigError("a 'look' control needs 'look: NAME'", location_of(entries, i, file))
        kw: dict[str, Any] = {"control": control}
        if "note" in e:
            kw["note"] = _int(e, "note", 0, 127, file)
        else:
            kw["cc"] = _int(e, "cc", 0, 127, file)
        if "channel" in e:
            kw["channel"] = _int(e, "channel", 1, 16, file) - 1
        for key in ("look", "layer"):
            if key in e:
                if not isinstance(e[key], str):
                    raise _err(f"'{key}' must be a name", e, key, file)
                kw[key] = e[key]
        for key, attr in (("amount", "amount"), ("min", "lo"), ("max", "hi")):
            if key in e:
                v = e[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise _err(f"'{key}' must be a number", e, key, file)
                kw[attr] = float(v)
        bindings.append(Binding(**kw))
    return MidiMap(bindings, settings)


def load_map(path: str | Path) -> MidiMap:
    """Read a mapping file (``--midi-map``)."""
    return parse_map(load_yaml(path), str(path))


# -- clock -------------------------------------------------------------------------------------
class ClockOut:
    """24 ppqn MIDI clock locked to the engine's beat position.

    ``pulses(position)`` returns how many clock messages are due, given the beat position
    (unwrapped beats, whose value modulo ``beats_per_bar`` is the place in the bar). Nothing is
    sent until the next bar line; there ``started`` turns True (the caller sends Start) and the
    first pulse is the downbeat, as MIDI receivers expect. It never sends a burst to catch up
    a jump: when the engine's grid moves by more than half a beat (a tap, a resync), the pulse
    count is re-aligned silently; small drifts are absorbed by sending a pulse early or late.
    """

    def __init__(self, beats_per_bar: int = 4) -> None:
        self.beats_per_bar = beats_per_bar
        self.sent = -1  # pulse index last sent
        self.started = False
        self.realigned = 0
        self._start_at: float | None = None  # the bar line where Start goes out

    def pulses(self, position: float) -> int:
        target = math.floor(position * PPQN)
        if not self.started:
            if self._start_at is None or position < self._start_at - self.beats_per_bar:
                self._start_at = math.ceil(position / self.beats_per_bar) * self.beats_per_bar
            if position < self._start_at:
                return 0
            self.started = True
            self.sent = target
            return 1  # the downbeat pulse, right after Start
        due = target - self.sent
        if due > PPQN // 2 or due < -PPQN // 2:
            self.sent = target
            self.realigned += 1
            return 0
        if due <= 0:
            return 0
        self.sent = target
        return min(due, 2)  # at most two at once: a receiver smooths one early pulse, not a burst

    def next_due(self, position: float, bpm: float) -> float:
        """Seconds until the next pulse (or the Start) at ``bpm`` from ``position``."""
        if bpm <= 0:
            return 0.05
        nxt = (self.sent + 1) / PPQN if self.started else (self._start_at or position)
        return max(0.0005, (nxt - position) * 60.0 / bpm)


class ClockIn:
    """Incoming MIDI clock: tempo from pulse intervals, a tap on every quarter note.

    ``feed(kind, t)`` with kind ``clock``/``start``/``continue``/``stop`` and the arrival time;
    returns True when a quarter note (24 pulses since Start) begins: the caller taps the engine.
    """

    def __init__(self, window: int = 48) -> None:
        self.window = window
        self.times: list[float] = []
        self.count = 0
        self.running = False
        self.bpm = 0.0

    def feed(self, kind: str, t: float) -> bool:
        if kind == "start":
            self.running, self.count, self.times = True, 0, []
            return False
        if kind == "continue":
            self.running = True
            return False
        if kind == "stop":
            self.running = False
            return False
        if kind != "clock":
            return False
        if self.times and t - self.times[-1] > 1.0:
            self.times = []  # a gap: the old intervals say nothing about the new tempo
        self.times = (self.times + [t])[-(self.window + 1):]
        if len(self.times) >= 7:
            intervals = [b - a for a, b in zip(self.times, self.times[1:])]
            self.bpm = 60.0 / (statistics.median(intervals) * PPQN)
        beat = self.running and self.count % PPQN == 0
        if self.running:
            self.count += 1
        return beat


# -- ports ------------------------------------------------------------------------------------
def backend(api: str) -> Any:
    import mido

    return mido.Backend(f"mido.backends.rtmidi/{API_NAMES[api]}")


def find_port(names: Iterable[str], wanted: str | None, what: str) -> str:
    """The port whose name contains ``wanted`` (case-insensitive); the first one when None."""
    names = list(names)
    if wanted is None:
        if not names:
            raise ControlError(f"no MIDI {what} port found")
        return names[0]
    hits = [n for n in names if wanted.lower() in n.lower()]
    if not hits:
        raise ControlError(f"no MIDI {what} port matches '{wanted}'",
                           hint="MIDI " + what + " ports: " + (", ".join(names) or "none"))
    return hits[0]


class MidiController:
    """A controller: input → operator controls; changes → LED feedback; clock in/out.

    ``status`` returns the health snapshot; the clock-out thread reads the engine's beat from
    it (``tempo.bpm``, ``beats``) at each pulse.
    """

    def __init__(self, mapping: MidiMap, operator: Operator, status: Callable[[], dict[str, Any]],
                 beat_position: Callable[[], tuple[float, float] | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.map = mapping
        self.operator = operator
        self.status = status
        self.beat_position = beat_position
        self.clock = clock
        self.clock_in = ClockIn() if mapping.settings.clock_in else None
        self.clock_out = ClockOut() if mapping.settings.clock_out else None
        self.counts = {"messages": 0, "applied": 0, "bad": 0, "feedback": 0, "clock_out": 0, "taps": 0}
        self.inport: Any = None
        self.outport: Any = None
        self._out_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        be = backend(self.map.settings.api)
        s = self.map.settings
        name = find_port(be.get_input_names(), s.input, "input")
        self.inport = be.open_input(name, callback=self.on_message)
        if s.output is not None or self.clock_out is not None:
            out_name = find_port(be.get_output_names(), s.output, "output")
            self.outport = be.open_output(out_name)
        log.info("MIDI controller on '%s'%s", name, f" (feedback to '{out_name}')" if self.outport else "")
        self.operator.listeners.append(self.on_change)
        if self.clock_out is not None and self.beat_position is not None:
            self._thread = threading.Thread(target=self._clock_loop, name="beamsync-midi-clock", daemon=True)
            self._thread.start()

    def on_message(self, msg: Any) -> None:
        """rtmidi's callback thread: decode, post, never block."""
        self.counts["messages"] += 1
        if self.clock_in is not None and msg.type in ("clock", "start", "stop", "continue"):
            if self.clock_in.feed(msg.type, self.clock()):
                self.operator.apply("tap")
                self.counts["taps"] += 1
            if msg.type == "start":
                self.operator.apply("beat_mode", ["manual"])  # the external clock holds the grid
            return
        for control, args in self.map.controls_for(msg):
            try:
                self.operator.apply(control, args)
                self.counts["applied"] += 1
            except Exception as exc:  # a bad mapping value must not kill the callback thread
                self.counts["bad"] += 1
                log.warning("MIDI %s → %s failed: %s", msg, control, exc)

    def on_change(self, control: str, value: Any) -> None:
        if self.outport is None or value is None:
            return
        for m in self.map.feedback_for(control, value):
            self.send(m)
            self.counts["feedback"] += 1

    def send(self, msg: Any) -> None:
        with self._out_lock:  # the clock thread and feedback share the port
            self.outport.send(msg)

    def _clock_loop(self) -> None:
        import mido

        clock_msg = mido.Message("clock")
        assert self.clock_out is not None and self.beat_position is not None
        while not self._stop.is_set():
            pos = self.beat_position()
            if pos is None:
                self._stop.wait(0.05)
                continue
            position, bpm = pos
            was_started = self.clock_out.started
            n = self.clock_out.pulses(position)
            if not was_started and self.clock_out.started:
                self.send(mido.Message("start"))
            for _ in range(n):
                self.send(clock_msg)
                self.counts["clock_out"] += 1
            self._stop.wait(self.clock_out.next_due(position, bpm))

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts)
        if self.clock_in is not None:
            out["clock_in_bpm"] = round(self.clock_in.bpm, 2)
        return out

    def stop(self) -> None:
        """Stop the clock (sending MIDI Stop if it had started) and close the ports; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
        if self.on_change in self.operator.listeners:
            self.operator.listeners.remove(self.on_change)
        if self.outport is not None and self.clock_out is not None and self.clock_out.started:
            import mido

            self.send(mido.Message("stop"))
        ports, self.inport, self.outport = (self.inport, self.outport), None, None
        for p in ports:
            if p is not None:
                p.close()


def engine_beat_position(status: Any, clock: Callable[[], float] = time.monotonic) -> Callable[[], tuple[float, float] | None]:
    """A reader of ``(beats, bpm)`` now, over the engine's shared status block (None: no tempo)."""
    from engine.control.beat import BeatPosition

    pos = BeatPosition()
    return lambda: pos.read(status.snapshot(), clock())


def start_midi(path: str | Path, operator: Operator, status: Callable[[], dict[str, Any]],
               engine_status: Any = None) -> MidiController:
    """Load the map, open the ports, start the clock thread (``--midi-map``)."""
    mapping = load_map(path)
    ctl = MidiController(mapping, operator, status,
                         beat_position=engine_beat_position(engine_status) if engine_status is not None else None)
    try:
        ctl.open()
    except ControlError:
        ctl.stop()
        raise
    except Exception as exc:  # rtmidi raises its own errors for a missing sequencer/JACK
        ctl.stop()
        raise ControlError(f"MIDI: cannot open the controller ports: {exc}") from None
    return ctl
