"""What the show graph reads each show frame: :class:`ShowInputs`.

The show does not import the analysis package. The live engine (or a test, or a recorded
feature stream) fills one :class:`ShowInputs` per show frame: the frame's time, the current
value of every continuous feature by name, the feature events since the previous frame, and
the beat clock. Manual inputs (faders, buttons, tap) arrive the same way: faders as values
named ``fader.NAME``, buttons as events named ``button.NAME``, tap as an event named ``tap``.

:data:`FEATURES` is the catalogue of names a show may use. A name in the catalogue that the
running analysis does not produce is *absent*: it reads as NaN, so conditions on it are false
and attributes driven by it are not set (the rule "stays idle"); ``beamsync check`` warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine.features import FeatureEvent

STEMS = ("drums", "bass", "vocals", "other")
DRUM_PARTS = ("kick", "snare", "hihat")
BANDS = ("low", "mid", "high")
SECTIONS = ("buildup", "drop", "breakdown", "breakdown_end", "music_start", "silence", "phrase", "track_change")
#: Section kinds that also raise another name (the analysis says where a breakdown starts).
SECTION_ALIASES = {"breakdown_start": "breakdown"}
PITCH_CLASS_IDS = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")

#: Continuous values (read the latest value; NaN while absent), with a one-line meaning.
VALUE_FEATURES: dict[str, str] = {
    "level": "overall loudness, 0..1",
    "energy": "musical energy, 0..1 (slow, section-scale)",
    "tempo": "tempo in beats per minute (from the beat clock)",
    "pitch_class": "pitch class of the last note (0 = C .. 11 = B)",
    "note.pitch": "MIDI pitch of the last note on",
    "note.velocity": "velocity of the last note on, 0..1",
    "notes.count": "number of notes sounding",
    "brightness": "spectral brightness, 0..1",
    "energy.trend_short": "energy change over the last bars (positive = rising)",
    "energy.trend_long": "energy change over the last phrases",
    "drop.bars_until": "bars until the predicted drop (-1 when none is expected)",
    "vocals.present": "1 while vocals are present, else 0",
    "chord.root": "root of the current chord (0 = C .. 11 = B; absent for no chord)",
    "key.tonic": "tonic of the estimated key (0 = C .. 11 = B)",
    **{f"level.{b}": f"{b} band level, 0..1" for b in BANDS},
    **{f"level.{s}": f"{s} stem level, 0..1" for s in STEMS},
    **{f"level.{d}": f"{d} level, 0..1" for d in DRUM_PARTS},
}

#: Events (read 1 in the show frame an event arrives, else 0).
EVENT_FEATURES: dict[str, str] = {
    "beat": "a beat (fires at the predicted beat time, ahead by each output's latency)",
    "downbeat": "the first beat of a bar",
    "onset": "any onset in the mix",
    "note_on": "a note starts (note.pitch, note.velocity hold its values)",
    "note_off": "a note ends",
    "section": "any section change",
    "tap": "a tap-tempo press",
    **{f"onset.{s}": f"an onset in the {s} stem" for s in STEMS},
    **{f"onset.{d}": f"a {d} hit" for d in DRUM_PARTS},
    "chord": "the chord changes (chord.root holds the new root)",
    "key": "the estimated key changes or is confirmed",
    **{s: f"section event: {s}" for s in SECTIONS},
    **{f"pitch_class.{p}": f"a note of pitch class {p.replace('s', '#')} starts" for p in PITCH_CLASS_IDS},
}

#: Beat-clock values, always present (0 while the clock has no tempo).
CLOCK_FEATURES: dict[str, str] = {
    "beat.phase": "position inside the current beat, 0..1",
    "bar.phase": "position inside the current bar, 0..1",
    "beat.in_bar": "beat number inside the bar, 1..beats_per_bar",
    "beat.confidence": "beat tracker confidence, 0..1",
    "bpm": "tempo in beats per minute (0 while unknown)",
    "beats": "beats counted since the show started (fractional)",
    "t": "show time in seconds",
}

#: Names whose suffix is free (manual inputs from OSC/MIDI): ``fader.NAME`` values and
#: ``button.NAME`` events.
VALUE_PREFIXES = ("fader.",)
EVENT_PREFIXES = ("button.",)


def is_event_name(name: str) -> bool:
    """True for names that read as events (1 in the frame they arrive)."""
    return name in EVENT_FEATURES or name.startswith(EVENT_PREFIXES)


def is_feature_name(name: str) -> bool:
    """True for any input name the show language knows."""
    return (
        name in VALUE_FEATURES
        or name in EVENT_FEATURES
        or name in CLOCK_FEATURES
        or name.startswith(VALUE_PREFIXES + EVENT_PREFIXES)
    )


def all_feature_names() -> list[str]:
    """Every fixed name in the catalogue (for suggestions and documentation)."""
    return [*VALUE_FEATURES, *EVENT_FEATURES, *CLOCK_FEATURES]


@dataclass(slots=True)
class BeatClock:
    """The beat clock as the tracker (or tap, or Ableton Link) sees it at the frame's time.

    ``phase`` is the position inside the current beat (0..1), ``beat_in_bar`` counts from 1.
    ``next_beat`` is the predicted sample frame of the next beat (None while unknown), and
    ``next_beat_in_bar`` its position in the bar. The show fires beat events from this
    prediction, ahead of time by each output's latency, so light lands on the beat.
    """

    bpm: float = 0.0
    phase: float = 0.0
    beat_in_bar: int = 1
    beats_per_bar: int = 4
    confidence: float = 0.0
    next_beat: int | None = None
    next_beat_in_bar: int = 1

    @property
    def bar_phase(self) -> float:
        """Position inside the bar, 0..1."""
        bpb = max(1, self.beats_per_bar)
        return ((self.beat_in_bar - 1) % bpb + self.phase) / bpb

    @property
    def running(self) -> bool:
        """True when the clock has a tempo and predicts the next beat."""
        return self.bpm > 0 and self.next_beat is not None


@dataclass(slots=True)
class ShowInputs:
    """Everything the show reads for one show frame.

    ``frame`` is the sample frame (input timeline) the show frame stands for; ``sample_rate``
    converts it to seconds. ``values`` holds the latest value of continuous features (absent
    names are features not produced); ``events`` the feature events since the previous show
    frame (beats from the tracker, onsets with ``data['stem']``/``data['label']``, notes with
    ``data['pitch']``/``data['velocity']``, sections with ``data['section']``, buttons, tap).
    """

    frame: int
    sample_rate: int = 48000
    values: Mapping[str, float] = field(default_factory=dict)
    events: list[FeatureEvent] = field(default_factory=list)
    clock: BeatClock = field(default_factory=BeatClock)

    @property
    def time(self) -> float:
        """The frame's time in seconds."""
        return self.frame / self.sample_rate


def event_names(event: FeatureEvent) -> tuple[str, ...]:
    """The show names an event raises: ``onset`` with stem drums and label kick raises
    ``onset``, ``onset.drums`` and ``onset.kick``; a section event raises ``section`` and its
    kind (``drop``)."""
    name = event.name
    data = event.data or {}
    if name == "onset":
        names = ["onset"]
        stem = data.get("stem")
        label = data.get("label")
        if stem and stem != "mix":
            names.append(f"onset.{stem}")
        if label:
            names.append(f"onset.{label}")
        return tuple(names)
    if name == "section":
        kind = data.get("kind") or data.get("section") or data.get("label")
        if not kind:
            return ("section",)
        alias = SECTION_ALIASES.get(str(kind))
        return ("section", str(kind), alias) if alias else ("section", str(kind))
    if name == "beat":
        return ("beat", "downbeat") if data.get("position") == 1 else ("beat",)
    return (name,)
