"""The output scheduler: every output on its own fixed cadence, off the audio and show threads.

Each output is due every ``1 / rate`` seconds on a fixed grid that starts when it is added
(``due[k] = t0 + k * period``): a late send does not shift the next one, so there is no drift.
If a sender falls more than one period behind (a stalled machine), the slots it missed are
skipped and counted rather than sent in a burst.

Two ways to drive it:

* ``tick(now)``: the caller supplies the time; tests use made-up times and fake sockets and
  never sleep.
* ``start()`` / ``stop()``: background threads use the injected ``clock`` (``time.monotonic``
  by default). Network senders share one thread (their sockets never block); a sender that may
  block (a serial port at 250 kbaud takes 23 ms per universe) gets its own thread, so it can
  never delay the others.

The show thread only writes the :class:`~engine.output.frame.FrameBuffer`; nothing here
touches the audio callback. Per-output rate and latency offset are exposed as data
(:meth:`OutputScheduler.timing`) so the show can render ``lead`` seconds ahead.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from engine.output.base import OutputError, Sender, snapshot_of
from engine.output.stats import OutputSnapshot


@dataclass(frozen=True)
class OutputTiming:
    """An output's cadence and latency offset, as the show schedules against them."""

    name: str
    kind: str
    rate: float
    latency_ms: float

    @property
    def period(self) -> float:
        """Seconds between sends."""
        return 1.0 / self.rate


class _Slot:
    __slots__ = ("sender", "period", "due", "last")

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.period = 1.0 / sender.config.rate
        self.due: float | None = None  # first tick sets the grid origin
        self.last = float("-inf")  # time of the last send


class OutputScheduler:
    """Runs senders at their rates with a fixed cadence; see the module docstring."""

    def __init__(self, senders: Iterable[Sender], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._slots = [_Slot(s) for s in senders]
        names = [s.sender.config.name for s in self._slots]
        if len(set(names)) != len(names):
            raise OutputError(f"output names must be unique, got {names}")
        self.clock = clock
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by kick() and stop(): lanes re-check their slots
        self._closed = False
        self.realtime_priority: int | None = None
        #: Why the realtime priority could not be set (None when it was, or was not asked for).
        self.priority_error: str | None = None

    # -- data for the show ---------------------------------------------------------------------

    @property
    def senders(self) -> list[Sender]:
        """The scheduled senders, in the order given."""
        return [s.sender for s in self._slots]

    def timing(self) -> list[OutputTiming]:
        """Rate and latency offset of every output."""
        return [
            OutputTiming(s.sender.config.name, s.sender.config.type, s.sender.config.rate, s.sender.config.latency_ms)
            for s in self._slots
        ]

    @property
    def lead(self) -> float:
        """Seconds the show must render ahead: the largest latency offset (0 without outputs)."""
        return max((s.sender.config.latency_ms for s in self._slots), default=0.0) / 1000.0

    def snapshot(self) -> list[OutputSnapshot]:
        """Counters of every output (packets, errors, fps, send jitter); safe from any thread."""
        return [snapshot_of(s.sender) for s in self._slots]

    # -- driving -------------------------------------------------------------------------------

    def tick(self, now: float) -> int:
        """Run every output due at ``now``; returns how many sent. Deterministic (no sleeping)."""
        return sum(self._run_slot(slot, now) for slot in self._slots)

    def next_due(self) -> float | None:
        """The earliest time an output is due (None before the first tick)."""
        dues = [s.due for s in self._slots if s.due is not None]
        return min(dues) if dues else None

    @staticmethod
    def _run_slot(slot: _Slot, now: float) -> int:
        if slot.due is None:
            slot.due = now
        if now < slot.due:
            return 0
        due = slot.due
        sender = slot.sender
        slot.last = now
        sender.stats.record_tick(due, now)
        try:
            sender.send(now)
        except Exception as exc:  # a sender bug must not stop the other outputs or the show
            sender.stats.error(f"{type(exc).__name__}: {exc}")
        nxt = due + slot.period
        if nxt <= now:
            skipped = int((now - nxt) // slot.period) + 1
            sender.stats.missed += skipped
            nxt += skipped * slot.period
        slot.due = nxt
        return 1

    def kick(self, now: float | None = None) -> None:
        """Send every output now instead of at its next cadence slot ("low-latency flash").

        For an onset that must reach the fixtures before the next regular frame: each output
        sends at once and its cadence restarts from ``now``. Safe from any thread.
        """
        t = self.clock() if now is None else now
        for slot in self._slots:
            # Never closer than a quarter period to the last send (at most 4x the output's
            # rate), so a dense passage of onsets cannot flood a node; a kick that comes
            # sooner is deferred to that quarter period, not dropped (an onset detected just
            # after a beat-locked frame still goes out within a few ms).
            when = max(t, slot.last + 0.25 * slot.period)
            if slot.due is not None and slot.due > when:
                slot.due = when
        self._wake.set()

    def start(self, *, realtime_priority: int | None = None) -> None:
        """Start the background threads (network outputs share one; blocking ones get their own).

        ``realtime_priority`` (1-99) asks for SCHED_FIFO on the sender threads, so a busy
        machine delays sends less; it needs CAP_SYS_NICE (or root). When refused, the threads
        run at normal priority and :attr:`priority_error` says why.
        """
        if self._threads:
            return
        self.realtime_priority = realtime_priority
        self._stop.clear()
        shared = [s for s in self._slots if not getattr(s.sender, "blocking", False)]
        lanes = ([shared] if shared else []) + [[s] for s in self._slots if getattr(s.sender, "blocking", False)]
        for i, lane in enumerate(lanes):
            names = ",".join(s.sender.config.name for s in lane)
            t = threading.Thread(target=self._lane, args=(lane,), name=f"beamsync-output-{i}[{names}]", daemon=True)
            self._threads.append(t)
            t.start()

    def _lane(self, lane: list[_Slot]) -> None:
        if self.realtime_priority is not None:
            try:  # pid 0: this thread only (Linux schedules threads individually)
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
            except (OSError, AttributeError) as exc:
                self.priority_error = f"SCHED_FIFO {self.realtime_priority}: {exc}"
        clock, stop, wake = self.clock, self._stop, self._wake
        while not stop.is_set():
            now = clock()
            for slot in lane:
                self._run_slot(slot, now)
            due_next = min(s.due for s in lane if s.due is not None)
            delay = due_next - clock()
            if delay > 0:
                wake.wait(delay)
                wake.clear()

    def stop(self, *, close: bool = True) -> None:
        """Stop the threads; with ``close`` also close every sender (sACN stream termination)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []
        if close and not self._closed:
            self._closed = True
            for slot in self._slots:
                try:
                    slot.sender.close()
                except Exception as exc:  # report, keep closing the others
                    slot.sender.stats.error(f"close: {type(exc).__name__}: {exc}")

    def __enter__(self) -> "OutputScheduler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
