"""A file played into the same ring buffer as live input: paced in real time or as fast as possible."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from engine.audio.file import load_audio
from engine.audio.source import AudioSource


class FileSource(AudioSource):
    """Feeds an audio file (or an in-memory signal) through the ring buffer.

    ``realtime=True`` paces blocks on the monotonic clock with absolute deadlines (no drift), as
    a sound card would; ``realtime=False`` writes as fast as the reader drains the ring (it
    waits for room, so nothing is lost). ``loop`` restarts at the end (frame indices keep
    counting). The file is resampled to ``sample_rate`` with soxr when its rate differs.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        sample_rate: int | None = None,
        *,
        samples: np.ndarray | None = None,
        block_size: int = 256,
        realtime: bool = True,
        loop: bool = False,
        capacity_seconds: float = 4.0,
        shared: bool = False,
    ) -> None:
        if samples is None:
            if path is None:
                raise ValueError("FileSource needs a path or samples")
            samples, rate = load_audio(path, sample_rate, mono=True)
        else:
            if sample_rate is None:
                raise ValueError("sample_rate is required with samples")
            rate = sample_rate
        self.name = str(path) if path is not None else "<signal>"
        super().__init__(rate, 1, None, capacity_seconds, shared=shared)
        self.samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1, 1)
        self.block_size = int(block_size)
        self.realtime = realtime
        self.loop = loop
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self.late_blocks = 0  # realtime mode: blocks written more than one block period late

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._done.clear()
        self._thread = threading.Thread(target=self._feed, name="beamsync-file-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None:
            t.join(timeout=2.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the whole file was written (never returns True when looping)."""
        return self._done.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._done.is_set() and self.ring.available() == 0

    def _feed(self) -> None:
        n_total = len(self.samples)
        bs = self.block_size
        period = bs / self.sample_rate
        t0 = time.monotonic() + 0.01
        written = 0  # frames written to the ring
        pos = 0  # position in the file
        while not self._stop.is_set():
            if pos >= n_total:
                if not self.loop:
                    break
                pos = 0
            n = min(bs, n_total - pos)
            block = self.samples[pos : pos + n]
            if self.realtime:
                # The block's last sample is "captured" at its deadline, like a sound card.
                deadline = t0 + (written + n) / self.sample_rate
                delay = deadline - time.monotonic()
                if delay > 0:
                    if self._stop.wait(delay):
                        break
                elif delay < -period:
                    self.late_blocks += 1
                adc = t0 + written / self.sample_rate
                self.ring.write(block, adc, time.monotonic(), 0)
            else:
                while self.ring.free_space() < n and not self._stop.is_set():
                    time.sleep(0.0005)
                self.ring.write(block, t0 + written / self.sample_rate, t0 + (written + n) / self.sample_rate, 0)
            written += n
            pos += n
        self._done.set()
