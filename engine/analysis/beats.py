"""The beat analyser: front-end beat frames → CRNN activations → causal tracker → beat/tempo events."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analysis.activations import BeatActivations
from engine.analysis.frontend import BEAT_FPS, FrontEnd
from engine.analysis.tracker import BeatClock, BeatTracker, TrackerOptions
from engine.audio.block import AudioBlock
from engine.features import FeatureEvent


class BeatAnalyser:
    """Streaming beat, downbeat and tempo tracking: ``process(block) -> events``, ``reset()``.

    Publishes ``beat`` events (data: ``position`` 1 = downbeat, ``beats_per_bar``, ``bpm``,
    ``confidence``, ``predicted``) at the time they are fired, and ``tempo`` events once a
    second. :meth:`clock` gives the beat clock for the live engine; :meth:`tap`,
    :meth:`nudge`, :meth:`resync` and :meth:`set_mode` are the manual overrides.

    ``keep_activations`` stores every frame's (beat, downbeat) activation in
    :attr:`activations` (for benchmarks and plots; off in live use).

    The silence gate's input: each fast front-end frame (23 ms window, hop 5.8 ms) whose RMS is
    at least ``TrackerOptions.gate_dbfs`` counts as sound; each beat frame tells the tracker how
    long before its ready time the last such frame ended (frames ending later are not used, so
    chunked processing stays equal to whole-file processing).
    """

    def __init__(self, frontend: FrontEnd, options: TrackerOptions | None = None, *,
                 model_path: str | Path | None = None, fire_ahead: float | None = None,
                 keep_activations: bool = False) -> None:
        self.fe = frontend
        self.model = BeatActivations(model_path)
        opts = options or TrackerOptions()
        opts.fps = BEAT_FPS
        self.tracker = BeatTracker(frontend.beat_hop_input, 0, opts, fire_ahead)
        self.keep_activations = keep_activations
        self.activations: list[tuple[float, float]] = []
        w = frontend.fast_window_fn.astype(np.float64)
        # Parseval: mean square of the windowed frame from its one-sided magnitudes, over the
        # window's mean square, estimates the signal's mean square (as LevelMeter's levels)
        self._power_scale = 2.0 / (len(w) * float((w * w).sum()))
        self._gate_power = 10.0 ** (opts.gate_dbfs / 10.0)
        self._last_sound = -np.inf  # input frame one past the last fast frame above the gate

    def reset(self) -> None:
        """Forget the stream (the front end is reset by its owner)."""
        self.model.reset()
        self.tracker.reset()
        self.activations = []
        self._last_sound = -np.inf

    def process(self, block: AudioBlock) -> list[FeatureEvent]:
        """Beat and tempo events decided on the beat frames this block completes."""
        fr = self.fe.frames_for(block)
        self.tracker.origin = self.fe.origin
        events: list[FeatureEvent] = []
        power = np.einsum("ij,ij->i", fr.fast_mag, fr.fast_mag, dtype=np.float64) * self._power_scale
        sound_ends = fr.fast_end[power >= self._gate_power]  # ascending
        for feats, index, ready in zip(fr.beat_features, fr.beat_index, fr.beat_ready):
            beat, down = self.model.step(feats)
            if self.keep_activations:
                self.activations.append((beat, down))
            k = int(np.searchsorted(sound_ends, ready, "right"))
            last = float(sound_ends[k - 1]) if k else self._last_sound
            events.extend(self.tracker.step(int(index), beat, down, int(ready), quiet=float(ready) - last))
        if len(sound_ends):
            self._last_sound = float(sound_ends[-1])
        return events

    def clock(self, now: int) -> BeatClock:
        """The beat clock at stream frame ``now``."""
        return self.tracker.clock(now)

    def tap(self, frame: int) -> None:
        """Tap tempo: a tap on the beat at stream ``frame``."""
        self.tracker.tap(frame)

    def nudge(self, seconds: float) -> None:
        """Shift the beat grid later (positive) or earlier (negative)."""
        self.tracker.nudge(seconds * self.fe.sample_rate)

    def resync(self, frame: int) -> None:
        """The beat nearest stream ``frame`` is a downbeat."""
        self.tracker.resync(frame)

    def set_mode(self, mode: str) -> None:
        """``"auto"`` follows the audio; ``"manual"`` holds the tapped/current grid."""
        self.tracker.set_mode(mode)

    def activation_array(self) -> np.ndarray:
        """Kept activations as ``(n, 2)``."""
        return np.asarray(self.activations, dtype=np.float32).reshape(-1, 2)
