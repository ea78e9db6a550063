"""A :class:`~engine.output.frame.FrameBuffer` in shared memory, for senders in another process.

Why: the DMX senders need the interpreter lock of the process they run in. In the engine
worker they share it with the analysis, and pure-Python analysis work then delays sends by
tens of milliseconds (``beamsync bench starvation``, docs/reliability.md). With the frame ring
in shared memory the senders can run in a process of their own
(:class:`~engine.output.process.OutputProcess`) and read complete frames from it without any
lock, exactly as they read a :class:`FrameBuffer` in-process.

Layout of the one shared block (all little-endian, every field naturally aligned)::

    header  int64[8]      magic, version, depth, n_universes, latest slot (-1 before the
                          first frame), frames published, 0, 0
    univ    int64[n]      the universe numbers (so :meth:`SharedFrameBuffer.attach` needs
                          only the name)
    seq     int64[depth]  seqlock counter of each slot: odd while the writer copies into it
    number  int64[depth]  publish number of the frame in each slot
    stamp   float64[depth] the time each slot's frame is due (see FrameBuffer: delay line)
    ring    uint8[depth, n, 512]

Semantics are those of :class:`FrameBuffer` (same tests, ``tests/output/test_shared_frame.py``).
The writer's :attr:`~SharedFrameBuffer.back` frame is private to each process (it is where
the writer renders before :meth:`~SharedFrameBuffer.publish`); only published frames are
shared.

Memory ordering (the argument ``engine/audio/ring.py`` makes, applied to a seqlock): the
writer stores ``seq`` odd, then the slot's data, stamp and number, then ``seq`` even, then
``latest`` and the publish count, each counter one aligned 8-byte store (a single ``mov``
from numpy's scalar assignment, so never torn). The reader loads ``latest``, then ``seq``,
stamp and number, copies the data, and loads ``seq`` again. On x86-64 (TSO) stores become
visible to the other process in program order and a load is never reordered with an older
load, so: if the reader's first ``seq`` load saw the even value a write ended with, it sees
that write's data (or newer); and if any of the data it copied came from a later write into
the same slot, that write's odd ``seq`` store was visible before its data, so the second
``seq`` load differs and the copy is discarded. Equal and even ``seq`` before and after
therefore means a whole frame, never a half-written one. Across processes there is no GIL to
order anything, so this argument is all there is: a port to a weakly ordered CPU (ARM) needs
a fence between the data copy and the second ``seq`` load (and between the writer's stores),
which Python cannot express; until then the shared buffer is for x86-64, like the audio ring.
"""

from __future__ import annotations

from multiprocessing import shared_memory
from typing import Iterable

import numpy as np

from engine.output.frame import SLOTS, DmxFrame, FrameBuffer

_MAGIC = 0x6265616D_66726D31  # "beamfrm1"
_VERSION = 1
_HEADER = 8
# header fields
_H_MAGIC, _H_VERSION, _H_DEPTH, _H_N, _H_LATEST, _H_PUBLISHED = range(6)


def _layout(depth: int, n: int) -> tuple[int, int, int, int, int, int]:
    """Byte offsets of univ, seq, number, stamp, ring and the total size."""
    univ = 8 * _HEADER
    seq = univ + 8 * n
    number = seq + 8 * depth
    stamp = number + 8 * depth
    ring = stamp + 8 * depth
    return univ, seq, number, stamp, ring, ring + depth * n * SLOTS


