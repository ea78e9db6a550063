"""A single-producer single-consumer audio ring buffer, preallocated in numpy.

Why hand-written: the writer is PortAudio's realtime callback, which must not block, lock or
allocate buffers, and the reader may live in another process (shared memory). Python's
``queue`` and ``collections.deque`` lock and allocate per item; no registry package offers a
lock-free numpy ring that also works across processes, so this one is small and exhaustively
property-tested instead (tests/audio/test_ring.py).

Design: frames are addressed by their *stream frame index* (a 64-bit counter that starts at 0
and never wraps in practice); frame ``f`` lives at slot ``f % capacity``. The writer never waits:
when the reader falls more than ``capacity`` frames behind, the writer overwrites the oldest
frames. The reader detects this after copying, in the style of a sequence lock: the writer
publishes ``pending`` (end of the block it is about to write) before copying and ``committed``
after; any frame older than ``pending - capacity`` may have been overwritten while the reader
copied it, so the reader discards those frames and counts them as lost. Lost frames are thus
counted exactly and the frames a reader returns are never torn, never reordered.

Alongside the samples, a second ring records one entry per written block: its first frame,
its length, the ADC time of its first sample, the callback time, and the status flags of the
callback. The :class:`~engine.audio.clock.SampleClock` is fitted from these entries.

Memory ordering: the counters are aligned int64 stores into numpy arrays. On x86-64 (TSO) stores
become visible in program order and loads are not reordered with older loads, which is all the
protocol needs; within one process the GIL orders them as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

# Indices into the control array (int64).
_PENDING = 0  # frame index one past the block the writer is writing now
_COMMITTED = 1  # frame index one past the last complete block
_META_PENDING = 2
_META_COMMITTED = 3
_BLOCKS = 4  # callbacks seen
_IN_OVERFLOW = 5  # PortAudio input overflow flags (device-side xruns: samples lost before us)
_IN_UNDERFLOW = 6
_OVERSIZE = 7  # blocks larger than capacity (only the newest frames kept)
_READER = 8  # the reader's position, published for writers that may wait (file source, fast mode)
_CTL_LEN = 9

# Columns of the block metadata ring (float64).
META_FRAME = 0
META_FRAMES = 1
META_ADC_TIME = 2
META_CALLBACK_TIME = 3
META_FLAGS = 4
_META_COLS = 5

FLAG_INPUT_UNDERFLOW = 1
FLAG_INPUT_OVERFLOW = 2


@dataclass(frozen=True)
class RingLayout:
    """Sizes that define a ring; a reader in another process rebuilds the ring from it."""

    capacity: int
    channels: int = 1
    meta_capacity: int = 4096

    def nbytes(self) -> int:
        return 8 * _CTL_LEN + 8 * self.meta_capacity * _META_COLS + 4 * self.capacity * self.channels


class RingBuffer:
    """Preallocated SPSC ring of ``float32`` frames with ``channels`` channels.

    One writer (:meth:`write`, realtime-safe) and one reader (:meth:`read`). Build it in local
    memory (``RingBuffer(RingLayout(...))``) or in shared memory (:meth:`create_shared`,
    :meth:`attach`), so the reader can live in another process.
    """

    def __init__(self, layout: RingLayout, buffer: memoryview | None = None) -> None:
        if layout.capacity < 16 or layout.channels < 1 or layout.meta_capacity < 4:
            raise ValueError(f"ring too small: {layout}")
        self.layout = layout
        if buffer is None:
            buffer = memoryview(bytearray(layout.nbytes()))
        self._buffer = buffer
        self._publish_reader = True  # False for secondary readers (monitors), see reader_view()
        off = 0
        self._ctl = np.ndarray((_CTL_LEN,), dtype=np.int64, buffer=buffer, offset=off)
        off += 8 * _CTL_LEN
        self._meta = np.ndarray((layout.meta_capacity, _META_COLS), dtype=np.float64, buffer=buffer, offset=off)
        off += 8 * layout.meta_capacity * _META_COLS
        self._data = np.ndarray((layout.capacity, layout.channels), dtype=np.float32, buffer=buffer, offset=off)
        self._cap = layout.capacity
        self._mcap = layout.meta_capacity
        self._shm: shared_memory.SharedMemory | None = None
        # Reader-side state (lives in the reader's process only).
        self._read_pos = 0
        self._meta_read_pos = 0
        self.lost_frames = 0
        self.lost_blocks = 0
        self.skipped_frames = 0

    # ---- shared memory -------------------------------------------------------------------
    @classmethod
    def create_shared(cls, layout: RingLayout, name: str | None = None) -> "RingBuffer":
        """A ring in a new shared-memory segment; pass ``ring.shm_name`` and the layout to :meth:`attach`."""
        shm = shared_memory.SharedMemory(name=name, create=True, size=layout.nbytes())
        ring = cls(layout, shm.buf)
        ring._ctl[:] = 0
        ring._shm = shm
        return ring

    @classmethod
    def attach(cls, layout: RingLayout, name: str, *, from_oldest: bool = False) -> "RingBuffer":
        """Open an existing shared ring as its reader (typically in another process).

        The reader starts at the newest frame, or at the oldest one still in the ring when
        ``from_oldest``.
        """
        shm = shared_memory.SharedMemory(name=name, create=False)
        ring = cls(layout, shm.buf)
        ring._shm = shm
        committed = int(ring._ctl[_COMMITTED])
        meta_committed = int(ring._ctl[_META_COMMITTED])
        if from_oldest:
            ring._read_pos = max(0, committed - layout.capacity)
            ring._meta_read_pos = max(0, meta_committed - layout.meta_capacity)
        else:
            ring._read_pos = committed
            ring._meta_read_pos = meta_committed
        return ring

    def reader_view(self) -> "RingBuffer":
        """A second, independent reader of the same ring (a monitor such as the UI's waveform).

        It starts at the newest frame, keeps its own position and loss count, and never holds
        the writer back (only the primary reader's position counts for back-pressure).
        """
        view = RingBuffer(self.layout, self._buffer)
        view._publish_reader = False
        view._read_pos = int(self._ctl[_COMMITTED])
        view._meta_read_pos = int(self._ctl[_META_COMMITTED])
        return view

    @property
    def shm_name(self) -> str | None:
        return self._shm.name if self._shm else None

    def close(self, unlink: bool = False) -> None:
        """Release the shared-memory mapping (and remove the segment when ``unlink``)."""
        if self._shm is None:
            return
        # Drop our views before closing the mapping.
        self._ctl = self._meta = self._data = None  # type: ignore[assignment]
        self._buffer = None  # type: ignore[assignment]
        shm, self._shm = self._shm, None
        shm.close()
        if unlink:
            shm.unlink()

    # ---- writer (realtime) ---------------------------------------------------------------
    def write(self, block: np.ndarray, adc_time: float = 0.0, callback_time: float = 0.0, flags: int = 0) -> None:
        """Append ``block`` (``(n, channels)`` float32) and its metadata. Never blocks.

        Realtime contract: copies into preallocated memory and updates counters; no buffer is
        allocated, no lock taken, nothing logged. Called by exactly one writer.
        """
        ctl = self._ctl
        n = block.shape[0]
        start = int(ctl[_COMMITTED])
        end = start + n
        src = block
        first_frame = start
        if n > self._cap:  # keep only the newest `capacity` frames of an oversized block
            ctl[_OVERSIZE] += 1
            src = block[n - self._cap :]
            first_frame = end - self._cap
        m = src.shape[0]
        ctl[_PENDING] = end
        i = first_frame % self._cap
        k = self._cap - i
        if m <= k:
            self._data[i : i + m] = src
        else:
            self._data[i:] = src[:k]
            self._data[: m - k] = src[k:]
        ctl[_COMMITTED] = end

        mw = int(ctl[_META_COMMITTED])
        ctl[_META_PENDING] = mw + 1
        row = self._meta[mw % self._mcap]
        row[META_FRAME] = start
        row[META_FRAMES] = n
        row[META_ADC_TIME] = adc_time
        row[META_CALLBACK_TIME] = callback_time
        row[META_FLAGS] = flags
        ctl[_META_COMMITTED] = mw + 1
        ctl[_BLOCKS] += 1
        if flags:
            if flags & FLAG_INPUT_OVERFLOW:
                ctl[_IN_OVERFLOW] += 1
            if flags & FLAG_INPUT_UNDERFLOW:
                ctl[_IN_UNDERFLOW] += 1

    # ---- reader --------------------------------------------------------------------------
    @property
    def write_position(self) -> int:
        """Frame index one past the newest complete frame."""
        return int(self._ctl[_COMMITTED])

    @property
    def read_position(self) -> int:
        """Frame index of the next frame :meth:`read` returns."""
        return self._read_pos

    def free_space(self) -> int:
        """Frames the writer can add before it overwrites unread frames (writer side)."""
        return self._cap - (int(self._ctl[_COMMITTED]) - int(self._ctl[_READER]))

    def available(self) -> int:
        """Frames written and not yet read (may exceed capacity when the reader fell behind)."""
        return int(self._ctl[_COMMITTED]) - self._read_pos

    def fill(self) -> float:
        """Unread frames as a share of capacity (1.0 or more means frames are being lost)."""
        return self.available() / self._cap

    def read(self, out: np.ndarray, max_frames: int | None = None) -> tuple[int, int]:
        """Copy the oldest unread frames into ``out`` (``(k, channels)`` float32).

        Returns ``(first_frame, n)``: the stream frame index of ``out[0]`` and how many frames
        were copied (``n <= min(len(out), max_frames)``, 0 when nothing is new). Frames that
        were overwritten before the reader got them are skipped and added to
        :attr:`lost_frames`; the returned frames are contiguous from ``first_frame``.
        """
        limit = out.shape[0] if max_frames is None else min(out.shape[0], max_frames)
        committed = int(self._ctl[_COMMITTED])
        start = self._read_pos
        oldest = committed - self._cap
        if start < oldest:  # already overwritten before we began
            self.lost_frames += oldest - start
            start = oldest
        n = min(committed - start, limit)
        if n <= 0:
            self._read_pos = start
            return start, 0
        i = start % self._cap
        k = self._cap - i
        if n <= k:
            out[:n] = self._data[i : i + n]
        else:
            out[:k] = self._data[i:]
            out[k:n] = self._data[: n - k]
        # Validate: frames below pending - capacity may have been overwritten while we copied.
        safe_from = int(self._ctl[_PENDING]) - self._cap
        if start < safe_from:
            torn = min(safe_from - start, n)
            self.lost_frames += torn
            n -= torn
            if n > 0:
                out[:n] = out[torn : torn + n].copy()
            start += torn
        self._read_pos = start + n
        if self._publish_reader:
            self._ctl[_READER] = self._read_pos
        return start, n

    def skip_to_newest(self, keep: int = 0) -> int:
        """Drop unread frames except the newest ``keep`` (a reader that chose to catch up);
        returns how many were dropped, counted in :attr:`skipped_frames`, not as lost."""
        committed = int(self._ctl[_COMMITTED])
        target = max(self._read_pos, committed - keep)
        dropped = target - self._read_pos
        self.skipped_frames += dropped
        self._read_pos = target
        self._ctl[_READER] = target
        return dropped

    def read_meta(self) -> np.ndarray:
        """Metadata rows of the blocks written since the last call (oldest first), a copy.

        Columns: ``META_FRAME``, ``META_FRAMES``, ``META_ADC_TIME``, ``META_CALLBACK_TIME``,
        ``META_FLAGS``. Rows overwritten before they were read are counted in :attr:`lost_blocks`.
        """
        committed = int(self._ctl[_META_COMMITTED])
        start = self._meta_read_pos
        oldest = committed - self._mcap
        if start < oldest:
            self.lost_blocks += oldest - start
            start = oldest
        n = committed - start
        if n <= 0:
            return np.empty((0, _META_COLS))
        idx = np.arange(start, committed) % self._mcap
        rows = self._meta[idx].copy()
        safe_from = int(self._ctl[_META_PENDING]) - self._mcap
        if start < safe_from:
            torn = min(safe_from - start, n)
            self.lost_blocks += torn
            rows = rows[torn:]
        self._meta_read_pos = committed
        return rows

    # ---- counters ------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Writer-side counters: blocks written, PortAudio input overflow/underflow flags, oversize blocks."""
        c = self._ctl
        return {
            "blocks": int(c[_BLOCKS]),
            "input_overflows": int(c[_IN_OVERFLOW]),
            "input_underflows": int(c[_IN_UNDERFLOW]),
            "oversize_blocks": int(c[_OVERSIZE]),
            "frames_written": int(c[_COMMITTED]),
        }
