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