class SharedFrameBuffer(FrameBuffer):
    """:class:`FrameBuffer` whose published frames live in one shared-memory block.

    Build it with the universes (the creator owns the block and unlinks it in
    :meth:`close`); in the reading process open it with :meth:`attach` (name only). One writer
    process, any number of reader threads in any processes. Nothing is locked and nothing
    allocated in :meth:`publish` and :meth:`read_into`. See the module docstring for the
    layout and the memory-ordering argument.
    """

    def __init__(self, universes: Iterable[int], depth: int = 16, *, name: str | None = None) -> None:
        if depth < 2:
            raise ValueError("FrameBuffer depth must be at least 2")
        back = DmxFrame(universes)
        n = len(back.universes)
        size = _layout(depth, n)[-1]
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        self._setup(shm, back, depth, owner=True)
        h = self._header
        h[:] = 0
        h[_H_MAGIC], h[_H_VERSION], h[_H_DEPTH], h[_H_N] = _MAGIC, _VERSION, depth, n
        h[_H_LATEST] = -1
        self._univ[:] = back.universes
        self._stamp[:] = float("-inf")
        # seq, number and the ring start at zero (a new block is zero-filled; set it anyway)
        self._seq[:] = 0
        self._number[:] = 0
        self._ring[:] = 0

    @classmethod
    def attach(cls, name: str) -> "SharedFrameBuffer":
        """Open a shared buffer made by another process (as reader; :meth:`close` only unmaps)."""
        shm = shared_memory.SharedMemory(name=name, create=False)
        try:
            header = np.ndarray((_HEADER,), dtype=np.int64, buffer=shm.buf)
            if int(header[_H_MAGIC]) != _MAGIC or int(header[_H_VERSION]) != _VERSION:
                raise ValueError(f"shared memory {name!r} is not a beamsync frame buffer")
            depth, n = int(header[_H_DEPTH]), int(header[_H_N])
            universes = np.ndarray((n,), dtype=np.int64, buffer=shm.buf, offset=8 * _HEADER).tolist()
            del header
        except BaseException:
            shm.close()
            raise
        self = cls.__new__(cls)
        self._setup(shm, DmxFrame(universes), depth, owner=False)
        return self

    def _setup(self, shm: shared_memory.SharedMemory, back: DmxFrame, depth: int, *, owner: bool) -> None:
        n = len(back.universes)
        univ, seq, number, stamp, ring, _size = _layout(depth, n)
        buf = shm.buf
        self._shm = shm
        self._owner = owner
        self.back = back
        self.universes = back.universes
        self._depth = depth
        self._header = np.ndarray((_HEADER,), dtype=np.int64, buffer=buf)
        self._univ = np.ndarray((n,), dtype=np.int64, buffer=buf, offset=univ)
        self._seq = np.ndarray((depth,), dtype=np.int64, buffer=buf, offset=seq)
        self._number = np.ndarray((depth,), dtype=np.int64, buffer=buf, offset=number)
        self._stamp = np.ndarray((depth,), dtype=np.float64, buffer=buf, offset=stamp)
        self._ring = np.ndarray((depth, n, SLOTS), dtype=np.uint8, buffer=buf, offset=ring)

    # -- FrameBuffer interface ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The shared-memory block's name (hand it to :meth:`attach`)."""
        return self._shm.name

    @property
    def depth(self) -> int:
        """How many published frames the ring keeps."""
        return self._depth

    @property
    def published(self) -> int:  # type: ignore[override]
        """Frames published so far (by the writer, whichever process asks)."""
        return int(self._header[_H_PUBLISHED])

    def publish(self, stamp: float = float("-inf")) -> None:
        """Make the current :attr:`back` frame visible to readers (the writer process only)."""
        h = self._header
        seq = self._seq
        published = int(h[_H_PUBLISHED])
        slot = (int(h[_H_LATEST]) + 1) % self._depth
        seq[slot] += 1  # odd: being written (stored before any byte of the data)
        np.copyto(self._ring[slot], self.back.data)
        self._stamp[slot] = stamp
        self._number[slot] = published + 1
        seq[slot] += 1  # even: complete (stored after the whole frame)
        h[_H_LATEST] = slot
        h[_H_PUBLISHED] = published + 1

    def read_into(self, frame: DmxFrame, due: float = float("inf")) -> int:
        """Copy the newest complete frame stamped at or before ``due`` into ``frame``.

        As :meth:`FrameBuffer.read_into`: returns the publish number of the copied frame, 0
        when nothing due has been published yet (``frame`` is then left as it was).
        """
        depth = self._depth
        h, seq, stamps, numbers, ring = self._header, self._seq, self._stamp, self._number, self._ring
        for _attempt in range(4 * depth):
            latest = int(h[_H_LATEST])
            if latest < 0:
                return 0
            for back in range(depth):
                slot = (latest - back) % depth
                before = int(seq[slot])
                if before & 1 or before == 0:
                    continue
                if stamps[slot] > due:
                    continue
                number = int(numbers[slot])
                self._copy(frame.data, ring[slot])
                if int(seq[slot]) == before:
                    return number
                break  # the writer reused this slot while we copied: start again from the newest
            else:
                return 0  # nothing due yet
        return 0

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the views and unmap the block; the creator also removes it (unlink)."""
        shm = getattr(self, "_shm", None)
        if shm is None:
            return
        self._header = self._univ = self._seq = self._number = self._stamp = self._ring = None  # type: ignore[assignment]
        self._shm = None  # type: ignore[assignment]
        shm.close()
        if self._owner:
            try:
                shm.unlink()
            except FileNotFoundError:
                pass

    def __repr__(self) -> str:
        return f"SharedFrameBuffer(universes={self.universes!r}, depth={self._depth}, name={self.name!r})"
