"""The common reader side of every audio source (device or file).

A source owns a :class:`~engine.audio.ring.RingBuffer` that its producer (PortAudio's callback or
a file-feeding thread) writes, and offers :meth:`AudioSource.read` to the one consumer: it
drains the ring into a reusable buffer, selects channels, downmixes to mono, keeps the
:class:`~engine.audio.clock.SampleClock` up to date and returns an :class:`AudioBlock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.audio.block import AudioBlock
from engine.audio.clock import SampleClock
from engine.audio.ring import RingBuffer, RingLayout


@dataclass
class SourceStats:
    """Counters a source exposes to logs, the UI and benchmarks."""

    frames_read: int = 0
    frames_written: int = 0
    blocks: int = 0
    lost_frames: int = 0  # ring overflow: the consumer fell more than the ring's length behind
    input_overflows: int = 0  # PortAudio input overflow flags (xruns before our callback)
    input_underflows: int = 0
    buffer_fill: float = 0.0  # unread share of the ring at the last read

    @property
    def xruns(self) -> int:
        return self.input_overflows + self.input_underflows


class AudioSource:
    """Base of :class:`~engine.audio.stream.AudioInput` and :class:`~engine.audio.filesource.FileSource`.

    ``channels`` selects the ring channels that are mixed to mono (all when None).
    """

    def __init__(
        self,
        sample_rate: int,
        ring_channels: int,
        channels: list[int] | None = None,
        capacity_seconds: float = 4.0,
        read_frames: int = 4096,
        ring: RingBuffer | None = None,
        shared: bool = False,
    ) -> None:
        self.sample_rate = int(sample_rate)
        capacity = max(1024, int(capacity_seconds * self.sample_rate))
        layout = RingLayout(capacity=capacity, channels=ring_channels)
        if ring is None:
            # shared: the ring lives in shared memory so a reader in another process can attach
            ring = RingBuffer.create_shared(layout) if shared else RingBuffer(layout)
        self.ring = ring
        self._select = list(range(ring_channels)) if channels is None else list(channels)
        self._all = self._select == list(range(ring_channels))
        self._scratch = np.zeros((read_frames, ring_channels), dtype=np.float32)
        self._mono = np.zeros(read_frames, dtype=np.float32)
        self.clock = SampleClock(self.sample_rate)
        self._frames_read = 0
        #: Optional observer of block metadata rows (diagnostics, benchmarks); called by read().
        self.on_meta = None

    # Subclasses implement start/stop and set up their producer.
    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self) -> "AudioSource":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def finished(self) -> bool:
        """True when the producer has ended for good and every frame was read."""
        return False

    def close(self) -> None:
        """Stop and release the ring (and its shared memory, when this source created it)."""
        self.stop()
        self.ring.close(unlink=True)


    def read(self, max_frames: int | None = None) -> AudioBlock | None:
        """The oldest unread frames as one mono block, or None when nothing new arrived.

        The returned block's samples are a view into a reusable buffer, valid until the next
        call: copy them to keep them.
        """
        meta = self.ring.read_meta()
        if len(meta):
            self.clock.update(meta)
            if self.on_meta is not None:
                self.on_meta(meta)
        first, n = self.ring.read(self._scratch, max_frames)
        if n == 0:
            return None
        self._frames_read += n
        block = self._scratch[:n]
        mono = self._mono[:n]
        if self._all and block.shape[1] == 1:
            mono[:] = block[:, 0]
        elif self._all:
            np.mean(block, axis=1, out=mono)
        else:
            np.mean(block[:, self._select], axis=1, out=mono)
        return AudioBlock(first, mono, self.sample_rate)

    def stats(self) -> SourceStats:
        c = self.ring.counters()
        return SourceStats(
            frames_read=self._frames_read,
            frames_written=c["frames_written"],
            blocks=c["blocks"],
            lost_frames=self.ring.lost_frames,
            input_overflows=c["input_overflows"],
            input_underflows=c["input_underflows"],
            buffer_fill=self.ring.fill(),
        )


class RingReader(AudioSource):
    """The reader side of a ring written elsewhere (another process): ``read()`` only."""

    def __init__(self, ring: RingBuffer, sample_rate: int, channels: list[int] | None = None,
                 is_finished: "Callable[[], bool] | None" = None) -> None:
        super().__init__(sample_rate, ring.layout.channels, channels, ring=ring)
        self._is_finished = is_finished

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    @property
    def finished(self) -> bool:
        return bool(self._is_finished and self._is_finished() and self.ring.available() <= 0)
