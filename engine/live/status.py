"""A small block of shared numbers: the engine's live status, readable from any process.

The analysis process writes it a few times a second; the main process (status line, UI,
health queries) reads it without locks. Each field is one float64 at a fixed index.
"""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

FIELDS = (
    "heartbeat",  # time.monotonic() of the last update
    "state",  # 0 starting, 1 running, 2 stopped, -1 failed
    "bpm",
    "beat_phase",
    "beat_in_bar",
    "confidence",
    "level",  # 0..1
    "level_db",
    "analysis_load",  # analysis CPU seconds per audio second
    "show_fps",
    "show_frames",
    "show_late",
    "show_cost_ms",  # mean show-frame cost over the last interval
    "analysis_lag_ms",
    "lost_frames",
    "events",
    "output_packets",
    "output_errors",
    "output_fps",
    "producer_done",  # set by the audio side when a non-looping file has ended
    "show_generation",
    "show_reload_errors",
    "cpu_percent",  # analysis process CPU, % of one core
    "beats",
    # Reliability counters (docs/reliability.md; read by ``beamsync bench soak``):
    "skipped_frames",  # audio skipped on purpose because analysis fell more than max_lag behind
    "output_frames",  # sender ticks, all outputs together
    "output_missed",  # cadence slots skipped because a sender fell more than a period behind
    "output_jitter_p99_ms",  # worst output's p99 send lateness against its cadence (last 4096 sends)
    "degraded",  # analysers switched to a cheaper mode (graceful degradation)
    "analyser_crashes",
)
INDEX = {name: i for i, name in enumerate(FIELDS)}


class StatusBlock:
    """Named float64 fields in shared (or local) memory."""

    def __init__(self, name: str | None = None, *, create: bool = True, shared: bool = True) -> None:
        self._shm: shared_memory.SharedMemory | None = None
        if shared:
            self._shm = shared_memory.SharedMemory(name=name, create=create, size=8 * len(FIELDS))
            self.values = np.ndarray((len(FIELDS),), dtype=np.float64, buffer=self._shm.buf)
            if create:
                self.values[:] = 0.0
        else:
            self.values = np.zeros(len(FIELDS))
        self._owner = create

    @property
    def name(self) -> str | None:
        return self._shm.name if self._shm else None

    def __getitem__(self, field: str) -> float:
        return float(self.values[INDEX[field]])

    def __setitem__(self, field: str, value: float) -> None:
        self.values[INDEX[field]] = value

    def snapshot(self) -> dict[str, float]:
        v = self.values.copy()
        return {f: float(v[i]) for i, f in enumerate(FIELDS)}

    def close(self) -> None:
        if self._shm is None:
            return
        self.values = np.zeros(len(FIELDS))
        shm, self._shm = self._shm, None
        shm.close()
        if self._owner:
            shm.unlink()
