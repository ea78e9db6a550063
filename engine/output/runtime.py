"""All of a show's outputs behind one object: what ``beamsync run`` wires to the show.

:class:`Outputs` builds the :class:`~engine.output.frame.FrameBuffer` (every universe the
patch or an output names), one sender per enabled output and the
:class:`~engine.output.scheduler.OutputScheduler`. The show thread calls :meth:`Outputs.publish`
with the frame it rendered and :meth:`Outputs.post` with feature events for OSC targets;
everything else happens on the sender threads.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import numpy as np

from engine.features import FeatureEvent
from engine.output.base import Sender
from engine.output.config import OutputConfig
from engine.output.frame import DmxFrame, FrameBuffer
from engine.output.registry import create_senders, osc_senders, rig_universes
from engine.output.scheduler import OutputScheduler, OutputTiming
from engine.output.stats import OutputSnapshot


class Outputs:
    """A show's outputs: frame hand-over, OSC fan-out, scheduling, counters.

    ``universes`` are the rig universes the patch uses; universes only an output names are
    added (they are sent as they are, all zero unless something writes them).
    ``sender_factory(config, buffer)`` replaces the registry's constructors (tests inject fake
    sockets that way); disabled outputs get no sender either way. ``buffer`` hands in a frame
    buffer built elsewhere (with at least those universes) instead of a new one: the
    :class:`~engine.output.process.OutputProcess` passes its shared-memory buffer.
    """

    def __init__(
        self, configs: Iterable[OutputConfig], universes: Iterable[int] = (), *,
        clock: Callable[[], float] = time.monotonic, depth: int = 16,
        sender_factory: Callable[[OutputConfig, FrameBuffer], Sender] | None = None,
        buffer: FrameBuffer | None = None,
    ) -> None:  # fmt: skip
        self.configs = [c for c in configs]
        wanted = sorted(set(int(u) for u in universes) | set(rig_universes(self.configs)))
        self.buffer = buffer if buffer is not None else FrameBuffer(wanted, depth=depth)
        if sender_factory is None:
            self.senders = create_senders(self.configs, self.buffer)
        else:
            self.senders = [sender_factory(c, self.buffer) for c in self.configs if c.enabled]
        self.scheduler = OutputScheduler(self.senders, clock=clock)
        self._osc = osc_senders(self.senders)
        self._rows: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    # -- show side ---------------------------------------------------------------------------

    def publish(self, frame: DmxFrame | None = None, stamp: float = float("-inf")) -> None:
        """Hand a rendered frame to the senders.

        With ``frame``, its universes that the buffer has are copied into the back frame first
        (the index mapping is computed once per distinct universe set); without, whatever was
        written into :attr:`back` goes out. ``stamp``: see :class:`FrameBuffer`.
        """
        if frame is not None:
            mapping = self._rows.get(frame.universes)
            if mapping is None:
                pairs = [(i, self.buffer.back.row(u)) for i, u in enumerate(frame.universes) if u in self.buffer.back]
                src = np.array([p[0] for p in pairs], dtype=np.intp)
                dst = np.array([p[1] for p in pairs], dtype=np.intp)
                mapping = self._rows[frame.universes] = (src, dst)
            src, dst = mapping
            if src.size == frame.data.shape[0] == self.buffer.back.data.shape[0]:
                np.copyto(self.buffer.back.data, frame.data)  # same universes: one copy
            elif src.size:
                self.buffer.back.data[dst] = frame.data[src]
        self.buffer.publish(stamp)

    @property
    def has_osc(self) -> bool:
        """True when some output is an OSC target (then the show posts feature events)."""
        return bool(self._osc)

    @property
    def back(self) -> DmxFrame:
        """The frame the show may write directly before :meth:`publish` (no copy needed)."""
        return self.buffer.back

    def post(self, event: FeatureEvent, at: float | None = None) -> None:
        """Send a feature event to every OSC target that maps it."""
        for s in self._osc:
            s.post(event, at)

    def set_value(self, feature: str, value: float, **data: Any) -> None:
        """Send a named value (``tempo``, ``level.drums`` ...) to every OSC target that maps it."""
        for s in self._osc:
            s.set_value(feature, value, **data)

    # -- running -----------------------------------------------------------------------------

    def start(self, *, realtime_priority: int | None = None) -> None:
        """Start the sender threads (see :meth:`OutputScheduler.start`)."""
        self.scheduler.start(realtime_priority=realtime_priority)

    def tick(self, now: float) -> int:
        """Drive every output once at ``now`` (deterministic; for tests and offline renders)."""
        return self.scheduler.tick(now)

    def kick(self, now: float | None = None) -> None:
        """Send every output now instead of at its next slot (see :meth:`OutputScheduler.kick`)."""
        self.scheduler.kick(now)

    def stop(self) -> None:
        """Stop the threads and close every sender (sACN stream termination)."""
        self.scheduler.stop()

    def timing(self) -> list[OutputTiming]:
        """Each output's rate and latency offset."""
        return self.scheduler.timing()

    @property
    def lead(self) -> float:
        """Seconds the show must render ahead (the largest latency offset)."""
        return self.scheduler.lead

    def snapshot(self) -> list[OutputSnapshot]:
        """Counters of every output, for the UI and ``beamsync run``'s status line."""
        return self.scheduler.snapshot()

    def __enter__(self) -> "Outputs":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
