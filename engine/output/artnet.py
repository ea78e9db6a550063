"""Art-Net 4: ArtDmx, ArtSync and ArtPollReply encoders, and the sender.

Port-address (15 bits) = net (7 bits) << 8 | sub-net (4 bits) << 4 | universe (4 bits);
ArtDmx carries its low byte in ``SubUni`` and the net in ``Net``. Rig universes map to
port-addresses as :mod:`engine.output.config` describes (default: port-address = rig - 1).

Layouts (little-endian opcode, big-endian protocol version 14)::

    ArtDmx   "Art-Net\\0" 0x5000 0 14 Sequence Physical SubUni Net LengthHi LengthLo Data[2..512]
    ArtSync  "Art-Net\\0" 0x5200 0 14 Aux1 Aux2
    ArtPoll  "Art-Net\\0" 0x2000 0 14 Flags DiagPriority ...
    ArtPollReply 239 bytes, see :func:`encode_poll_reply`
"""

from __future__ import annotations

import socket
import struct

import numpy as np

from engine.output.base import DmxChangeTracker, OutputError, describe_os_error, make_udp_socket
from engine.output.config import ArtnetOutputConfig
from engine.output.frame import SLOTS, FrameBuffer
from engine.output.stats import OutputStats

ARTNET_ID = b"Art-Net\x00"
PROTOCOL_VERSION = 14
OP_POLL = 0x2000
OP_POLL_REPLY = 0x2100
OP_DMX = 0x5000
OP_SYNC = 0x5200
DMX_HEADER = 18
DMX_PACKET_SIZE = DMX_HEADER + SLOTS
POLL_REPLY_SIZE = 239
# ESTA reserves 0x7FF0-0x7FFF for prototypes; OEM 0x00FF is "unknown / not registered".
ESTA_CODE = 0x7FF0
OEM_CODE = 0x00FF
STYLE_CONTROLLER = 0x01
PORT_TYPE_DMX_INPUT = 0x40  # "can input onto the Art-Net network", protocol DMX512


def split_port_address(port_address: int) -> tuple[int, int, int]:
    """``(net, sub_net, universe)`` of a 15-bit port-address."""
    if not 0 <= port_address <= 0x7FFF:
        raise ValueError("port-address must be 0..32767")
    return port_address >> 8, (port_address >> 4) & 0xF, port_address & 0xF


def encode_artdmx(port_address: int, data: bytes | np.ndarray, *, sequence: int = 0, physical: int = 0) -> bytes:
    """One ArtDmx packet; ``data`` is 2-512 slots (an even count, as the spec asks)."""
    slots = bytes(data)
    if len(slots) % 2:
        slots += b"\x00"
    if not 2 <= len(slots) <= SLOTS:
        raise ValueError("ArtDmx carries 2-512 slots")
    header = bytes([0, PROTOCOL_VERSION, sequence & 0xFF, physical & 0xFF, port_address & 0xFF, (port_address >> 8) & 0x7F])
    return ARTNET_ID + struct.pack("<H", OP_DMX) + header + struct.pack(">H", len(slots)) + slots


def encode_artsync() -> bytes:
    """ArtSync: receivers output the ArtDmx data they buffered since the last sync."""
    return ARTNET_ID + struct.pack("<H", OP_SYNC) + bytes([0, PROTOCOL_VERSION, 0, 0])


def encode_artpoll() -> bytes:
    """A minimal ArtPoll (used by tests and by discovery tools)."""
    return ARTNET_ID + struct.pack("<H", OP_POLL) + bytes([0, PROTOCOL_VERSION, 0, 0])


def is_artpoll(packet: bytes) -> bool:
    """True for an ArtPoll packet (any protocol version)."""
    return len(packet) >= 12 and packet[:8] == ARTNET_ID and struct.unpack_from("<H", packet, 8)[0] == OP_POLL


def encode_poll_reply(
    ip: str, port_addresses: list[int], *, short_name: str, long_name: str, bind_index: int = 1,
    report: str = "#0001 [0000] beamsync ok", refresh_rate: int = 44,
) -> bytes:  # fmt: skip
    """One ArtPollReply describing up to 4 input ports sharing one net and sub-net.

    beamsync is a controller (Style 1): its ports *input* DMX onto the network.
    """
    if not 1 <= len(port_addresses) <= 4:
        raise ValueError("one ArtPollReply describes 1-4 ports")
    net, sub, _ = split_port_address(port_addresses[0])
    if any(split_port_address(p)[:2] != (net, sub) for p in port_addresses):
        raise ValueError("ports of one ArtPollReply share net and sub-net")
    b = bytearray(POLL_REPLY_SIZE)
    b[0:8] = ARTNET_ID
    struct.pack_into("<H", b, 8, OP_POLL_REPLY)
    b[10:14] = socket.inet_aton(ip)
    struct.pack_into("<H", b, 14, 0x1936)
    b[16], b[17] = 0, 1  # firmware version
    b[18], b[19] = net, sub
    struct.pack_into(">H", b, 20, OEM_CODE)
    b[23] = 0xD0  # Status1: indicators normal, port-address set by network or front panel
    struct.pack_into("<H", b, 24, ESTA_CODE)
    b[26:26 + 17] = short_name.encode("utf-8")[:17].ljust(17, b"\x00")
    b[44:44 + 63] = long_name.encode("utf-8")[:63].ljust(63, b"\x00")
    b[108:108 + 63] = report.encode("ascii", "replace")[:63].ljust(63, b"\x00")
    struct.pack_into(">H", b, 172, len(port_addresses))
    for i, pa in enumerate(port_addresses):
        b[174 + i] = PORT_TYPE_DMX_INPUT
        b[178 + i] = 0x80  # GoodInput: data received (we generate it)
        b[186 + i] = pa & 0xF  # SwIn
    b[200] = STYLE_CONTROLLER
    b[207:211] = socket.inet_aton(ip)
    b[211] = bind_index
    b[212] = 0x08  # Status2: supports 15-bit port-address (Art-Net 3/4)
    struct.pack_into(">H", b, 226, refresh_rate)
    return bytes(b)


