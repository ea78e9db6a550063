"""Harmony features from transcribed notes: chroma, current chord, key, pitch-class note-ons.

:class:`HarmonyTracker` is event driven: it reads the ``note_on`` / ``note_off`` events of one
or more :class:`~engine.analysis.notes.NoteTranscriber` (the mix, or the bass and "other"
stems when separation runs) and publishes, in input-stream frames:

* ``pitch_class.<X>`` for every note-on, ``X`` one of :data:`PITCH_CLASS_IDS` (``C``, ``Cs``,
  ``D`` ... ``B``: identifier-safe, so a show can say ``when: pitch_class.E``): ``value`` =
  pitch class 0..11 (C = 0), ``data`` = ``{"pitch_class", "name", "velocity", "pitch",
  "stem"}`` — for hue-from-pitch-class palettes. (The bare name ``pitch_class`` is the show's
  value derived from ``note_on``; these events do not reuse it.)
* ``chroma`` every ``chroma_interval`` seconds: ``value`` = total weight, ``data["values"]`` =
  12 weights normalised to a maximum of 1 (all 0 in silence). Each sounding note weighs its
  velocity times an envelope that decays from 1 towards ``sustain_floor`` with time constant
  ``note_decay`` seconds, and after its note-off dies away with time constant ``release``;
* ``chord`` when the chord changes (to a chord whose template fits with at least
  ``min_chord_confidence``, or to "N" in silence), judged on :meth:`HarmonyTracker.chord_chroma`
  (recent attacks weigh most): ``data`` = ``{"root": 0..11 or None, "name": "C", "Am", "G7",
  "Fmaj7", "Dm7", "Bdim", "Dsus4" or "N", "quality": maj/min/7/maj7/min7/dim/sus4 or N,
  "bass": pitch class of the lowest sounding note, "confidence"}``; the confidence is the
  cosine similarity between the chroma and the chord's template (0..1);
* ``key`` when the key changes and every ``key_interval`` seconds: ``data`` = ``{"tonic",
  "name", "mode": major/minor, "confidence", "correlation"}``, from the Krumhansl–Kessler
  profiles correlated with a long-term pitch-class histogram of note-ons (time constant
  ``key_memory`` seconds). The confidence is the correlation (clipped to 0..1) scaled down
  when the runner-up key is within 0.1 of it, so near-ties between related keys read low.

:class:`HarmonyAnalyser` wraps a transcriber and a tracker into one streaming analyser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from engine.analysis.notes import PITCH_CLASS_NAMES, NoteModelError, NoteTranscriber
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent

PITCH_CLASS_IDS = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")
"""Pitch-class names usable inside feature names (``s`` for sharp)."""

# Chord templates: intervals above the root. Order matters for ties: simpler chords first.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
}

CHORD_SUFFIXES = {"maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7", "dim": "dim", "sus4": "sus4", "N": ""}

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _chord_templates() -> tuple[np.ndarray, list[tuple[int, str]]]:
    rows, labels = [], []
    for quality, intervals in CHORD_QUALITIES.items():
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(t / np.linalg.norm(t))
            labels.append((root, quality))
    return np.array(rows), labels


def _key_profiles() -> np.ndarray:
    """24 zero-mean, unit-norm profiles: rows 0..11 major on C..B, 12..23 minor."""
    rows = []
    for base in (KK_MAJOR, KK_MINOR):
        for tonic in range(12):
            p = np.roll(base, tonic)
            p = p - p.mean()
            rows.append(p / np.linalg.norm(p))
    return np.array(rows)


_TEMPLATES, _TEMPLATE_LABELS = _chord_templates()
_KEY_PROFILES = _key_profiles()


@dataclass(frozen=True, slots=True)
class Chord:
    """A chord estimate; ``root`` None means no chord ("N")."""

    root: int | None
    quality: str
    bass: int | None
    confidence: float

    @property
    def name(self) -> str:
        if self.root is None:
            return "N"
        return PITCH_CLASS_NAMES[self.root] + CHORD_SUFFIXES[self.quality]


@dataclass(frozen=True, slots=True)
class Key:
    """A key estimate."""

    tonic: int
    mode: str
    confidence: float
    correlation: float

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"


def estimate_chord(chroma: np.ndarray, bass: int | None = None, bass_bonus: float = 0.05, floor: float = 1e-3) -> Chord:
    """Best chord template for a 12-bin chroma; a chord whose root is the bass note gets ``bass_bonus``.

    Returns the "N" chord when the chroma's total weight is below ``floor``.
    """
    total = float(np.sum(chroma))
    if total < floor:
        return Chord(None, "N", bass, 0.0)
    unit = chroma / np.linalg.norm(chroma)
    scores = _TEMPLATES @ unit
    ranked = scores.copy()
    if bass is not None:
        ranked[[i for i, (root, _) in enumerate(_TEMPLATE_LABELS) if root == bass]] += bass_bonus
    best = int(np.argmax(ranked))  # first maximum: simpler qualities win ties
    root, quality = _TEMPLATE_LABELS[best]
    return Chord(root, quality, bass, float(scores[best]))


def estimate_key(histogram: np.ndarray, tie_margin: float = 0.1) -> Key | None:
    """Krumhansl–Kessler key of a pitch-class histogram; None when it is flat or empty."""
    h = histogram - histogram.mean()
    norm = float(np.linalg.norm(h))
    if norm < 1e-9:
        return None
    r = _KEY_PROFILES @ (h / norm)
    order = np.argsort(r)[::-1]
    best, second = float(r[order[0]]), float(r[order[1]])
    confidence = max(0.0, min(1.0, best)) * min(1.0, (best - second) / tie_margin)
    index = int(order[0])
    return Key(index % 12, "major" if index < 12 else "minor", round(confidence, 4), round(best, 4))


class HarmonyTracker:
    """Chroma, chord and key from note events; see the module docstring for the events."""

    def __init__(
        self,
        sample_rate: int,
        *,
        chroma_interval: float = 0.1,
        note_decay: float = 1.0,
        sustain_floor: float = 0.5,
        release: float = 0.15,
        key_memory: float = 60.0,
        key_interval: float = 1.0,
        min_chord_confidence: float = 0.6,
        chord_decay: float = 0.5,
        chord_floor: float = 0.25,
    ) -> None:
        if sample_rate <= 0:
            raise NoteModelError(f"harmony tracker: sample rate must be positive, got {sample_rate}")
        for name, value in (
            ("chroma_interval", chroma_interval),
            ("note_decay", note_decay),
            ("release", release),
            ("key_memory", key_memory),
            ("key_interval", key_interval),
            ("chord_decay", chord_decay),
        ):
            if value <= 0:
                raise NoteModelError(f"harmony tracker: {name} must be positive (seconds), got {value}")
        if not all(0.0 <= v <= 1.0 for v in (sustain_floor, min_chord_confidence, chord_floor)):
            raise NoteModelError("harmony tracker: sustain_floor, chord_floor and min_chord_confidence must lie in 0..1")
        self.sample_rate = int(sample_rate)
        self.chroma_interval = int(round(chroma_interval * sample_rate))
        self.note_decay = note_decay * sample_rate
        self.sustain_floor = sustain_floor
        self.release = release * sample_rate
        self.key_memory = key_memory * sample_rate
        self.key_interval = int(round(key_interval * sample_rate))
        self.min_chord_confidence = min_chord_confidence
        self.chord_decay = chord_decay * sample_rate
        self.chord_floor = chord_floor
        self.silence = 0.05  # chroma weight below which the chord is "N" (velocity units)
        self.reset()

    def reset(self) -> None:
        """Forget every note, the key histogram and the last published values."""
        # (stem, pitch) -> [onset frame, velocity, offset frame or -1]
        self._notes: dict[tuple[str, int], list[float]] = {}
        self._key_hist = np.zeros(12)
        self._key_time = 0
        self._last_onset = -1
        self._last_chroma_at: int | None = None
        self._chord = Chord(None, "N", None, 0.0)
        self._key: Key | None = None
        self._last_key_at: int | None = None

    @property
    def chord(self) -> Chord:
        """The chord last published."""
        return self._chord

    @property
    def key(self) -> Key | None:
        """The key last published (None before the first note)."""
        return self._key

    def chroma(self, now: int) -> np.ndarray:
        """Unnormalised 12-bin chroma at input frame ``now`` from the notes heard so far."""
        out = np.zeros(12)
        for (_, pitch), (onset, velocity, offset) in self._notes.items():
            out[pitch % 12] += velocity * self._envelope(now, onset, offset)
        return out

    def _envelope(self, now: int, onset: float, offset: float) -> float:
        def held(t: float) -> float:
            age = max(0.0, t - onset)
            return self.sustain_floor + (1.0 - self.sustain_floor) * math.exp(-age / self.note_decay)

        if offset < 0 or now <= offset:
            return held(now)
        return held(offset) * math.exp(-(now - offset) / self.release)

    def chord_chroma(self, now: int) -> np.ndarray:
        """Chroma for chord recognition at ``now``: recent attacks dominate.

        Notes that ended before the latest note-on do not count (the new chord replaced them),
        and sounding notes fade towards ``chord_floor`` over ``chord_decay`` so that a note
        held from the previous chord weighs less than the new chord's notes while their
        note-offs are still on the way.
        """
        out = np.zeros(12)
        for (_, pitch), (onset, velocity, offset) in self._notes.items():
            if 0 <= offset <= self._last_onset:
                continue
            age = max(0.0, now - onset)
            weight = self.chord_floor + (1.0 - self.chord_floor) * math.exp(-age / self.chord_decay)
            if offset >= 0 and now > offset:
                weight *= math.exp(-(now - offset) / self.release)
            out[pitch % 12] += velocity * weight
        return out

    def _bass(self) -> int | None:
        sounding = [pitch for (_, pitch), (_, _, off) in self._notes.items() if off < 0]
        return min(sounding) % 12 if sounding else None

    def update(self, events: Iterable[FeatureEvent], now: int) -> list[FeatureEvent]:
        """Take the note events emitted up to input frame ``now``; return the harmony events."""
        out: list[FeatureEvent] = []
        changed_at: int | None = None
        for ev in events:
            if ev.name not in ("note_on", "note_off"):
                continue
            pitch = int(ev.data["pitch"])
            stem = str(ev.data.get("stem", "mix"))
            velocity = float(ev.data.get("velocity", ev.value))
            if ev.name == "note_on":
                self._notes[(stem, pitch)] = [float(ev.time), velocity, -1.0]
                self._last_onset = max(self._last_onset, ev.time)
                self._add_to_key(pitch % 12, velocity, ev.time)
                pc = pitch % 12
                out.append(
                    FeatureEvent(
                        f"pitch_class.{PITCH_CLASS_IDS[pc]}",
                        ev.time,
                        ev.detected_at,
                        float(pc),
                        {"pitch_class": pc, "name": PITCH_CLASS_NAMES[pc], "velocity": velocity, "pitch": pitch, "stem": stem},
                    )
                )
            else:
                note = self._notes.get((stem, pitch))
                if note is not None and note[2] < 0:
                    note[2] = float(ev.time)
            changed_at = ev.time if changed_at is None else max(changed_at, ev.time)
        self._forget(now)
        if changed_at is not None or self._last_chroma_at is None or now - self._last_chroma_at >= self.chroma_interval:
            out.extend(self._publish(now, changed_at))
        return out

    def _add_to_key(self, pc: int, weight: float, time: int) -> None:
        self._key_hist *= math.exp(-max(0, time - self._key_time) / self.key_memory)
        self._key_time = max(self._key_time, time)
        self._key_hist[pc] += weight

    def _forget(self, now: int) -> None:
        # Ended notes whose release has died away no longer count.
        gone = [k for k, (_, _, off) in self._notes.items() if off >= 0 and now - off > 5 * self.release]
        for k in gone:
            del self._notes[k]

    def _publish(self, now: int, changed_at: int | None) -> list[FeatureEvent]:
        out: list[FeatureEvent] = []
        raw = self.chroma(now)
        peak = float(raw.max())
        values = tuple(round(float(v), 4) for v in (raw / peak if peak > 0 else raw))
        out.append(FeatureEvent("chroma", now, now, round(float(raw.sum()), 4), {"values": values}))
        self._last_chroma_at = now

        chord = estimate_chord(self.chord_chroma(now), self._bass(), floor=self.silence)
        # A chord changes only to a chord that fits well enough; a weak fit (one or two notes,
        # a passing tone) keeps the current chord. Only silence returns to "N".
        weak = chord.root is not None and chord.confidence < self.min_chord_confidence
        if not weak and (chord.root, chord.quality) != (self._chord.root, self._chord.quality):
            self._chord = chord
            out.append(
                FeatureEvent(
                    "chord",
                    changed_at if changed_at is not None else now,
                    now,
                    round(chord.confidence, 4),
                    {
                        "root": chord.root,
                        "name": chord.name,
                        "quality": chord.quality,
                        "bass": chord.bass,
                        "confidence": round(chord.confidence, 4),
                    },
                )
            )

        key = estimate_key(self._key_hist)
        if key is not None:
            new_key = self._key is None or (key.tonic, key.mode) != (self._key.tonic, self._key.mode)
            due = self._last_key_at is None or now - self._last_key_at >= self.key_interval
            if new_key or due:
                self._key = key
                self._last_key_at = now
                out.append(
                    FeatureEvent(
                        "key",
                        changed_at if (new_key and changed_at is not None) else now,
                        now,
                        key.confidence,
                        {
                            "tonic": key.tonic,
                            "name": key.name,
                            "mode": key.mode,
                            "confidence": key.confidence,
                            "correlation": key.correlation,
                        },
                    )
                )
        return out


class HarmonyAnalyser:
    """One streaming analyser: a :class:`NoteTranscriber` followed by a :class:`HarmonyTracker`.

    ``process(block)`` returns the transcriber's note events followed by the harmony events
    they caused. Build it with :meth:`create` for the usual case, or hand in a transcriber
    (e.g. one per stem) and a tracker.
    """

    def __init__(self, transcriber: NoteTranscriber, tracker: HarmonyTracker) -> None:
        self.transcriber = transcriber
        self.tracker = tracker

    @classmethod
    def create(cls, sample_rate: int, *, stem: str = "mix", budget: bool = False) -> "HarmonyAnalyser":
        """A transcriber for ``stem`` (default the mix) at its default hop (or the budget hop) with a tracker."""
        return cls(NoteTranscriber(sample_rate, stem=stem, budget=budget), HarmonyTracker(sample_rate))

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Transcribe one block and update the harmony features."""
        notes = self.transcriber.process(block)
        return notes + self.tracker.update(notes, block.end_frame)

    def degrade(self) -> str | None:
        """The live engine's budget hook: switch the transcriber to its budget hop (a third of
        the model runs, ~325 ms instead of ~105 ms); None when it already runs that cheaply.
        Safe mid-stream: windows advance by the new hop and the decoder takes each settled
        frame exactly once, so no note is split or doubled at the switch."""
        from engine.analysis.notes import BUDGET_HOP_FRAMES

        if self.transcriber.hop_frames >= BUDGET_HOP_FRAMES:
            return None
        self.transcriber.hop_frames = BUDGET_HOP_FRAMES
        return f"note transcription at the budget hop ({BUDGET_HOP_FRAMES} model frames)"

    def flush(self, end_frame: int) -> list[FeatureEvent]:
        """End sounding notes at the end of a file."""
        notes = self.transcriber.flush(end_frame)
        return notes + self.tracker.update(notes, end_frame)

    def reset(self) -> None:
        """Start a new stream."""
        self.transcriber.reset()
        self.tracker.reset()


