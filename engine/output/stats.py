"""Counters every output keeps, and the snapshot the UI and the benchmark read.

The sender thread only adds to preallocated counters and writes timings into a fixed ring;
:meth:`OutputStats.snapshot` (called from other threads, rarely) does the sorting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JITTER_RING = 4096


@dataclass(frozen=True)
class OutputSnapshot:
    """A consistent-enough copy of one output's counters (read without locking).

    ``jitter_*`` are how late sends started against their fixed cadence, in milliseconds,
    over the last :data:`JITTER_RING` sends. ``missed`` counts cadence slots skipped because
    the sender fell more than a period behind.
    """

    name: str
    kind: str
    rate: float
    latency_ms: float
    frames: int
    packets: int
    bytes: int
    errors: int
    missed: int
    fps: float
    jitter_p50_ms: float
    jitter_p99_ms: float
    jitter_max_ms: float
    last_error: str | None


class OutputStats:
    """Mutable counters owned by one sender; written by its thread only."""

    __slots__ = (
        "frames", "packets", "bytes", "errors", "missed", "last_error",
        "_late", "_n_late", "_fps", "_fps_count", "_fps_t0",
    )  # fmt: skip

    def __init__(self) -> None:
        self.frames = 0
        self.packets = 0
        self.bytes = 0
        self.errors = 0
        self.missed = 0
        self.last_error: str | None = None
        self._late = np.zeros(JITTER_RING, dtype=np.float64)
        self._n_late = 0
        self._fps = 0.0
        self._fps_count = 0
        self._fps_t0: float | None = None

    def record_tick(self, due: float, started: float) -> None:
        """Note one send that was due at ``due`` and started at ``started`` (seconds)."""
        self._late[self._n_late % JITTER_RING] = started - due
        self._n_late += 1
        self.frames += 1
        if self._fps_t0 is None:
            self._fps_t0 = started
        self._fps_count += 1
        if started - self._fps_t0 >= 1.0:
            self._fps = self._fps_count / (started - self._fps_t0)
            self._fps_count = 0
            self._fps_t0 = started

    def error(self, message: str) -> None:
        """Count one failed send; keep the latest reason for the UI."""
        self.errors += 1
        self.last_error = message

    def lateness(self) -> np.ndarray:
        """The recorded send lateness values in seconds (a copy; oldest order not kept)."""
        n = min(self._n_late, JITTER_RING)
        return self._late[:n].copy()

    def snapshot(self, name: str, kind: str, rate: float, latency_ms: float) -> OutputSnapshot:
        """Copy the counters and summarise the jitter ring."""
        late = self.lateness()
        if late.size:
            p50, p99 = np.percentile(late, [50, 99]) * 1e3
            mx = float(late.max()) * 1e3
        else:
            p50 = p99 = mx = 0.0
        return OutputSnapshot(
            name=name, kind=kind, rate=rate, latency_ms=latency_ms, frames=self.frames,
            packets=self.packets, bytes=self.bytes, errors=self.errors, missed=self.missed,
            fps=self._fps, jitter_p50_ms=float(p50), jitter_p99_ms=float(p99),
            jitter_max_ms=mx, last_error=self.last_error,
        )  # fmt: skip
