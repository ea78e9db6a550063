"""The DMX frame model shared by the fixture renderer (writer) and the senders (readers).

A :class:`DmxFrame` holds the 512 slots of each universe of a rig in one preallocated
``uint8`` array of shape ``(n_universes, 512)``. Universe numbers here are the rig's own
(as the patch names them); each output maps them to its protocol's numbering.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

SLOTS = 512


class DmxFrame:
    """Slot values for a fixed set of universes. ``data[i]`` holds universe ``universes[i]``."""

    __slots__ = ("universes", "data", "_row")

    def __init__(self, universes: Iterable[int]) -> None:
        self.universes: tuple[int, ...] = tuple(sorted(set(int(u) for u in universes)))
        self.data = np.zeros((len(self.universes), SLOTS), dtype=np.uint8)
        self._row = {u: i for i, u in enumerate(self.universes)}

    def row(self, universe: int) -> int:
        """Row index of ``universe`` in :attr:`data` (KeyError if the frame lacks it)."""
        return self._row[universe]

    def universe(self, universe: int) -> np.ndarray:
        """A writable view of one universe's 512 slots."""
        return self.data[self._row[universe]]

    def copy_from(self, other: "DmxFrame") -> None:
        """Copy all slot values from a frame with the same universes (no allocation)."""
        np.copyto(self.data, other.data)

    def __contains__(self, universe: object) -> bool:
        return universe in self._row

    def __repr__(self) -> str:
        return f"DmxFrame(universes={self.universes!r})"


class FrameBuffer:
    """Hands complete frames from the show thread (one writer) to sender threads (readers).

    The show writes into :attr:`back` and calls :meth:`publish`; each sender calls
    :meth:`read_into` with its own :class:`DmxFrame` and always gets a complete frame, never a
    half-written one. Nothing is locked and nothing allocated after construction: published
    frames live in a small preallocated ring, each slot guarded by a sequence counter
    (a seqlock: odd while the writer copies into it). A reader copies a slot and checks the
    counter did not move; if it moved (the writer lapped it) the reader takes the newer slot.

    The ring doubles as a delay line for per-output latency offsets: ``publish(stamp)`` tags a
    frame with the time (scheduler clock, seconds) at which its look should be *seen*; an
    output whose lights lag by ``L`` seconds reads with ``read_into(frame, now + L)`` and gets
    the newest frame due by then. So the show renders ``max(L)`` ahead and every output stays
    in step. Unstamped frames are due at once (``-inf``), which makes the ring a plain double
    buffer.
    """

    def __init__(self, universes: Iterable[int], depth: int = 16) -> None:
        if depth < 2:
            raise ValueError("FrameBuffer depth must be at least 2")
        self.back = DmxFrame(universes)
        self.universes = self.back.universes
        self._ring = np.zeros((depth, len(self.universes), SLOTS), dtype=np.uint8)
        self._stamp = [float("-inf")] * depth
        self._seq = [0] * depth
        self._number = [0] * depth  # publish count of the frame in each slot
        self._latest = -1  # ring slot of the newest published frame, -1 before the first
        self.published = 0  # frames published so far

    @property
    def depth(self) -> int:
        """How many published frames the ring keeps."""
        return len(self._seq)

    def publish(self, stamp: float = float("-inf")) -> None:
        """Make the current :attr:`back` frame visible to readers (writer thread only)."""
        slot = (self._latest + 1) % len(self._seq)
        self._seq[slot] += 1  # odd: being written
        np.copyto(self._ring[slot], self.back.data)
        self._stamp[slot] = stamp
        self._number[slot] = self.published + 1
        self._seq[slot] += 1  # even: complete
        self._latest = slot
        self.published += 1

    @staticmethod
    def _copy(dst: np.ndarray, src: np.ndarray) -> None:
        """The reader's copy (a method so tests can interleave a writer into the middle of it)."""
        np.copyto(dst, src)

    def read_into(self, frame: DmxFrame, due: float = float("inf")) -> int:
        """Copy the newest complete frame stamped at or before ``due`` into ``frame``.

        ``frame`` must have the same universes. Returns the publish number of the copied frame
        (1 for the first frame ever published; 0 when nothing due has been published yet, and
        ``frame`` is then left as it was).
        """
        depth = len(self._seq)
        for _attempt in range(4 * depth):
            latest = self._latest
            if latest < 0:
                return 0
            for back in range(depth):
                slot = (latest - back) % depth
                before = self._seq[slot]
                if before & 1 or before == 0:
                    continue
                if self._stamp[slot] > due:
                    continue
                number = self._number[slot]
                self._copy(frame.data, self._ring[slot])
                if self._seq[slot] == before:
                    return number
                break  # the writer reused this slot while we copied: start again from the newest
            else:
                return 0  # nothing due yet
        return 0
