"""sACN / E1.31: golden bytes, sender behaviour on a fake socket, and the sacn package's receiver."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sacn.messages.data_packet import DataPacket
from sacn.messages.universe_discovery import UniverseDiscoveryPacket

from engine.output.config import SacnOutputConfig, UniverseRoute
from engine.output.frame import FrameBuffer
from engine.output.sacn import (
    OPTION_TERMINATED,
    SacnSender,
    encode_data_packet,
    encode_discovery_packets,
    encode_sync_packet,
    load_cid,
    multicast_group,
)

CID = bytes(range(16))


def config(universes=(1,), dest=("127.0.0.1", 5568), **kw) -> SacnOutputConfig:
    routes = tuple(UniverseRoute(u, u, (dest,), kw.pop("priority", 100)) for u in universes)
    return SacnOutputConfig(name="t", rate=44.0, routes=routes, **kw)


def test_data_packet_golden_bytes() -> None:
    data = bytes([255, 0, 128]) + bytes(509)
    packet = encode_data_packet(CID, "beamsync", 1, data, priority=100, sequence=7)
    header = bytes.fromhex(
        "0010 0000 4153432d45312e3137000000"  # preamble, postamble, "ASC-E1.17"
        "726e 00000004" + CID.hex() +  # root: flags+length 622, vector data, CID
        "7258 00000002" + b"beamsync".hex() + "00" * 56 +  # framing: length 600, source name
        "64 0000 07 00 0001"  # priority 100, sync 0, sequence 7, options 0, universe 1
        "720b 02 a1 0000 0001 0201 00"  # DMP: length 523, set property, 513 values, start code 0
    )
    assert len(packet) == 638
    assert packet == header + data


def test_sync_and_discovery_golden_bytes() -> None:
    sync = encode_sync_packet(CID, 7000, 42)
    assert sync == bytes.fromhex("0010 0000 4153432d45312e3137000000 7021 00000008") + CID + bytes.fromhex(
        "700b 00000001 2a 1b58 0000"
    )
    (disc,) = encode_discovery_packets(CID, "beamsync", [3, 1, 2])
    parsed = UniverseDiscoveryPacket.make_universe_discovery_packet(disc)
    assert parsed.universes == (1, 2, 3) and parsed.sourceName == "beamsync" and parsed.lastPage == 0
    assert len(disc) == 120 + 6


def test_data_packet_parses_in_the_sacn_package() -> None:
    packet = encode_data_packet(CID, "Bühne", 513, bytes(range(256)) * 2, priority=150, sequence=255,
                                sync_address=9, options=0x80)  # fmt: skip
    p = DataPacket.make_data_packet(packet)
    assert (p.universe, p.priority, p.sequence, p.syncAddr, p.sourceName) == (513, 150, 255, 9, "Bühne")
    assert p.option_PreviewData and not p.option_StreamTerminated
    assert list(p.dmxData) == list(range(256)) * 2
    assert multicast_group(513) == "239.255.2.1" and multicast_group(63999) == "239.255.249.255"


def test_cid_is_generated_once_and_kept(tmp_path) -> None:
    first = load_cid(tmp_path)
    assert len(first) == 16 and (tmp_path / "sacn-cid").is_file()
    assert load_cid(tmp_path) == first
    blocked = tmp_path / "file"
    blocked.write_text("x")  # a file where the config dir should be: cannot store
    fallback = load_cid(blocked / "sub")
    assert len(fallback) == 16 and fallback == load_cid(blocked / "sub")


def publish(buf: FrameBuffer, universe: int, values) -> None:
    buf.back.universe(universe)[: len(values)] = values
    buf.publish()


def parsed(sent):
    return [DataPacket.make_data_packet(p) for p, _ in sent]


def test_sequence_wraps_per_universe_and_data_follows_the_frame(fake_socket) -> None:
    buf = FrameBuffer([1, 2])
    s = SacnSender(config((1, 2)), buf, sock=fake_socket, cid=CID)
    for k in range(300):
        publish(buf, 1, [k % 256])
        publish(buf, 2, [(k * 3) % 256])
        s.send(k / 44)
    pk = parsed(fake_socket.sent)
    assert len(pk) == 600
    for u in (1, 2):
        seqs = [p.sequence for p in pk if p.universe == u]
        assert seqs == [(k + 1) % 256 for k in range(300)]
    assert [p.dmxData[0] for p in pk if p.universe == 2][:4] == [0, 3, 6, 9]
    assert s.stats.packets == 600 and s.stats.errors == 0


def test_send_on_change_then_keepalive(fake_socket) -> None:
    buf = FrameBuffer([1])
    s = SacnSender(config(keepalive_ms=1000), buf, sock=fake_socket, cid=CID)
    s.send(0.0)
    assert fake_socket.sent == []  # nothing published yet: silent
    publish(buf, 1, [10])
    times = [k / 44 for k in range(100)]  # 2.25 s of ticks with unchanged data
    sent_at = []
    for t in times:
        n = len(fake_socket.sent)
        s.send(t)
        if len(fake_socket.sent) > n:
            sent_at.append(round(t, 3))
    # three copies after the change (loss insurance), then one per keep-alive second
    assert sent_at == [0.0, 0.023, 0.045, 1.045, 2.045]
    publish(buf, 1, [11])
    s.send(2.3)
    assert parsed(fake_socket.sent)[-1].dmxData[0] == 11


def test_sync_across_eight_universes(fake_socket) -> None:
    buf = FrameBuffer(range(1, 9))
    s = SacnSender(config(range(1, 9), sync_universe=7000), buf, sock=fake_socket, cid=CID)
    for k in range(3):
        buf.back.data[:] = k + 1
        buf.publish()
        s.send(k / 44)
    packets = [p for p, _ in fake_socket.sent]
    assert len(packets) == 27
    for k in range(3):
        frame = packets[9 * k : 9 * k + 9]
        data = [DataPacket.make_data_packet(p) for p in frame[:8]]
        assert sorted(p.universe for p in data) == list(range(1, 9))
        assert {p.syncAddr for p in data} == {7000} and {p.dmxData[0] for p in data} == {k + 1}
        assert frame[8] == encode_sync_packet(CID, 7000, k + 1)


def test_stream_termination_on_close(fake_socket) -> None:
    buf = FrameBuffer([5])
    s = SacnSender(config((5,), preview=True), buf, sock=fake_socket, cid=CID)
    publish(buf, 5, [1, 2])
    s.send(0.0)
    s.close()
    pk = parsed(fake_socket.sent)
    assert [p.option_StreamTerminated for p in pk] == [False, True, True, True]
    assert [p.sequence for p in pk] == [1, 2, 3, 4]
    assert all(p.option_PreviewData for p in pk)
    assert pk[-1].dmxData[:2] == (1, 2)
    assert not fake_socket.closed  # an injected socket belongs to the caller


def test_unreachable_destination_is_counted_not_raised(make_fake_socket) -> None:
    sock = make_fake_socket(refuse={"10.9.9.9"})
    routes = (UniverseRoute(1, 1, (("10.9.9.9", 5568), ("127.0.0.1", 5568)), 100),)
    s = SacnSender(SacnOutputConfig(name="t", rate=44.0, routes=routes), FrameBuffer([1]), sock=sock, cid=CID)
    publish(s.tracker.buffer, 1, [1])
    for k in range(3):
        s.send(k / 44)
    assert s.stats.errors == 3 and s.stats.packets == 3
    assert s.stats.last_error == "10.9.9.9:5568: ENETUNREACH: Network is unreachable"
    assert {d for _, d in sock.sent} == {("127.0.0.1", 5568)}


def test_multicast_and_discovery_destinations(fake_socket) -> None:
    routes = (UniverseRoute(1, 300, (), 100),)
    cfg = SacnOutputConfig(name="t", rate=44.0, routes=routes, multicast=True, sync_universe=7000, discovery=True)
    buf = FrameBuffer([1])
    s = SacnSender(cfg, buf, sock=fake_socket, cid=CID)
    publish(buf, 1, [1])
    s.send(0.0)
    dests = [d for _, d in fake_socket.sent]
    assert dests == [("239.255.250.214", 5568), ("239.255.1.44", 5568), ("239.255.27.88", 5568)]
    s.send(1.0)
    s.send(10.0)  # discovery again after 10 s
    assert [d for _, d in fake_socket.sent].count(("239.255.250.214", 5568)) == 2


def test_sacn_receiver_gets_values_priority_and_sequence(free_port) -> None:
    import sacn

    port = free_port()
    receiver = sacn.sACNreceiver(bind_address="127.0.0.1", bind_port=port)
    got: dict[int, list] = {1: [], 2: []}
    for u in (1, 2):
        receiver.register_listener("universe", lambda p: got[p.universe].append(p), universe=u)
    receiver.start()
    try:
        buf = FrameBuffer([1, 2])
        routes = (
            UniverseRoute(1, 1, (("127.0.0.1", port),), 180),
            UniverseRoute(2, 2, (("127.0.0.1", port),), 50),
        )
        cfg = SacnOutputConfig(name="t", rate=44.0, routes=routes, source_name="beamsync test")
        s = SacnSender(cfg, buf)
        for k in range(300):  # past the sequence wrap; every frame changes so the receiver reports each
            buf.back.universe(1)[:3] = [k % 256, 7, 255]
            buf.back.universe(2)[511] = (k * 5) % 256
            buf.publish()
            s.send(k / 44)
            time.sleep(0.002)  # a real cadence would be 23 ms; the receiver's Python thread must keep up
        deadline = time.monotonic() + 3
        while (len(got[1]) < 300 or len(got[2]) < 300) and time.monotonic() < deadline:
            time.sleep(0.02)
        s.close()
    finally:
        receiver.stop()
    assert [p.dmxData[0] for p in got[1]] == [k % 256 for k in range(300)]
    assert [p.sequence for p in got[1]] == [(k + 1) % 256 for k in range(300)]
    assert {p.priority for p in got[1]} == {180} and {p.priority for p in got[2]} == {50}
    assert [p.dmxData[511] for p in got[2]] == [(k * 5) % 256 for k in range(300)]
    assert {p.sourceName for p in got[1]} == {"beamsync test"} and got[1][0].dmxData[1:3] == (7, 255)
    assert s.stats.errors == 0


def test_sync_across_eight_universes_over_loopback(udp_collector) -> None:
    """Every frame: eight data packets carrying the sync address, then one sync packet (parsed by sacn)."""
    from sacn.messages.sync_packet import SyncPacket

    dest = ("127.0.0.1", udp_collector.port)
    buf = FrameBuffer(range(1, 9))
    s = SacnSender(config(range(1, 9), dest=dest, sync_universe=64), buf, cid=CID)
    for k in range(5):
        buf.back.data[:] = np.arange(8, dtype=np.uint8)[:, None] + 10 * k
        buf.publish()
        s.send(k / 44)
    s.close()
    datagrams = udp_collector.collect(5 * 9 + 24)
    frames, current = [], []
    for d in datagrams[:45]:
        if len(d) == 49:
            sync = SyncPacket.make_sync_packet(d)
            frames.append((sync.syncAddr, sync.sequence, current))
            current = []
        else:
            current.append(DataPacket.make_data_packet(d))
    assert [(addr, seq) for addr, seq, _ in frames] == [(64, k + 1) for k in range(5)]
    for k, (_, _, data) in enumerate(frames):
        assert sorted(p.universe for p in data) == list(range(1, 9))
        assert all(p.syncAddr == 64 and p.dmxData[0] == p.universe - 1 + 10 * k for p in data)
    assert len(datagrams) == 45 + 24 and all(
        DataPacket.make_data_packet(d).option_StreamTerminated for d in datagrams[45:]
    )


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=80, deadline=None)
@given(
    universe=st.integers(1, 63999), priority=st.integers(0, 200), sequence=st.integers(0, 255),
    sync=st.integers(0, 63999), data=st.binary(min_size=1, max_size=512), name=st.text(max_size=40),
)  # fmt: skip
def test_any_data_packet_round_trips_through_the_sacn_parser(universe, priority, sequence, sync, data, name) -> None:
    packet = encode_data_packet(CID, name, universe, data, priority=priority, sequence=sequence, sync_address=sync)
    p = DataPacket.make_data_packet(packet)
    assert (p.universe, p.priority, p.sequence, p.syncAddr) == (universe, priority, sequence, sync)
    assert bytes(p.dmxData[: len(data)]) == data and p.cid == tuple(CID)
    if "\x00" not in name:
        assert p.sourceName == name.encode("utf-8")[:63].decode("utf-8", "ignore")


def test_udp_socket_options_for_multicast() -> None:
    import socket

    from engine.output.base import OutputError, make_udp_socket

    s = make_udp_socket(ttl=3, interface="127.0.0.1")
    try:
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
        assert socket.inet_ntoa(s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)) == "127.0.0.1"
        assert s.getblocking() is False
    finally:
        s.close()
    with pytest.raises(OutputError, match="cannot create UDP socket bound to 192.0.2.1:0"):
        make_udp_socket(bind=("192.0.2.1", 0))  # an address this host does not have
