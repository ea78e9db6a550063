"""OSC remote control: a UDP server that turns OSC messages into operator controls.

Address space (documented for operators in ``docs/control.md``), all under ``/beamsync``:

- ``/beamsync/<control>`` for the controls of :mod:`engine.control.operator`
  (``blackout``, ``master``, ``tap``, ``nudge``, ``resync``, ``beat_mode``, ``look``,
  ``freeze``, ``reload``), ``/beamsync/fader/<name>``, ``/beamsync/button/<name>`` and
  ``/beamsync/look/<name>`` (a scene button: a press selects that look);
- ``/beamsync/status`` → one reply ``/beamsync/status <json>`` (the health snapshot);
- ``/beamsync/ping`` → ``/beamsync/pong``;
- ``/beamsync/subscribe [seconds]`` / ``/beamsync/unsubscribe``: live feedback
  (``/beamsync/bpm``, ``/beamsync/beat``, ``/beamsync/level``, ``/beamsync/confidence``) a few
  times a second, plus every control change made from any surface, to that client.

Every accepted control is answered with its new value on the same address (so a TouchOSC
fader or toggle shows the state); a refused one with ``/beamsync/error <text>`` (rate-limited).

Security: the server binds 127.0.0.1 unless another address is given explicitly; an optional
allow-list of networks refuses other senders without a reply. Oversized and malformed packets
are dropped and counted; nothing a sender does can stop the server.

The socket and the clock are injected (``sock``, ``handle_datagram(data, addr, now)``,
``tick(now)``), so tests drive it without sleeping; ``start()`` runs the same calls on a
thread that mostly waits in ``recvfrom`` (the main process also runs the audio callback).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pythonosc.osc_packet import OscPacket

from engine.control.errors import ControlError, ControlValueError
from engine.control.operator import Operator, parse_number

log = logging.getLogger("beamsync.control.osc")

PREFIX = "/beamsync/"
#: Default UDP port (TouchOSC's and Open Stage Control's usual examples use 8000/9000).
DEFAULT_PORT = 9000
#: Packets longer than this are dropped unparsed (a control message is well under 200 bytes).
DEFAULT_MAX_PACKET = 2048
#: Error replies allowed per second (a flood of bad packets must not become a flood of replies).
ERROR_REPLIES_PER_S = 20
#: Feedback to subscribers, per second.
FEEDBACK_HZ = 5.0
MAX_SUBSCRIBERS = 16
MAX_SUBSCRIBE_S = 3600.0


@dataclass
class OscCounters:
    """What the server has seen (reported by the health query)."""

    packets: int = 0
    messages: int = 0
    applied: int = 0
    oversized: int = 0
    malformed: int = 0
    refused: int = 0  # sender not on the allow-list
    unknown: int = 0  # unknown address
    bad_args: int = 0  # known address, arguments it cannot take
    send_errors: int = 0
    kernel_drops: int = 0  # datagrams the kernel dropped because the receive queue was full

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Subscriber:
    addr: tuple[str, int]
    until: float


def parse_allow(items: Iterable[str] | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """An allow-list from strings like ``192.168.1.20`` or ``192.168.1.0/24`` (None: allow all)."""
    if items is None:
        return None
    nets = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ControlError(f"--osc-allow: '{part}' is not an address or network like 192.168.1.0/24") from None
    return nets


def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


_FLOAT32_MAX = 3.4028234663852886e38


def encode(address: str, *args: Any) -> bytes:
    """One OSC message as bytes: float32 for floats (float64 beyond its range), int32 (int64
    beyond) for ints, T/F for bools, strings, blobs. Written here (python-osc's builder parses what it built again: two
    thirds of a reply's cost); ``tests/control/test_osc.py`` checks it against python-osc."""
    tags = [","]
    data = []
    for a in args:
        if a is True or a is False:
            tags.append("T" if a else "F")
        elif isinstance(a, int):
            if -(2**31) <= a < 2**31:
                tags.append("i")
                data.append(struct.pack(">i", a))
            else:
                tags.append("h")
                data.append(struct.pack(">q", a))
        elif isinstance(a, float):
            if abs(a) <= _FLOAT32_MAX or a != a:
                tags.append("f")
                data.append(struct.pack(">f", a))
            else:  # beyond float32 (a fader set by a double, say): struct.pack would raise
                tags.append("d")
                data.append(struct.pack(">d", a))
        elif isinstance(a, str):
            tags.append("s")
            data.append(_osc_string(a))
        elif isinstance(a, (bytes, bytearray)):
            tags.append("b")
            data.append(struct.pack(">i", len(a)) + bytes(a) + b"\x00" * (-len(a) % 4))
        else:
            raise TypeError(f"cannot send {type(a).__name__} in OSC")
    return _osc_string(address) + _osc_string("".join(tags)) + b"".join(data)


def _listen_socket(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # A deep receive queue absorbs bursts (a fader sweep from several clients) while the
    # thread catches up; as root SO_RCVBUFFORCE passes the rmem_max cap.
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 16 * 1024 * 1024)
            break
        except OSError:
            continue
    if hasattr(socket, "SO_RXQ_OVFL") or sys.platform.startswith("linux"):
        try:  # Linux: each recvmsg carries the count of datagrams dropped on a full queue
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RXQ_OVFL", 40), 1)
        except OSError:
            pass
    try:
        sock.bind((bind, port))
    except OSError as exc:
        sock.close()
        raise ControlError(f"OSC control: cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
    return sock


class OscControlServer:
    """Receives OSC control messages on one UDP socket and answers on it.

    ``status`` returns the health snapshot (a JSON-able dict) for ``/beamsync/status`` and the
    subscriber feedback. ``reply_port`` sends replies to that port on the sender's address
    instead of the packet's source port (TouchOSC listens on a port of its own).
    """

    def __init__(self, operator: Operator, *, bind: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 allow: Iterable[str] | None = None, max_packet: int = DEFAULT_MAX_PACKET,
                 reply_port: int | None = None, status: Callable[[], dict[str, Any]] | None = None,
                 sock: socket.socket | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.operator = operator
        self.allow = parse_allow(allow)
        self.max_packet = int(max_packet)
        self.reply_port = reply_port
        self.status = status or (lambda: {})
        self.clock = clock
        self.counters = OscCounters()
        self.sock = sock if sock is not None else _listen_socket(bind, port)
        self.address = self.sock.getsockname()
        self.subscribers: dict[tuple[str, int], _Subscriber] = {}
        self._sub_lock = threading.Lock()
        self._error_window = (0.0, 0)  # (second, replies sent in it)
        self._next_feedback = 0.0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        operator.listeners.append(self._on_change)

    # -- receiving ---------------------------------------------------------------------------
    def handle_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """Process one received packet (any content) from ``addr``."""
        c = self.counters
        c.packets += 1
        if self.allow is not None:
            try:
                ip = ipaddress.ip_address(addr[0])
            except ValueError:
                ip = None
            if ip is None or not any(ip in net for net in self.allow):
                c.refused += 1  # no reply: a refused sender learns nothing
                return
        if len(data) > self.max_packet:
            c.oversized += 1
            return
        if not valid_packet(data):
            c.malformed += 1
            return
        try:
            # python-osc raises ParseError for most bad input, but a hostile datagram can also
            # reach IndexError/struct.error/UnicodeDecodeError inside it: all of it is "malformed".
            messages = [m.message for m in OscPacket(data).messages]
        except Exception:
            c.malformed += 1
            return
        for msg in messages:
            c.messages += 1
            try:
                self._dispatch(msg.address, list(msg.params), addr, now)
            except ControlValueError as exc:
                c.bad_args += 1
                self._error(addr, now, f"{msg.address}: {exc}")

    def _dispatch(self, address: str, args: list[Any], addr: tuple[str, int], now: float) -> None:
        if not isinstance(address, str) or not address.startswith(PREFIX):
            self.counters.unknown += 1
            self._error(addr, now, f"unknown address {address!r} (beamsync listens under {PREFIX})")
            return
        path = address[len(PREFIX):]
        if path == "status":
            self._send(addr, encode(PREFIX + "status", json.dumps(self.status(), separators=(",", ":"))))
            return
        if path == "ping":
            self._send(addr, encode(PREFIX + "pong", *[a for a in args[:1] if isinstance(a, (int, float, str))]))
            return
        if path == "subscribe":
            self._subscribe(addr, now, args)
            return
        if path == "unsubscribe":
            with self._sub_lock:
                self.subscribers.pop(self._reply_addr(addr), None)
            return
        kind, _, rest = path.partition("/")
        if kind == "look" and rest:
            control, args = "look", ([rest] if not args or _pressed(args[0]) else None)
            if args is None:
                return  # the release of a scene button
        elif kind in ("fader", "button") and rest and "/" not in rest:
            control = f"{kind}.{rest}"
        elif not rest:
            control = kind
        else:
            control = ""
        if not Operator.known(control):
            self.counters.unknown += 1
            self._error(addr, now, f"unknown address {address!r}")
            return
        fb = self.operator.apply(control, args)
        self.counters.applied += 1
        if fb is not None and fb[1] is not None:
            # Echo the value on the address it came from, so the sender's widget shows it.
            self._send(addr, encode(address if kind != "look" else PREFIX + "look", fb[1]))

    def _subscribe(self, addr: tuple[str, int], now: float, args: list[Any]) -> None:
        seconds = 60.0
        if args:
            seconds = min(MAX_SUBSCRIBE_S, max(1.0, parse_number(args[0], "subscribe")))
        key = self._reply_addr(addr)
        with self._sub_lock:
            if key not in self.subscribers and len(self.subscribers) >= MAX_SUBSCRIBERS:
                # drop the subscription closest to expiry: a stale client should not lock others out
                oldest = min(self.subscribers.values(), key=lambda s: s.until)
                self.subscribers.pop(oldest.addr, None)
            self.subscribers[key] = _Subscriber(key, now + seconds)
        self._send(addr, encode(PREFIX + "subscribed", float(seconds)))
        self._next_feedback = now  # first feedback at the next tick

    # -- sending -----------------------------------------------------------------------------
    def _reply_addr(self, addr: tuple[str, int]) -> tuple[str, int]:
        return (addr[0], self.reply_port) if self.reply_port else (addr[0], addr[1])

    def _send(self, addr: tuple[str, int], data: bytes) -> None:
        try:
            self.sock.sendto(data, self._reply_addr(addr))
        except OSError:
            self.counters.send_errors += 1

    def _error(self, addr: tuple[str, int], now: float, text: str) -> None:
        second, sent = self._error_window
        if int(now) != second:
            second, sent = int(now), 0
        if sent < ERROR_REPLIES_PER_S:
            self._send(addr, encode(PREFIX + "error", text[:300]))
            sent += 1
        self._error_window = (second, sent)

    def _on_change(self, control: str, value: Any) -> None:
        """A control changed (from any surface): tell the subscribers."""
        if value is None or not self.subscribers:
            return  # a trigger, or nobody to tell
        address = PREFIX + (control.replace(".", "/") if not control.startswith("look") else "look")
        data = encode(address, value)
        with self._sub_lock:
            targets = [s.addr for s in self.subscribers.values()]
        for a in targets:
            self._send_raw(a, data)

    def _send_raw(self, addr: tuple[str, int], data: bytes) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:
            self.counters.send_errors += 1

    def tick(self, now: float) -> None:
        """Send the periodic feedback to live subscribers; forget expired ones."""
        if now < self._next_feedback:
            return
        self._next_feedback = now + 1.0 / FEEDBACK_HZ
        with self._sub_lock:
            for key in [k for k, s in self.subscribers.items() if s.until <= now]:
                del self.subscribers[key]
            targets = [s.addr for s in self.subscribers.values()]
        if not targets:
            return
        st = self.status()
        tempo = st.get("tempo", {})
        msgs = [encode(PREFIX + "bpm", float(tempo.get("bpm", 0.0))),
                encode(PREFIX + "beat", int(tempo.get("beat_in_bar", 0))),
                encode(PREFIX + "confidence", float(tempo.get("confidence", 0.0))),
                encode(PREFIX + "level", float(st.get("level", 0.0)))]
        for a in targets:
            for m in msgs:
                self._send_raw(a, m)

    # -- thread ------------------------------------------------------------------------------
    def serve(self) -> None:
        """Receive until ``stop()``; ticks the feedback between packets."""
        self.sock.settimeout(1.0 / FEEDBACK_HZ / 2)
        buf = bytearray(65536)
        ovfl = getattr(socket, "SO_RXQ_OVFL", 40)
        anc_size = socket.CMSG_SPACE(4)
        while not self._stopping.is_set():
            try:
                n, anc, _flags, addr = self.sock.recvmsg_into([buf], anc_size)
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == ovfl and len(value) >= 4:
                        self.counters.kernel_drops = int.from_bytes(value[:4], sys.byteorder)
            except socket.timeout:
                n, addr = -1, None
            except OSError:
                if self._stopping.is_set():
                    break
                self.counters.send_errors += 1  # e.g. ICMP port unreachable from a gone client
                continue
            now = self.clock()
            if addr is not None:
                try:
                    self.handle_datagram(bytes(buf[:n]) if n <= self.max_packet else bytes(n), addr, now)
                except Exception:  # a bug must not end remote control for the rest of the show
                    log.exception("OSC control: message from %s failed", addr)
            self.tick(now)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="beamsync-osc-control", daemon=True)
        self._thread.start()
        log.info("OSC control listening on %s:%d", *self.address[:2])

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if self._on_change in self.operator.listeners:
            self.operator.listeners.remove(self._on_change)
        self.sock.close()


# Only the type tags python-osc decodes: it logs a warning on the root logger for any other tag
# (char 'c', symbol 'S', impulse 'I', ...), so such packets are refused here as malformed, and
# counted, instead of each one writing a log line.
_FIXED = {"i": 4, "f": 4, "r": 4, "m": 4, "h": 8, "d": 8, "t": 8}


def _padded_string_end(data: bytes, start: int) -> int:
    end = data.index(b"\x00", start)  # ValueError when unterminated
    return (end // 4 + 1) * 4


def exact_length(data: bytes) -> bool:
    """Whether one OSC message's arguments fill its datagram exactly.

    python-osc pads a float that is cut short with zeros (for one synthesizer's sake); a
    control surface must not read a truncated packet as "master 0", so a message whose type
    tags promise more (or fewer) bytes than it carries is malformed here.
    """
    try:
        pos = _padded_string_end(data, 0)
        if pos >= len(data):
            return pos == len(data)  # an address without type tags
        if data[pos:pos + 1] != b",":
            return False
        tags_start = pos + 1
        pos = _padded_string_end(data, pos)
        tags = data[tags_start:data.index(b"\x00", tags_start)].decode("ascii")
        for tag in tags:
            if tag in _FIXED:
                pos += _FIXED[tag]
            elif tag == "s":
                pos = _padded_string_end(data, pos)
            elif tag == "b":
                n = int.from_bytes(data[pos:pos + 4], "big")
                pos += 4 + -(-n // 4) * 4
            elif tag not in "TFN[]":
                return False
            if pos > len(data):
                return False
        return pos == len(data)
    except (ValueError, UnicodeDecodeError):
        return False


MAX_BUNDLE_DEPTH = 4


def valid_packet(data: bytes, depth: int = 0) -> bool:
    """Strict structure check of a packet before python-osc parses it.

    python-osc skips (and logs, on the root logger) bundle elements it cannot identify: checked
    here first, so a flood of bad bundles is counted, not logged line by line.
    """
    if not data or len(data) % 4:
        return False
    if data[:1] == b"/":
        return exact_length(data)
    if not data.startswith(b"#bundle\x00") or len(data) < 16 or depth >= MAX_BUNDLE_DEPTH:
        return False
    pos = 16
    while pos < len(data):
        if pos + 4 > len(data):
            return False
        n = int.from_bytes(data[pos:pos + 4], "big", signed=True)
        pos += 4
        if n <= 0 or n % 4 or pos + n > len(data) or not valid_packet(data[pos:pos + n], depth + 1):
            return False
        pos += n
    return True


def _pressed(v: Any) -> bool:
    if isinstance(v, (bool, int, float)):
        return bool(v > 0)
    return True
