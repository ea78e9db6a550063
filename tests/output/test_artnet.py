"""Art-Net 4: golden bytes, sequence wrap, sync, and ArtPoll answered over loopback."""

from __future__ import annotations

import socket
import struct

import pytest

from engine.output.artnet import (
    ArtnetSender,
    encode_artdmx,
    encode_artpoll,
    encode_artsync,
    encode_poll_reply,
    poll_replies,
    split_port_address,
)
from engine.output.config import ArtnetOutputConfig, UniverseRoute
from engine.output.frame import FrameBuffer


def config(pas=(0,), dest=("127.0.0.1", 6454), **kw) -> ArtnetOutputConfig:
    routes = tuple(UniverseRoute(i + 1, pa, (dest,)) for i, pa in enumerate(pas))
    kw.setdefault("poll_reply", False)
    return ArtnetOutputConfig(name="a", rate=44.0, routes=routes, **kw)


def test_artdmx_golden_bytes() -> None:
    data = bytes([1, 2, 3]) + bytes(509)
    packet = encode_artdmx(0x1234, data, sequence=9, physical=2)
    assert packet[:18] == b"Art-Net\x00" + bytes.fromhex("0050 000e 09 02 34 12 0200")
    assert packet[18:] == data and len(packet) == 530
    assert encode_artdmx(5, b"\x07")[16:] == bytes.fromhex("0002 0700")  # odd lengths padded to even
    assert encode_artsync() == b"Art-Net\x00" + bytes.fromhex("0052 000e 0000")
    assert split_port_address(0x1234) == (0x12, 0x3, 0x4)


def test_poll_reply_layout() -> None:
    r = encode_poll_reply("127.0.0.1", [0x123, 0x121], short_name="beamsync", long_name="long", bind_index=2)
    assert len(r) == 239 and r[:10] == b"Art-Net\x00\x00\x21"
    assert r[10:14] == bytes([127, 0, 0, 1]) and struct.unpack_from("<H", r, 14)[0] == 6454
    assert (r[18], r[19]) == (0x01, 0x2)  # net, sub-net
    assert r[26:34] == b"beamsync" and r[44:48] == b"long"
    assert struct.unpack_from(">H", r, 172)[0] == 2
    assert list(r[174:176]) == [0x40, 0x40] and list(r[186:188]) == [0x3, 0x1]  # DMX inputs, SwIn
    assert r[200] == 1 and r[211] == 2  # controller style, bind index
    # 6 port-addresses over two sub-nets -> replies of 4 + 1 + 1 ports
    cfg = config((0, 1, 2, 3, 4, 16))
    assert [struct.unpack_from(">H", p, 172)[0] for p in poll_replies("127.0.0.1", cfg)] == [4, 1, 1]


def test_sequence_runs_1_to_255_and_sync_follows(fake_socket) -> None:
    buf = FrameBuffer([1, 2])
    s = ArtnetSender(config((0, 300), sync=True), buf, sock=fake_socket)
    for k in range(260):
        buf.back.data[:, 0] = k % 256
        buf.publish()
        s.send(k / 44)
    packets = [p for p, _ in fake_socket.sent]
    assert len(packets) == 260 * 3
    dmx = [p for p in packets if p[8:10] == b"\x00\x50"]
    syncs = [i for i, p in enumerate(packets) if p == encode_artsync()]
    assert syncs == [3 * k + 2 for k in range(260)]  # one ArtSync after each frame's two ArtDmx
    u0 = [p for p in dmx if p[14:16] == b"\x00\x00"]
    u300 = [p for p in dmx if p[14:16] == bytes([300 & 0xFF, 300 >> 8])]
    expect = [(k % 255) + 1 for k in range(260)]
    assert [p[12] for p in u0] == expect and [p[12] for p in u300] == expect
    assert [p[18] for p in u0][:3] == [0, 1, 2]


def test_unreachable_counted(make_fake_socket) -> None:
    sock = make_fake_socket(refuse={"127.0.0.1"})
    buf = FrameBuffer([1])
    s = ArtnetSender(config(), buf, sock=sock)
    buf.publish()
    s.send(0.0)
    assert s.stats.errors == 1 and s.stats.packets == 0


def test_answers_artpoll_on_loopback(free_port) -> None:
    port = free_port()
    cfg = config((0, 1), poll_reply=True, listen="127.0.0.1", listen_port=port)
    buf = FrameBuffer([1, 2])
    controller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    controller.bind(("127.0.0.1", 0))
    controller.settimeout(2)
    s = ArtnetSender(cfg, buf, sock=socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        controller.sendto(encode_artpoll(), ("127.0.0.1", port))
        controller.sendto(b"not art-net", ("127.0.0.1", port))
        deadline = 0
        while s.polls_answered == 0 and deadline < 200:
            s.send(deadline / 100)
            deadline += 1
        reply, addr = controller.recvfrom(1024)
    finally:
        s.close()
        s.sock.close()
        controller.close()
    assert s.polls_answered == 1 and addr == ("127.0.0.1", port)
    assert reply[8:10] == b"\x00\x21" and reply[26:34] == b"beamsync" and reply[10:14] == bytes([127, 0, 0, 1])
    assert struct.unpack_from(">H", reply, 172)[0] == 2
