"""What every sender shares: the error type, the sender interface, UDP sockets, and the DMX
change/keep-alive logic.

A *sender* turns one output's config into packets. The :class:`~engine.output.scheduler.OutputScheduler`
calls ``send(now)`` at the output's rate; ``now`` comes from the scheduler's clock, so tests
drive senders with made-up times and fake sockets and never sleep.
"""

from __future__ import annotations

import errno
import socket
from typing import Protocol, runtime_checkable

import numpy as np

from engine.errors import BeamsyncError
from engine.output.config import DmxOutputConfig, OutputConfig
from engine.output.frame import SLOTS, DmxFrame, FrameBuffer
from engine.output.stats import OutputSnapshot, OutputStats


class OutputError(BeamsyncError):
    """An output cannot be set up (bad device, missing universe, socket that cannot be made)."""


def describe_os_error(exc: OSError) -> str:
    """A short reason for a failed send, e.g. ``'ENETUNREACH: Network is unreachable'``."""
    code = errno.errorcode.get(exc.errno or 0, "error")
    return f"{code}: {exc.strerror or exc}"


@runtime_checkable
class Sender(Protocol):
    """One output driven by the scheduler."""

    config: OutputConfig
    stats: OutputStats
    #: True when ``send`` may block (serial ports): the scheduler gives it its own thread.
    blocking: bool

    def send(self, now: float) -> None:
        """Send what is due at ``now`` (scheduler clock, seconds). Never raises on I/O errors."""

    def close(self) -> None:
        """Say goodbye to receivers (stream terminated) and release sockets/ports."""


def snapshot_of(sender: Sender) -> OutputSnapshot:
    """The counters of ``sender`` with its name, kind, rate and latency."""
    c = sender.config
    return sender.stats.snapshot(c.name, c.type, c.rate, c.latency_ms)


def make_udp_socket(
    *, bind: tuple[str, int] = ("0.0.0.0", 0), ttl: int | None = None, interface: str | None = None,
    broadcast: bool = False, sndbuf: int = 1 << 20,
) -> socket.socket:  # fmt: skip
    """A non-blocking UDP socket for sending: a full buffer drops (and counts) instead of blocking.

    ``ttl``/``interface`` set the multicast TTL and outgoing interface (by its IPv4 address).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if ttl is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        if interface:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(bind)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OutputError(f"cannot create UDP socket bound to {bind[0]}:{bind[1]}: {describe_os_error(exc)}") from None
    return sock


class DmxChangeTracker:
    """Picks which universes of a DMX output go out on a tick.

    Reads the newest frame due at ``now + latency`` from the :class:`FrameBuffer` into a
    private copy, gathers this output's universes into :attr:`data` (``(n, 512)`` uint8, in
    route order), and marks a universe for sending when its data changed, when it changed
    less than ``repeats`` sends ago (UDP may lose one), or when ``keepalive`` seconds passed
    since it was last sent (E1.31 and Art-Net receivers time out without refreshes).
    Every array is allocated here, once.
    """

    def __init__(self, config: DmxOutputConfig, buffer: FrameBuffer, repeats: int = 3) -> None:
        missing = [u for u in config.rig_universes if u not in buffer.back]
        if missing:
            raise OutputError(
                f"output '{config.name}' sends rig universe(s) {', '.join(map(str, missing))} but the frame has only "
                f"{', '.join(map(str, buffer.universes)) or 'none'}; build the FrameBuffer with every output's universes"
            )
        self.buffer = buffer
        self.frame = DmxFrame(buffer.universes)
        self.rows = np.array([buffer.back.row(u) for u in config.rig_universes], dtype=np.intp)
        n = len(self.rows)
        self.data = np.zeros((n, SLOTS), dtype=np.uint8)
        self._last = np.zeros((n, SLOTS), dtype=np.uint8)
        self._diff = np.zeros((n, SLOTS), dtype=bool)
        self.changed = np.zeros(n, dtype=bool)
        self.due = np.zeros(n, dtype=bool)
        self._keep = np.zeros(n, dtype=bool)
        self._since_change = np.full(n, repeats, dtype=np.int64)
        self._last_sent = np.full(n, -np.inf)
        self._age = np.zeros(n)
        self._repeats = repeats
        self.latency = config.latency_ms / 1000.0
        self.keepalive = config.keepalive_ms / 1000.0
        self.have_frame = False

    def select(self, now: float) -> np.ndarray:
        """Fill :attr:`data` and return the boolean mask of universes to send now."""
        if self.buffer.read_into(self.frame, now + self.latency):
            self.have_frame = True
        if not self.have_frame:
            self.due[:] = False  # the show has not published anything due yet: stay silent
            return self.due
        np.take(self.frame.data, self.rows, axis=0, out=self.data)
        np.not_equal(self.data, self._last, out=self._diff)
        np.any(self._diff, axis=1, out=self.changed)
        np.copyto(self._last, self.data)
        np.copyto(self._since_change, 0, where=self.changed)
        np.less(self._since_change, self._repeats, out=self.due)
        np.subtract(now, self._last_sent, out=self._age)
        np.greater_equal(self._age, self.keepalive, out=self._keep)
        np.logical_or(self.due, self._keep, out=self.due)
        return self.due

    def mark_sent(self, now: float) -> None:
        """Record that the universes in :attr:`due` went out at ``now``."""
        np.copyto(self._last_sent, now, where=self.due)
        np.add(self._since_change, 1, out=self._since_change, where=self.due)