def poll_replies(ip: str, config: ArtnetOutputConfig) -> list[bytes]:
    """The ArtPollReply packets for all of an output's port-addresses (4 per reply)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for pa in sorted(r.number for r in config.routes):
        groups.setdefault((pa >> 8, (pa >> 4) & 0xF), []).append(pa)
    chunks = [g[i : i + 4] for g in groups.values() for i in range(0, len(g), 4)]
    return [
        encode_poll_reply(ip, c, short_name=config.short_name, long_name=config.long_name,
                          bind_index=k + 1, refresh_rate=int(round(config.rate)))  # fmt: skip
        for k, c in enumerate(chunks)
    ]


class ArtnetSender:
    """Sends one :class:`ArtnetOutputConfig`'s universes as ArtDmx (+ ArtSync), answers ArtPoll.

    Packets live in one preallocated ``(n, 530)`` array; sequence runs 1..255 per universe
    (0 would tell receivers not to reorder). Polls are read from a non-blocking socket bound to
    ``listen:listen_port`` at every send; if that port is taken, polls go unanswered and the
    error is counted, data still flows.
    """

    blocking = False

    def __init__(
        self, config: ArtnetOutputConfig, buffer: FrameBuffer, *, sock: socket.socket | None = None,
        poll_sock: socket.socket | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.stats = OutputStats()
        self.tracker = DmxChangeTracker(config, buffer)
        self._own_socket = sock is None
        # SO_BROADCAST always: a per-universe destination may be a directed broadcast address
        self.sock = sock if sock is not None else make_udp_socket(broadcast=True)
        n = len(config.routes)
        self.bank = np.zeros((n, DMX_PACKET_SIZE), dtype=np.uint8)
        for i, route in enumerate(config.routes):
            self.bank[i] = np.frombuffer(encode_artdmx(route.number, bytes(SLOTS), physical=config.physical), np.uint8)
        self._slots = self.bank[:, DMX_HEADER:]
        self._seq = np.zeros(n, dtype=np.int64)
        self._views = [memoryview(self.bank[i]) for i in range(n)]
        self._destinations = [tuple(dict.fromkeys(r.destinations)) for r in config.routes]
        all_dests: dict[tuple[str, int], None] = {}
        for d in self._destinations:
            all_dests.update(dict.fromkeys(d))
        self._sync_destinations = tuple(all_dests) if config.sync else ()
        self._sync = encode_artsync()
        self.poll_sock = poll_sock
        self._own_poll_socket = False
        if poll_sock is None and config.poll_reply:
            try:
                self.poll_sock = _listen_socket(config.listen, config.listen_port)
                self._own_poll_socket = True
            except OSError as exc:
                self.stats.error(f"ArtPoll listen {config.listen}:{config.listen_port}: {describe_os_error(exc)}")
        self._replies = poll_replies(config.listen, config) if config.poll_reply else []
        self._rx = bytearray(1024)
        self.polls_answered = 0

    def _sendto(self, packet: memoryview | bytes, dest: tuple[str, int]) -> None:
        try:
            sent = self.sock.sendto(packet, dest)
        except OSError as exc:
            self.stats.error(f"{dest[0]}:{dest[1]}: {describe_os_error(exc)}")
            return
        self.stats.packets += 1
        self.stats.bytes += sent

    def answer_polls(self) -> int:
        """Reply to every ArtPoll waiting on the listen socket; returns how many were answered."""
        if self.poll_sock is None:
            return 0
        answered = 0
        while True:
            try:
                n, addr = self.poll_sock.recvfrom_into(self._rx)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.stats.error(f"ArtPoll receive: {describe_os_error(exc)}")
                break
            if not is_artpoll(bytes(self._rx[:n])):
                continue
            for reply in self._replies:
                try:
                    self.poll_sock.sendto(reply, addr)
                except OSError as exc:
                    self.stats.error(f"ArtPollReply to {addr[0]}:{addr[1]}: {describe_os_error(exc)}")
            answered += 1
        self.polls_answered += answered
        return answered

    def send(self, now: float) -> None:
        """Send the universes due at ``now`` as ArtDmx, then ArtSync when enabled."""
        self.answer_polls()
        due = self.tracker.select(now)
        if not due.any():
            return
        np.copyto(self._slots, self.tracker.data)
        # sequence 1..255, wrapping past 255 back to 1
        np.add(self._seq, 1, out=self._seq, where=due)
        np.copyto(self._seq, 1, where=self._seq > 255)
        self.bank[:, 12] = self._seq
        for i in np.flatnonzero(due):
            view = self._views[i]
            for dest in self._destinations[i]:
                self._sendto(view, dest)
        self.tracker.mark_sent(now)
        for dest in self._sync_destinations:
            self._sendto(self._sync, dest)

    def close(self) -> None:
        """Release sockets (Art-Net has no stream-termination message)."""
        if self._own_socket:
            self.sock.close()
        if self._own_poll_socket and self.poll_sock is not None:
            self.poll_sock.close()


def _listen_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = [
    "ArtnetSender", "OutputError", "encode_artdmx", "encode_artsync", "encode_artpoll",
    "encode_poll_reply", "is_artpoll", "poll_replies", "split_port_address",
]  # fmt: skip