CHORD_STEMS = ("bass", "other")
"""Stems whose notes make the chords (and the key) when separation runs; vocals carry the melody."""


class StemHarmonyAnalyser:
    """Notes per stem when source separation runs: bass stem → bass notes, vocals → melody,
    "other" → chords; harmony (chord, key, chroma) from the bass and "other" notes.

    It runs its own streaming separator with resynthesis (the per-stem feature analyser only
    needs the stem spectra) and one :class:`NoteTranscriber` per stem, all sharing one model.
    The separator delays the stems by its ``latency``; event times are moved back by it, so
    they stay on the input timeline (``detected_at`` stays when the event was known). Every
    event carries its stem in ``data["stem"]``.
    """

    STEMS = ("bass", "vocals", "other")

    def __init__(self, sample_rate: int, *, separator: str = "auto", budget: bool = False,
                 model: object = None) -> None:
        from engine.analysis.notes import BasicPitchModel
        from engine.analysis.separation import STEMS, make_separator

        self.sample_rate = int(sample_rate)
        self.separator = make_separator(self.sample_rate, separator)
        self._index = [STEMS.index(s) for s in self.STEMS]
        shared = model if model is not None else BasicPitchModel()
        self.transcribers = [NoteTranscriber(self.sample_rate, stem=s, budget=budget, model=shared)  # type: ignore[arg-type]
                             for s in self.STEMS]
        self.tracker = HarmonyTracker(self.sample_rate)
        self.latency = int(self.separator.latency)

    def _shift(self, events: list[FeatureEvent]) -> list[FeatureEvent]:
        out = []
        for e in events:
            data = dict(e.data)
            if "onset" in data:
                data["onset"] = int(data["onset"]) - self.latency
            out.append(FeatureEvent(e.name, e.time - self.latency, e.detected_at, e.value, data))
        return out

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Separate one block, transcribe each stem, update the harmony from bass and "other"."""
        x = np.asarray(block.samples, dtype=np.float32)
        if x.ndim != 1:
            x = x.reshape(len(x), -1).mean(axis=1).astype(np.float32)
        stems = self.separator.process(x)  # [4, n], delayed by self.latency
        notes: list[FeatureEvent] = []
        for i, tr in zip(self._index, self.transcribers):
            notes += tr.process(AudioBlock(block.start_frame, stems[i], self.sample_rate))
        notes = self._shift(notes)
        notes.sort(key=lambda e: e.time)
        chordal = [e for e in notes if e.data.get("stem") in CHORD_STEMS]
        return notes + self.tracker.update(chordal, block.end_frame - self.latency)

    def degrade(self) -> str | None:
        """The engine's budget hook: every stem's transcriber to the budget hop (once)."""
        from engine.analysis.notes import BUDGET_HOP_FRAMES

        if all(t.hop_frames >= BUDGET_HOP_FRAMES for t in self.transcribers):
            return None
        for t in self.transcribers:
            t.hop_frames = BUDGET_HOP_FRAMES
        return f"per-stem note transcription at the budget hop ({BUDGET_HOP_FRAMES} model frames)"

    def reset(self) -> None:
        """Start a new stream."""
        self.separator.reset()
        for t in self.transcribers:
            t.reset()
        self.tracker.reset()
