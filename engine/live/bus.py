"""The feature bus: analysis events in, one :class:`~engine.show.inputs.ShowInputs` per show frame out.

Analysers publish :class:`~engine.features.FeatureEvent` s in their own terms (levels in dBFS,
``level.mix``, a tracker's beat clock); the show reads names from its catalogue
(:mod:`engine.show.inputs`) with levels on 0..1. The bus is the one place that translates,
so neither side imports the other.
"""

from __future__ import annotations

from typing import Any, Iterable

from engine.features import FeatureEvent
from engine.show.inputs import BeatClock, ShowInputs

#: Level events arrive in dBFS; the show reads 0..1 with this floor at 0 and 0 dBFS at 1.
LEVEL_FLOOR_DB = -60.0

#: Event names that carry a continuous value (the latest one is kept) rather than an occurrence.
VALUE_PREFIXES = ("level.", "energy", "brightness", "drop.", "fader.")
VALUE_NAMES = {"tempo", "level", "energy", "brightness", "chroma"}

#: Analyser names that the show knows by another name.
RENAME = {"level.mix": "level", "level.all": "level", "level.full": "level"}


def db_to_unit(db: float) -> float:
    """dBFS → 0..1 on a linear-in-dB scale from :data:`LEVEL_FLOOR_DB` to 0 dBFS."""
    x = (db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def is_value_event(name: str) -> bool:
    return name in VALUE_NAMES or name.startswith(VALUE_PREFIXES)


class FeatureBus:
    """Collects events between show frames; keeps the latest continuous values.

    Single-threaded: the engine loop publishes analysis events and takes show inputs in turn.
    Manual inputs (tap, buttons, faders) are posted with :meth:`post` from the same loop
    (the control threads enqueue commands that the loop drains).
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.values: dict[str, float] = {}
        self._pending: list[FeatureEvent] = []
        self.events_seen = 0
        self.last_beat: FeatureEvent | None = None
        #: An onset arrived since the last show frame (the engine may render and send at once).
        self.onset_pending = False

    def reset(self) -> None:
        self.values.clear()
        self._pending.clear()
        self.last_beat = None

    def publish(self, events: Iterable[FeatureEvent]) -> None:
        """Take the events an analyser step produced."""
        for ev in events:
            self.events_seen += 1
            name = RENAME.get(ev.name, ev.name)
            if is_value_event(name):
                value = float(ev.value)
                if name == "level" or name.startswith("level."):  # dBFS from the analysers
                    self.values[f"{name}.db"] = value
                    value = db_to_unit(value)
                self.values[name] = value
                continue
            if name == "vocal_presence":
                self.values["vocals.present"] = float(ev.value)
            if name == "beat":
                self.last_beat = ev
            elif name == "onset":
                self.onset_pending = True
            self._pending.append(ev if name == ev.name else FeatureEvent(name, ev.time, ev.detected_at, ev.value, ev.data))

    def post(self, name: str, frame: int, value: float = 1.0, data: dict[str, Any] | None = None) -> None:
        """A manual input: ``fader.X`` sets a value; anything else (``tap``, ``button.X``) is an event."""
        if is_value_event(name):
            self.values[name] = float(value)
        else:
            self._pending.append(FeatureEvent(name, frame, frame, value, data or {}))

    def take_inputs(self, frame: int, clock: Any = None) -> ShowInputs:
        """The show inputs for the show frame at input ``frame``; hands over the pending events.

        ``clock`` is the tracker's beat clock (``engine.analysis.tracker.BeatClock``) or None.
        """
        events, self._pending = self._pending, []
        self.onset_pending = False
        return ShowInputs(frame=int(frame), sample_rate=self.sample_rate, values=dict(self.values),
                          events=events, clock=show_clock(clock))


def show_clock(clock: Any) -> BeatClock:
    """The analysis beat clock in the show's terms (an idle clock when there is none)."""
    if clock is None or not getattr(clock, "bpm", 0):
        return BeatClock()
    if not clock.next_beats or not (clock.locked or clock.mode == "manual"):
        # Not locked: tempo known but no prediction, so the show fires no beats from it.
        return BeatClock(bpm=float(clock.bpm), confidence=float(clock.confidence),
                         beats_per_bar=int(clock.beats_per_bar))
    nxt = int(clock.next_beats[0])
    return BeatClock(
        bpm=float(clock.bpm),
        phase=float(clock.beat_phase),
        beat_in_bar=int(clock.beat_in_bar),
        beats_per_bar=int(clock.beats_per_bar),
        confidence=float(clock.confidence),
        next_beat=nxt,
        next_beat_in_bar=int(clock.beat_in_bar) % int(clock.beats_per_bar) + 1,
    )
