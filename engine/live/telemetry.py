"""Telemetry: what the engine shows the world, in shared memory, read without locks.

The analysis process writes, once per show frame, the DMX frame it published, every fixture's
rendered attributes (intensity, colour, pan/tilt, zoom, strobe, pixel cells), and appends
analysis events (beats, onsets, notes, sections, tempo) to an event ring. Readers (the monitor
UI, the OSC status query, benchmarks) copy what they need at their own pace. The DMX and
attribute blocks are guarded by a sequence counter (odd while written): a reader that sees it
move retries, so it never gets a half-written frame; the event ring follows the same protocol
as the audio ring's metadata.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Iterable

import numpy as np

from engine.features import FeatureEvent

MAX_UNIVERSES = 64
MAX_FIXTURES = 2048
MAX_CELLS = 8192
EVENT_CAPACITY = 2048

# Event kinds in the ring (column KIND); the meaning of A and B depends on the kind.
BEAT, ONSET, NOTE_ON, NOTE_OFF, SECTION, TEMPO = 1, 2, 3, 4, 5, 6
KIND_NAMES = {BEAT: "beat", ONSET: "onset", NOTE_ON: "note_on", NOTE_OFF: "note_off", SECTION: "section", TEMPO: "tempo"}
ONSET_LABELS = ("", "kick", "snare", "hihat")
STEMS = ("mix", "drums", "bass", "vocals", "other")
SECTIONS = ("", "buildup", "drop", "breakdown", "breakdown_start", "breakdown_end", "silence", "music_start",
            "track_change", "phrase")
# Event ring columns.
E_TIME, E_DETECTED, E_KIND, E_VALUE, E_A, E_B = range(6)
_ECOLS = 6

_CTL = 8  # int64: [seq, universes, fixtures, cells, event_pending, event_committed, frame, generation]


@dataclass(frozen=True)
class FixtureView:
    """A copy of every fixture's rendered attributes at one show frame."""

    frame: int
    intensity: np.ndarray  # (n,) 0..1
    color: np.ndarray  # (n, 3) linear RGB 0..1
    pan: np.ndarray  # degrees
    tilt: np.ndarray
    zoom: np.ndarray
    strobe: np.ndarray  # Hz
    cell_intensity: np.ndarray  # (cells,)
    cell_color: np.ndarray  # (cells, 3)


def _layout() -> list[tuple[str, tuple[int, ...], type]]:
    return [
        ("ctl", (_CTL,), np.int64),
        ("universes", (MAX_UNIVERSES,), np.int64),
        ("dmx", (MAX_UNIVERSES, 512), np.uint8),
        ("fix", (6, MAX_FIXTURES), np.float32),  # intensity, pan, tilt, zoom, strobe, spare
        ("color", (MAX_FIXTURES, 3), np.float32),
        ("cell_i", (MAX_CELLS,), np.float32),
        ("cell_c", (MAX_CELLS, 3), np.float32),
        ("events", (EVENT_CAPACITY, _ECOLS), np.float64),
    ]


def _nbytes() -> int:
    return sum(int(np.prod(shape)) * np.dtype(dt).itemsize for _, shape, dt in _layout())


