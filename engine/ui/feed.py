"""What the window reads: snapshots of the engine, never a call into its realtime path.

:class:`MonitorFeed` bundles the engine's shared blocks (status, telemetry), an independent
reader view of the audio ring, and the command queue. Everything here copies from shared
memory without locks; nothing waits on the engine, so a slow or hung window cannot slow the
audio callback's writes or the worker's outputs (they never wait for a reader).

:class:`AudioMonitor` keeps the newest seconds of the input for the waveform, spectrum and
level meter. :class:`EventHistory` turns telemetry event rows into what the analysis panel
draws (beats, onsets, notes, sections, tempo).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.live.telemetry import (BEAT, E_A, E_B, E_KIND, E_TIME, E_VALUE, NOTE_OFF, NOTE_ON, ONSET, ONSET_LABELS,
                                   SECTION, SECTIONS, STEMS, TEMPO)

CLIP_LEVEL = 0.999  # a sample this close to full scale counts as clipped


class AudioMonitor:
    """The newest ``seconds`` of mono input from a ring reader view (never holds the writer back).

    ``poll()`` copies what arrived since the last call; ``waveform()``/``spectrum()``/``meter()``
    compute the displays from the kept history.
    """

    def __init__(self, ring: Any, sample_rate: int, seconds: float = 4.0, fft_size: int = 4096) -> None:
        self.ring = ring
        self.sample_rate = int(sample_rate)
        self.size = int(seconds * sample_rate)
        self.history = np.zeros(self.size, np.float32)
        self.write = 0  # total frames appended (history index = write % size)
        self.newest_frame = 0  # stream frame index one past the newest frame seen
        channels = ring.layout.channels if ring is not None else 1
        self._scratch = np.zeros((8192, channels), np.float32)
        self._mono = np.zeros(8192, np.float32)
        self.fft_size = fft_size
        self._window = np.hanning(fft_size).astype(np.float32)
        self._band_edges: np.ndarray | None = None
        self.clip_until = 0.0
        self.peak_hold = -120.0
        self._peak_hold_t = 0.0

    def poll(self, now: float | None = None) -> int:
        """Copy the frames that arrived; returns how many."""
        if self.ring is None:
            return 0
        got = 0
        for _ in range(64):  # at most 64 × 8192 frames per call (more than the ring holds)
            first, n = self.ring.read(self._scratch)
            if n == 0:
                break
            mono = self._mono[:n]
            if self._scratch.shape[1] == 1:
                mono[:] = self._scratch[:n, 0]
            else:
                np.mean(self._scratch[:n], axis=1, out=mono)
            self._append(mono)
            self.newest_frame = first + n
            got += n
        if got:
            recent = self.recent(min(got, self.sample_rate // 10))
            if len(recent) and float(np.max(np.abs(recent))) >= CLIP_LEVEL:
                self.clip_until = (time.monotonic() if now is None else now) + 2.0
        return got

    def _append(self, x: np.ndarray) -> None:
        n = len(x)
        if n >= self.size:
            self.history[:] = x[-self.size :]
            self.write += n
            return
        i = self.write % self.size
        k = min(n, self.size - i)
        self.history[i : i + k] = x[:k]
        if k < n:
            self.history[: n - k] = x[k:]
        self.write += n

    def recent(self, n: int) -> np.ndarray:
        """The newest ``n`` frames, oldest first (a copy)."""
        n = min(n, self.size, self.write)
        if n <= 0:
            return np.zeros(0, np.float32)
        end = self.write % self.size
        if end >= n:
            return self.history[end - n : end].copy()
        return np.concatenate([self.history[self.size - (n - end) :], self.history[:end]])

    def waveform(self, seconds: float = 2.0, points: int = 800) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time s relative to now, min, max) per display column for the newest ``seconds``."""
        n = int(seconds * self.sample_rate)
        x = self.recent(n)
        if len(x) < n:
            x = np.concatenate([np.zeros(n - len(x), np.float32), x])
        per = max(1, n // points)
        cols = n // per
        blocks = x[n - cols * per :].reshape(cols, per)
        t = (np.arange(cols) - cols) * per / self.sample_rate
        return t, blocks.min(axis=1), blocks.max(axis=1)

    def spectrum(self, bands: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(frequency Hz, magnitude dBFS) of the newest ``fft_size`` frames (Hann window).

        ``bands``: reduce to that many log-spaced bands from 30 Hz (the peak bin of each), which
        is all a display needs and far cheaper to draw than every bin."""
        x = self.recent(self.fft_size)
        if len(x) < self.fft_size:
            x = np.concatenate([np.zeros(self.fft_size - len(x), np.float32), x])
        mag = np.abs(np.fft.rfft(x * self._window)) * (2.0 / self._window.sum())
        freqs = np.fft.rfftfreq(self.fft_size, 1.0 / self.sample_rate)
        db = 20.0 * np.log10(np.maximum(mag, 1e-7))
        if not bands:
            return freqs[1:], db[1:]
        if self._band_edges is None or len(self._band_edges) != bands + 1:
            edges = np.geomspace(30.0, self.sample_rate / 2, bands + 1)
            idx = np.unique(np.clip(np.searchsorted(freqs, edges), 1, len(freqs) - 1))
            self._band_edges = idx
        idx = self._band_edges
        peaks = np.maximum.reduceat(db, idx[:-1])
        centres = np.sqrt(freqs[idx[:-1]] * freqs[np.maximum(idx[1:] - 1, idx[:-1])])
        return centres, peaks

    def meter(self, seconds: float = 0.05, now: float | None = None) -> tuple[float, float, bool]:
        """(RMS dBFS, peak-hold dBFS, clipped) over the newest ``seconds``."""
        now = time.monotonic() if now is None else now
        x = self.recent(max(1, int(seconds * self.sample_rate)))
        if not len(x):
            return -120.0, -120.0, False
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        peak = float(np.max(np.abs(x)))
        rms_db = 20 * np.log10(max(rms, 1e-6))
        peak_db = 20 * np.log10(max(peak, 1e-6))
        if peak_db >= self.peak_hold or now - self._peak_hold_t > 1.5:
            self.peak_hold, self._peak_hold_t = peak_db, now
        return rms_db, self.peak_hold, now < self.clip_until

    def reset_clip(self) -> None:
        self.clip_until = 0.0


@dataclass
class Note:
    pitch: int
    start: int  # stream frames
    end: int | None  # None while held
    velocity: float


@dataclass
class EventHistory:
    """The recent analysis events the analysis panel draws, kept for ``keep_seconds``."""

    sample_rate: int
    keep_seconds: float = 12.0
    beats: deque = field(default_factory=lambda: deque(maxlen=256))  # (time, position in bar)
    onsets: deque = field(default_factory=lambda: deque(maxlen=1024))  # (time, label, stem, strength)
    notes: deque = field(default_factory=lambda: deque(maxlen=512))
    sections: deque = field(default_factory=lambda: deque(maxlen=32))  # (time, name)
    tempo: tuple[float, float] = (0.0, 0.0)  # (bpm, confidence) of the last tempo event
    stem_activity: dict = field(default_factory=lambda: {s: 0.0 for s in STEMS[1:]})
    _held: dict = field(default_factory=dict)
    last_frame: int = 0

    def add(self, rows: np.ndarray) -> None:
        """Take telemetry event rows (columns ``E_*``)."""
        for r in rows:
            kind, t = int(r[E_KIND]), int(r[E_TIME])
            self.last_frame = max(self.last_frame, t)
            if kind == BEAT:
                self.beats.append((t, int(r[E_A])))
            elif kind == ONSET:
                label = ONSET_LABELS[int(r[E_A])] if 0 <= int(r[E_A]) < len(ONSET_LABELS) else ""
                stem = STEMS[int(r[E_B])] if 0 <= int(r[E_B]) < len(STEMS) else "mix"
                strength = float(r[E_VALUE])
                self.onsets.append((t, label, stem, strength))
                if stem in self.stem_activity:
                    self.stem_activity[stem] = max(self.stem_activity[stem], min(1.0, strength if strength > 0 else 1.0))
            elif kind == NOTE_ON:
                pitch = int(r[E_A])
                note = Note(pitch, t, None, float(r[E_B]))
                old = self._held.pop(pitch, None)
                if old is not None and old.end is None:
                    old.end = t
                self._held[pitch] = note
                self.notes.append(note)
            elif kind == NOTE_OFF:
                note = self._held.pop(int(r[E_A]), None)
                if note is not None:
                    note.end = t
            elif kind == SECTION:
                i = int(r[E_A])
                name = SECTIONS[i] if 0 <= i < len(SECTIONS) else ""
                if name:
                    self.sections.append((t, name))
            elif kind == TEMPO:
                self.tempo = (float(r[E_VALUE]), float(r[E_A]))

    def decay(self, dt: float, half_life: float = 0.25) -> None:
        """Let the stem activity meters fall (called once per UI frame)."""
        k = 0.5 ** (dt / half_life)
        for s in self.stem_activity:
            self.stem_activity[s] *= k

    def beat_position(self, now: int, bpm: float, beats_per_bar: int = 4) -> tuple[float, int] | None:
        """(phase 0..1 within the beat, beat in bar 1..N) at stream frame ``now`` from the newest
        beat event at or before ``now`` (predicted beats may be announced early) and the tempo."""
        if not self.beats or bpm <= 0:
            return None
        period = 60.0 * self.sample_rate / bpm
        last = None
        for t, pos in reversed(self.beats):
            if t <= now:
                last = (t, pos)
                break
        if last is None:
            return None
        x = (now - last[0]) / period
        if x > 4 * beats_per_bar:  # stale: no beats for several bars
            return None
        k = int(np.floor(x))
        pos = last[1] if last[1] > 0 else 1
        return x - k, (pos - 1 + k) % beats_per_bar + 1

    def current_section(self, now: int) -> str:
        for t, name in reversed(self.sections):
            if t <= now:
                return name
        return ""


class MonitorFeed:
    """Snapshots of a running (or recorded) engine for the window; commands go back by ``post``.

    Build it from a :class:`~engine.live.engine.LiveEngine` with :meth:`from_engine`, or from
    bare parts (a status block, a telemetry block, a ring) for recordings and tests.
    """

    def __init__(self, *, status: Any, telemetry: Any, ring: Any, sample_rate: int, show_path: str | Path | None,
                 post: Callable[[str, Any], None] | None = None,
                 poll_messages: Callable[[], list[tuple[str, str]]] | None = None,
                 source_stats: Callable[[], Any] | None = None, source_label: str = "",
                 input_latency: Callable[[], float] | None = None, alive: Callable[[], bool] | None = None) -> None:
        self.status = status
        self.telemetry = telemetry
        self.sample_rate = int(sample_rate)
        self.show_path = Path(show_path) if show_path else None
        self.audio = AudioMonitor(ring.reader_view() if ring is not None else None, self.sample_rate)
        self._ring = ring
        self._post = post
        self._poll = poll_messages
        self._stats = source_stats
        self._latency = input_latency
        self._alive = alive
        self.source_label = source_label
        self.posted: list[tuple[str, Any]] = []  # every command sent (shown in the log, read by tests)

    @classmethod
    def from_engine(cls, engine: Any, label: str = "") -> "MonitorFeed":
        """A feed over a started :class:`~engine.live.engine.LiveEngine`."""
        src = engine.source
        return cls(status=engine.status, telemetry=engine.telemetry, ring=src.ring, sample_rate=src.sample_rate,
                   show_path=engine.spec.show_path, post=engine.post, poll_messages=engine.poll_messages,
                   source_stats=src.stats, source_label=label,
                   input_latency=lambda: float(getattr(src.clock, "input_latency", 0.0) or 0.0),
                   alive=lambda: engine.alive)

    def post(self, command: str, value: Any = None) -> None:
        self.posted.append((command, value))
        if self._post is not None:
            self._post(command, value)

    def snapshot(self) -> dict[str, float]:
        return self.status.snapshot()

    def poll_messages(self) -> list[tuple[str, str]]:
        return self._poll() if self._poll is not None else []

    def source_stats(self) -> Any:
        return self._stats() if self._stats is not None else None

    def input_latency(self) -> float:
        return self._latency() if self._latency is not None else 0.0

    @property
    def alive(self) -> bool:
        return self._alive() if self._alive is not None else True

    def ring_fill(self) -> float:
        """Unread share of the input ring from the engine's own reader (0 when unknown)."""
        ring = self._ring
        try:
            return 1.0 - ring.free_space() / ring.layout.capacity if ring is not None else 0.0
        except Exception:  # the ring was released (engine swapped)
            return 0.0

    @property
    def write_position(self) -> int:
        """The newest input frame written (the engine's "now" in stream frames)."""
        try:
            return int(self._ring.write_position) if self._ring is not None else self.audio.newest_frame
        except Exception:  # the ring was released (engine swapped)
            return self.audio.newest_frame
