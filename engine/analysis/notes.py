"""Streaming note transcription with Spotify's Basic Pitch model (``nmp.onnx``, Apache-2.0).

The model maps a fixed window of 43,844 samples of mono 22,050 Hz audio (about 2 s) to 172
frames (256 samples, 11.6 ms each) of note activations, onset activations and a pitch contour
for the 88 piano keys. It is convolutional with a per-window normalisation, so frames near the
window's right edge lack future context and change when the window slides on.

The streaming transcriber:

1. resamples each input block to 22,050 Hz with ``soxr.ResampleStream`` (chunk-invariant and
   time-aligned: output sample ``n`` is input time ``n / 22050``);
2. every ``hop_frames`` model frames (a multiple of 256 samples, so every window's frame ``j``
   falls on the same global 256-sample grid) runs the model on the latest window;
3. keeps from each window only the frames that lie at least ``margin_frames`` before its right
   edge (they have settled, see ``bench/eval_notes.py --settle``) and have not been kept from
   an earlier window: each global frame is taken exactly once, so hops cannot duplicate or
   split a note;
4. decodes those frames causally into notes with :class:`NoteDecoder` (an onset peak starts a
   note, the note activation sustains it, a run of quiet frames ends it).

Times in the events are input-stream sample frames: ``time`` is the note's onset (or offset)
in the audio, ``detected_at`` the end of the block whose processing emitted the event.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio.block import AudioBlock
from engine.errors import BeamsyncError
from engine.features import FeatureEvent

MODEL_RATE = 22050
"""Sample rate the model expects (Hz)."""
WINDOW_SAMPLES = 43844
"""Samples in one model window (2 s minus one 256-sample hop)."""
FRAME_SAMPLES = 256
"""Model frame hop in samples at :data:`MODEL_RATE` (11.6 ms)."""
WINDOW_FRAMES = 172
"""Output frames per window."""
N_PITCHES = 88
"""Piano keys covered by the model: MIDI 21 (A0) .. 108 (C8)."""
LOWEST_MIDI = 21

_INPUT_NAME = "serving_default_input_2:0"
_NOTE_OUTPUT = "StatefulPartitionedCall:1"
_ONSET_OUTPUT = "StatefulPartitionedCall:2"
_MODEL_RELPATH = ("saved_models", "icassp_2022", "nmp.onnx")

DEFAULT_HOP_FRAMES = 9
"""Default hop: 9 model frames = 2304 samples = 104.5 ms."""
BUDGET_HOP_FRAMES = 28
"""Hop of the budget mode (325 ms): a third of the model runs of the default hop."""
DEFAULT_MARGIN_FRAMES = 6
"""Frames kept back from each window's right edge (69.7 ms). Measured with
``bench/eval_notes.py``: frames change less the further they lie from the edge, with no sharp
knee (mean largest change 0.11 at 6 frames, 0.04 at 15), but note F on the evaluation set was
the same for margins 6, 9, 12 and 15 (within 0.01) while each frame adds 11.6 ms of delay."""

STEM_PRESETS: dict[str, dict[str, int]] = {
    # Bass timbres make the model fire the octave above each note as a note of its own; on the
    # Slakh bass stems dropping such octave ghosts raised note F from 0.70 to 0.88.
    "bass": {"octave_ghost_frames": 3},
}
"""Decoder settings per stem name, applied unless the caller sets them explicitly."""

GHOST_INTERVALS = (12, 19, 24)
"""Semitones from a note to its 2nd, 3rd and 4th partials, which the model may report as notes."""

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class NoteModelError(BeamsyncError):
    """The Basic Pitch model is missing or cannot be loaded, or a transcriber option is invalid."""


def find_model_path() -> Path:
    """Locate ``nmp.onnx`` inside the installed ``basic-pitch`` package without importing it.

    Importing ``basic_pitch`` pulls TensorFlow-dependent modules and logs warnings; the package
    folder is found through its import spec instead. Raises :class:`NoteModelError` saying how
    to install the package when it or the file is missing.
    """
    hint = "install it with: pip install --no-deps 'basic-pitch>=0.4,<0.5' (see scripts/setup.sh)"
    try:
        spec = importlib.util.find_spec("basic_pitch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise NoteModelError(f"note transcription needs the 'basic-pitch' package, which is not installed; {hint}")
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*_MODEL_RELPATH)
        if path.is_file():
            return path
    where = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_RELPATH)
    raise NoteModelError(f"the Basic Pitch model file is missing: {where}; reinstall the package ({hint})")


class BasicPitchModel:
    """The ONNX session around ``nmp.onnx``: one call maps a window to note and onset activations."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else find_model_path()
        if not self.path.is_file():
            raise NoteModelError(f"{self.path}: Basic Pitch model file not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise NoteModelError(f"{self.path}: cannot load the Basic Pitch model ({exc})") from None
        self._input = np.zeros((1, WINDOW_SAMPLES, 1), dtype=np.float32)

    def run(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Activations ``(note, onset)``, each ``(172, 88)`` in [0, 1], for one window of 43,844 samples."""
        self._input[0, :, 0] = window
        note, onset = self._session.run([_NOTE_OUTPUT, _ONSET_OUTPUT], {_INPUT_NAME: self._input})
        return note[0], onset[0]


@dataclass(slots=True)
class Note:
    """A decoded note in model frames (global 256-sample frames at 22,050 Hz)."""

    pitch: int
    onset: int
    offset: int
    velocity: float


class NoteDecoder:
    """Causal decoding of note/onset activation frames into notes, one frame at a time.

    Rules (frame indices are global model frames):

    * an onset at pitch ``p`` in frame ``u`` is a strict local peak (in time) of the onset
      activation that reaches ``onset_threshold``; with ``infer_onsets`` a jump of the note
      activation over the previous two frames also counts as onset strength (Basic Pitch's
      "inferred onsets"). The peak test needs frame ``u + 1``, so onsets are one frame late.
    * the onset starts a note; a note already sounding at ``p`` ends there (re-articulation),
      unless it began fewer than ``min_gap`` frames ago (a double peak of one attack).
    * a note stays on while its note activation reaches ``frame_threshold``; after
      ``release_frames`` frames below it the note ends after its last frame above it.
    * a note is *confirmed* (its note-on is emitted) once it has lasted ``confirm_frames``
      frames; notes that end before are dropped, so they never emit anything.
    * with ``octave_ghost_frames`` > 0 a note is also held back that many frames and dropped
      when a sounding, at least as strong note an octave, a twelfth or two octaves below
      (:data:`GHOST_INTERVALS`) started within that many frames of it (a partial's "ghost"; on bass stems these are most false notes). Off by default:
      real octaves are common.
    """

    def __init__(
        self,
        onset_threshold: float = 0.5,
        frame_threshold: float = 0.3,
        confirm_frames: int = 2,
        release_frames: int = 11,
        min_gap: int = 8,
        infer_onsets: bool = True,
        octave_ghost_frames: int = 0,
        min_pitch: int = LOWEST_MIDI,
        max_pitch: int = LOWEST_MIDI + N_PITCHES - 1,
    ) -> None:
        if not 0 <= octave_ghost_frames <= 20:
            raise NoteModelError(f"note decoder: octave_ghost_frames must lie in 0..20, got {octave_ghost_frames}")
        for name, value in (("onset_threshold", onset_threshold), ("frame_threshold", frame_threshold)):
            if not 0.0 < value < 1.0:
                raise NoteModelError(f"note decoder: {name} must lie in (0, 1), got {value}")
        for name, ivalue in (("confirm_frames", confirm_frames), ("release_frames", release_frames), ("min_gap", min_gap)):
            if ivalue < 1:
                raise NoteModelError(f"note decoder: {name} must be at least 1, got {ivalue}")
        if not LOWEST_MIDI <= min_pitch <= max_pitch <= LOWEST_MIDI + N_PITCHES - 1:
            raise NoteModelError(
                f"note decoder: pitch range {min_pitch}..{max_pitch} must lie within "
                f"{LOWEST_MIDI}..{LOWEST_MIDI + N_PITCHES - 1}"
            )
        self.onset_threshold = float(onset_threshold)
        self.frame_threshold = float(frame_threshold)
        self.confirm_frames = int(confirm_frames)
        self.release_frames = int(release_frames)
        self.min_gap = int(min_gap)
        self.infer_onsets = bool(infer_onsets)
        self.octave_ghost_frames = int(octave_ghost_frames)
        self._pitch_mask = np.zeros(N_PITCHES, dtype=bool)
        self._pitch_mask[min_pitch - LOWEST_MIDI : max_pitch - LOWEST_MIDI + 1] = True
        self.reset()

    def reset(self) -> None:
        """Forget all history: no notes sounding, next frame is frame 0."""
        self._next = 0
        self._note_hist = np.zeros((3, N_PITCHES), dtype=np.float32)  # frames t-3, t-2, t-1
        self._strength_hist = np.zeros((2, N_PITCHES), dtype=np.float32)  # frames t-2, t-1
        self._active = np.zeros(N_PITCHES, dtype=bool)
        self._confirmed = np.zeros(N_PITCHES, dtype=bool)
        self._start = np.zeros(N_PITCHES, dtype=np.int64)
        self._last_above = np.zeros(N_PITCHES, dtype=np.int64)
        self._below = np.zeros(N_PITCHES, dtype=np.int64)
        self._amp_sum = np.zeros(N_PITCHES, dtype=np.float64)
        self._amp_n = np.zeros(N_PITCHES, dtype=np.int64)

    @property
    def next_frame(self) -> int:
        """Index of the next frame :meth:`push` expects."""
        return self._next

    def push(self, note: np.ndarray, onset: np.ndarray) -> tuple[list[Note], list[Note]]:
        """Decode frames ``(n, 88)`` that follow the previous ones; return ``(started, ended)``.

        ``started`` are notes confirmed by these frames (offset not known yet: -1); ``ended``
        are confirmed notes that ended (with their offset frame). Notes that end before they
        are confirmed appear in neither.
        """
        started: list[Note] = []
        ended: list[Note] = []
        for i in range(note.shape[0]):
            self._step(note[i], onset[i], started, ended)
        return started, ended

    def _step(self, note: np.ndarray, onset: np.ndarray, started: list[Note], ended: list[Note]) -> None:
        t = self._next
        self._next += 1
        note = np.where(self._pitch_mask, note, 0.0).astype(np.float32)
        onset = np.where(self._pitch_mask, onset, 0.0).astype(np.float32)
        strength = onset
        if self.infer_onsets:
            prev1, prev2 = self._note_hist[2], self._note_hist[1]
            rise = np.minimum(note - prev1, note - prev2)
            strength = np.maximum(onset, rise)
        # Onset peaks are decided for frame u = t - 1, which needed frame t.
        u = t - 1
        s_prev, s_mid = self._strength_hist[0], self._strength_hist[1]
        peaks = (s_mid >= self.onset_threshold) & (s_mid > s_prev) & (s_mid > strength) if u >= 0 else None

        # Sustain / release of sounding notes with the frame u's successor known: advance with
        # frame u's note activation (kept in history) so that a note started at u counts it.
        mid_note = self._note_hist[2]
        if u >= 0:
            if peaks is not None and peaks.any():
                for p in np.flatnonzero(peaks):
                    if self._active[p]:
                        if u - self._start[p] < self.min_gap:
                            continue
                        self._finish(p, u, ended)
                    self._active[p] = True
                    self._confirmed[p] = False
                    self._start[p] = u
                    self._last_above[p] = u
                    self._below[p] = 0
                    self._amp_sum[p] = 0.0
                    self._amp_n[p] = 0
            active = np.flatnonzero(self._active)
            for p in active:
                value = float(mid_note[p])
                if value >= self.frame_threshold:
                    self._last_above[p] = u
                    self._below[p] = 0
                    self._amp_sum[p] += value
                    self._amp_n[p] += 1
                elif u > self._start[p]:
                    self._below[p] += 1
                    if self._below[p] >= self.release_frames:
                        self._finish(p, int(self._last_above[p]) + 1, ended)
                        continue
                if (
                    not self._confirmed[p]
                    and self._last_above[p] + 1 - self._start[p] >= self.confirm_frames
                    and u - self._start[p] >= self.octave_ghost_frames
                ):
                    if self._is_octave_ghost(p):
                        self._active[p] = False
                        continue
                    self._confirmed[p] = True
                    started.append(Note(int(p) + LOWEST_MIDI, int(self._start[p]), -1, self._velocity(p)))

        self._note_hist[0] = self._note_hist[1]
        self._note_hist[1] = self._note_hist[2]
        self._note_hist[2] = note
        self._strength_hist[0] = self._strength_hist[1]
        self._strength_hist[1] = strength

    def _is_octave_ghost(self, p: int) -> bool:
        # An upper partial of a low note (mostly its octave) often fires as a note of its own,
        # starting with the real one. Bass timbres make this the main source of false notes.
        if self.octave_ghost_frames == 0:
            return False
        # The note below must itself sound (frames above threshold) and be at least as strong:
        # a weak sub-octave candidate that fired with p must not remove p.
        for interval in GHOST_INTERVALS:
            low = p - interval
            if (
                low >= 0
                and self._active[low]
                and self._amp_n[low] > 0
                and abs(int(self._start[low]) - int(self._start[p])) <= self.octave_ghost_frames
                and self._velocity(low) >= self._velocity(p)
            ):
                return True
        return False

    def _velocity(self, p: int) -> float:
        return float(self._amp_sum[p] / self._amp_n[p]) if self._amp_n[p] else 0.0

    def _finish(self, p: int, offset: int, ended: list[Note]) -> None:
        if self._confirmed[p]:
            ended.append(Note(int(p) + LOWEST_MIDI, int(self._start[p]), max(offset, int(self._start[p]) + 1), self._velocity(p)))
        self._active[p] = False
        self._confirmed[p] = False

    def flush(self) -> list[Note]:
        """End every sounding note at the current frame (end of a file); return the confirmed ones."""
        ended: list[Note] = []
        for p in np.flatnonzero(self._active):
            self._finish(int(p), int(self._last_above[p]) + 1, ended)
        return ended


class NoteTranscriber:
    """Streaming analyser: audio blocks in, ``note_on`` / ``note_off`` feature events out.

    ``stem`` names the audio this transcriber reads (``"mix"`` by default; ``"bass"``,
    ``"vocals"`` or ``"other"`` when source separation runs) and is copied into every event's
    ``data``; it also picks decoder settings from :data:`STEM_PRESETS` (octave-ghost removal for
    ``"bass"``) unless they are given. ``hop_frames`` sets how often the model runs (9 frames = 104.5 ms by default;
    ``budget=True`` uses 28 frames = 325 ms for a third of the CPU); ``margin_frames``
    how many frames before each window's right edge count as settled. Latency from a note's
    onset to its note-on is about ``margin_frames + 1 + confirm_frames`` frames plus, on
    average, half a hop and the resampler's delay.

    Events (times in input-stream frames):

    * ``note_on``: ``time`` = onset, ``value`` = velocity (0..1), ``data`` = ``{"pitch": MIDI
      number, "velocity", "pitch_class": 0..11, "stem"}``;
    * ``note_off``: ``time`` = offset, same ``data``, plus ``"onset"`` (input frame).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        stem: str = "mix",
        hop_frames: int | None = None,
        budget: bool = False,
        margin_frames: int = DEFAULT_MARGIN_FRAMES,
        model: BasicPitchModel | None = None,
        threads: int = 1,
        onset_threshold: float = 0.5,
        frame_threshold: float = 0.3,
        confirm_frames: int = 2,
        release_frames: int = 11,
        octave_ghost_frames: int | None = None,
        min_pitch: int = LOWEST_MIDI,
        max_pitch: int = LOWEST_MIDI + N_PITCHES - 1,
    ) -> None:
        if sample_rate <= 0:
            raise NoteModelError(f"note transcriber: sample rate must be positive, got {sample_rate}")
        if hop_frames is None:
            hop_frames = BUDGET_HOP_FRAMES if budget else DEFAULT_HOP_FRAMES
        if not 1 <= hop_frames <= 64:
            raise NoteModelError(f"note transcriber: hop_frames must lie in 1..64, got {hop_frames}")
        if not 0 <= margin_frames <= 100:
            raise NoteModelError(f"note transcriber: margin_frames must lie in 0..100, got {margin_frames}")
        self.sample_rate = int(sample_rate)
        self.stem = str(stem)
        self.hop_frames = int(hop_frames)
        self.margin_frames = int(margin_frames)
        if octave_ghost_frames is None:
            octave_ghost_frames = STEM_PRESETS.get(self.stem, {}).get("octave_ghost_frames", 0)
        self.model = model if model is not None else BasicPitchModel(threads=threads)
        self.decoder = NoteDecoder(
            onset_threshold=onset_threshold,
            frame_threshold=frame_threshold,
            confirm_frames=confirm_frames,
            release_frames=release_frames,
            octave_ghost_frames=octave_ghost_frames,
            min_pitch=min_pitch,
            max_pitch=max_pitch,
        )
        hop = self.hop_frames * FRAME_SAMPLES
        # Buffer holding resampled audio from global sample ``self._buf_start`` on.
        self._capacity = WINDOW_SAMPLES + hop + 8 * MODEL_RATE
        self._buf = np.zeros(self._capacity, dtype=np.float32)
        self.windows_run = 0
        self.reset()

    def reset(self) -> None:
        """Start a new stream: empty buffers, fresh resampler, no notes sounding."""
        import soxr

        self._resampler = soxr.ResampleStream(self.sample_rate, MODEL_RATE, 1, dtype="float32") if self.sample_rate != MODEL_RATE else None
        self.decoder.reset()
        # The first window ends one hop into the stream; the samples before 0 are silence.
        first_start = FRAME_SAMPLES * (self.hop_frames - WINDOW_FRAMES)
        self._buf[:] = 0.0
        self._buf_start = first_start  # global 22.05 kHz sample index of self._buf[0]
        self._buf_len = -first_start  # zeros of the pre-roll count as buffered
        self._window_start = first_start
        self.windows_run = 0

    # -- time conversions -------------------------------------------------------------------
    def frame_to_input(self, model_frame: int) -> int:
        """Input-stream frame of a global model frame's start."""
        return int(round(model_frame * FRAME_SAMPLES * self.sample_rate / MODEL_RATE))

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Feed one block; return the note events that became certain with it."""
        if block.sample_rate != self.sample_rate:
            raise NoteModelError(
                f"note transcriber ({self.stem}): block at {block.sample_rate} Hz, expected {self.sample_rate} Hz"
            )
        samples = np.asarray(block.samples, dtype=np.float32)
        if samples.ndim != 1:
            samples = samples.reshape(len(samples), -1).mean(axis=1).astype(np.float32)
        fresh = self._resampler.resample_chunk(samples) if self._resampler is not None else samples
        self._append(fresh)
        events: list[FeatureEvent] = []
        detected_at = block.end_frame
        while self._window_start + WINDOW_SAMPLES <= self._buf_start + self._buf_len:
            self._run_window(events, detected_at)
        return events

    def flush(self, end_frame: int) -> list[FeatureEvent]:
        """Finish a file: decode its last frames and end the notes still sounding.

        The resampler is drained and the window slid over silence until every frame of the
        audio has settled, so notes in the last ~0.2 s are not lost. ``end_frame`` (the input
        stream's end) is the events' ``detected_at``. Call :meth:`reset` before reusing.
        """
        events: list[FeatureEvent] = []
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        audio_end = self._buf_start + self._buf_len
        last_frame = -(-audio_end // FRAME_SAMPLES)  # frames up to here hold audio
        silence = np.zeros(FRAME_SAMPLES * self.hop_frames, dtype=np.float32)
        # Frame u is decided once u + 1 is known; a note needs its confirmation frames too.
        needed = last_frame + 2 + max(self.decoder.confirm_frames, self.decoder.octave_ghost_frames)
        while self.decoder.next_frame < needed:
            self._append(silence)
            while self._window_start + WINDOW_SAMPLES <= self._buf_start + self._buf_len:
                self._run_window(events, end_frame)
        ended = self.decoder.flush()
        events += [self._event("note_off", n, end_frame, self.frame_to_input(n.offset)) for n in ended]
        return events

    def _append(self, fresh: np.ndarray) -> None:
        n = len(fresh)
        if n == 0:
            return
        if self._buf_len + n > self._capacity:
            # Drop what no future window needs: everything before the next window's start.
            drop = self._window_start - self._buf_start
            keep = self._buf_len - drop
            self._buf[:keep] = self._buf[drop : drop + keep].copy()
            self._buf_start += drop
            self._buf_len = keep
            if keep + n > self._capacity:
                raise NoteModelError(f"note transcriber ({self.stem}): block of {n} samples is too long")
        self._buf[self._buf_len : self._buf_len + n] = fresh
        self._buf_len += n

    def _run_window(self, events: list[FeatureEvent], detected_at: int) -> None:
        offset = self._window_start - self._buf_start
        note, onset = self.model.run(self._buf[offset : offset + WINDOW_SAMPLES])
        self.windows_run += 1
        first_frame = self._window_start // FRAME_SAMPLES  # global frame of the window's row 0
        last_settled = first_frame + WINDOW_FRAMES - 1 - self.margin_frames
        begin = self.decoder.next_frame
        if last_settled >= begin:
            rows = slice(begin - first_frame, last_settled - first_frame + 1)
            if rows.start < 0:
                raise NoteModelError("note transcriber: hop longer than the settled part of a window")
            started, ended = self.decoder.push(note[rows], onset[rows])
            fresh = [self._event("note_off", n, detected_at, self.frame_to_input(n.offset)) for n in ended]
            fresh += [self._event("note_on", n, detected_at, self.frame_to_input(n.onset)) for n in started]
            fresh.sort(key=lambda e: e.time)  # stable: a note_off precedes a note_on at its frame
            events.extend(fresh)
        self._window_start += self.hop_frames * FRAME_SAMPLES

    def _event(self, name: str, n: Note, detected_at: int, time: int) -> FeatureEvent:
        data: dict[str, Any] = {
            "pitch": n.pitch,
            "velocity": round(n.velocity, 4),
            "pitch_class": n.pitch % 12,
            "stem": self.stem,
        }
        if name == "note_off":
            data["onset"] = self.frame_to_input(n.onset)
        return FeatureEvent(name, time, detected_at, float(data["velocity"]), data)