class Telemetry:
    """The shared telemetry block. Create it in the main process (``Telemetry()``), open it in
    the worker with ``Telemetry(name, create=False)``; ``shared=False`` for one process."""

    def __init__(self, name: str | None = None, *, create: bool = True, shared: bool = True) -> None:
        self._shm = None
        if shared:
            self._shm = shared_memory.SharedMemory(name=name, create=create, size=_nbytes())
            buf = self._shm.buf
        else:
            buf = memoryview(bytearray(_nbytes()))
        off = 0
        for field_name, shape, dt in _layout():
            arr = np.ndarray(shape, dtype=dt, buffer=buf, offset=off)
            setattr(self, "_" + field_name, arr)
            off += arr.nbytes
        if create:
            self._ctl[:] = 0
        self._owner = create
        self._event_read = int(self._ctl[5])
        self.lost_events = 0

    @property
    def name(self) -> str | None:
        return self._shm.name if self._shm else None

    # -- writer (analysis process) -----------------------------------------------------------
    def publish_frame(self, frame: int, dmx, attrs=None) -> None:  # noqa: ANN001
        """Copy the DMX frame (and the attribute frame, when given) for readers."""
        ctl = self._ctl
        ctl[0] += 1  # odd: writing
        nu = min(len(dmx.universes), MAX_UNIVERSES)
        self._universes[:nu] = dmx.universes[:nu]
        self._dmx[:nu] = dmx.data[:nu]
        ctl[1] = nu
        if attrs is not None:
            n = min(attrs.n_fixtures, MAX_FIXTURES)
            fix = self._fix
            for row, arr in enumerate((attrs.intensity, attrs.pan, attrs.tilt, attrs.zoom, attrs.strobe)):
                fix[row, :n] = arr[:n]
            self._color[:n] = attrs.color[:n]
            c = min(attrs.n_cells, MAX_CELLS)
            self._cell_i[:c] = attrs.cell_intensity[:c]
            self._cell_c[:c] = attrs.cell_color[:c]
            ctl[2] = n
            ctl[3] = c
        ctl[6] = frame
        ctl[0] += 1  # even: complete

    def publish_events(self, events: Iterable[FeatureEvent]) -> None:
        """Append the events the UI shows (beats, onsets, notes, sections, tempo)."""
        ctl = self._ctl
        for ev in events:
            row = _encode(ev)
            if row is None:
                continue
            w = int(ctl[5])
            ctl[4] = w + 1
            self._events[w % EVENT_CAPACITY] = row
            ctl[5] = w + 1

    def set_generation(self, generation: int) -> None:
        self._ctl[7] = generation

    # -- readers -----------------------------------------------------------------------------
    def read_dmx(self) -> tuple[int, dict[int, np.ndarray]]:
        """``(frame, {universe: 512 slots})`` of the newest published frame."""
        for _ in range(100):
            s0 = int(self._ctl[0])
            if s0 & 1:
                time.sleep(0)  # let the writer (maybe a thread of this process) finish
                continue
            nu = int(self._ctl[1])
            unis = self._universes[:nu].copy()
            data = self._dmx[:nu].copy()
            frame = int(self._ctl[6])
            if int(self._ctl[0]) == s0:
                return frame, {int(u): data[i] for i, u in enumerate(unis)}
            time.sleep(0)
        return int(self._ctl[6]), {}

    def read_fixtures(self) -> FixtureView:
        """Every fixture's attributes at the newest frame (NaN = not set by the show)."""
        for _ in range(100):
            s0 = int(self._ctl[0])
            if s0 & 1:
                time.sleep(0)
                continue
            n, c = int(self._ctl[2]), int(self._ctl[3])
            fix = self._fix[:, :n].copy()
            view = FixtureView(int(self._ctl[6]), fix[0], self._color[:n].copy(), fix[1], fix[2], fix[3], fix[4],
                               self._cell_i[:c].copy(), self._cell_c[:c].copy())
            if int(self._ctl[0]) == s0:
                return view
            time.sleep(0)
        z = np.zeros(0, np.float32)
        return FixtureView(0, z, np.zeros((0, 3), np.float32), z, z, z, z, z, np.zeros((0, 3), np.float32))

    def read_events(self) -> np.ndarray:
        """Event rows appended since this reader's last call (columns ``E_*``), oldest first."""
        committed = int(self._ctl[5])
        start = max(self._event_read, committed - EVENT_CAPACITY)
        self.lost_events += start - self._event_read
        if committed <= start:
            self._event_read = committed
            return np.zeros((0, _ECOLS))
        rows = self._events[np.arange(start, committed) % EVENT_CAPACITY].copy()
        safe = int(self._ctl[4]) - EVENT_CAPACITY
        if start < safe:
            rows = rows[safe - start :]
        self._event_read = committed
        return rows

    @property
    def generation(self) -> int:
        return int(self._ctl[7])

    def close(self) -> None:
        if self._shm is None:
            return
        for field_name, _, _ in _layout():
            setattr(self, "_" + field_name, None)
        shm, self._shm = self._shm, None
        shm.close()
        if self._owner:
            shm.unlink()


def _encode(ev: FeatureEvent) -> tuple[float, ...] | None:
    d = ev.data or {}
    if ev.name == "beat":
        return (ev.time, ev.detected_at, BEAT, ev.value, float(d.get("position", 0) or 0), float(d.get("bpm", 0.0) or 0.0))
    if ev.name == "onset":
        label = d.get("label") or ""
        stem = d.get("stem") or "mix"
        return (ev.time, ev.detected_at, ONSET, ev.value,
                float(ONSET_LABELS.index(label)) if label in ONSET_LABELS else 0.0,
                float(STEMS.index(stem)) if stem in STEMS else 0.0)
    if ev.name in ("note_on", "note_off"):
        return (ev.time, ev.detected_at, NOTE_ON if ev.name == "note_on" else NOTE_OFF, ev.value,
                float(d.get("pitch", 0)), float(d.get("velocity", 0)))
    if ev.name == "section":
        kind = d.get("kind") or d.get("section") or ""
        return (ev.time, ev.detected_at, SECTION, ev.value, float(SECTIONS.index(kind)) if kind in SECTIONS else 0.0,
                float(d.get("confidence", 0.0) or 0.0))
    if ev.name == "tempo":
        return (ev.time, ev.detected_at, TEMPO, ev.value, float(d.get("confidence", 0.0) or 0.0), 0.0)
    return None
