"""OSC control: round trips, bad input of every kind, allow-list, feedback, bursts on loopback."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings, strategies as hs
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from engine.control.errors import ControlError
from engine.control.operator import Operator
from engine.control.osc import ERROR_REPLIES_PER_S, OscControlServer, encode

CLIENT = ("127.0.0.1", 50123)


class FakeSocket:
    """Records what the server sends; never touches the network."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        self.sent.append((data, addr))
        return len(data)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 0)

    def close(self) -> None:
        pass

    def replies(self) -> list[tuple[str, list[Any], tuple[str, int]]]:
        out = [(OscMessage(d).address, list(OscMessage(d).params), a) for d, a in self.sent]
        self.sent.clear()
        return out


def make(**kw: Any) -> tuple[OscControlServer, list[tuple[str, Any]], FakeSocket]:
    posted: list[tuple[str, Any]] = []
    sock = FakeSocket()
    op = Operator(lambda c, v: posted.append((c, v)))
    srv = OscControlServer(op, sock=sock, status=kw.pop("status", lambda: {"tempo": {"bpm": 128.0, "beat_in_bar": 3,
                                                                                       "confidence": 0.875},
                                                                             "level": 0.5}), **kw)
    return srv, posted, sock


def test_every_control_round_trip() -> None:
    srv, posted, sock = make()
    msgs = [
        ("/beamsync/blackout", [1.0]), ("/beamsync/blackout", [False]), ("/beamsync/blackout", []),
        ("/beamsync/master", [0.25]), ("/beamsync/master", [1]), ("/beamsync/tap", []), ("/beamsync/tap", [0.0]),
        ("/beamsync/nudge", [-0.0625]), ("/beamsync/resync", [1.0]), ("/beamsync/beat_mode", ["manual"]),
        ("/beamsync/look", ["strobe"]), ("/beamsync/look", ["calm", "back"]), ("/beamsync/look/intro", [1.0]),
        ("/beamsync/look/intro", [0.0]), ("/beamsync/freeze", ["on"]), ("/beamsync/reload", []),
        ("/beamsync/fader/strobe", [0.75]), ("/beamsync/button/hit", [1.0]), ("/beamsync/button/hit", [0.0]),
    ]
    for addr, args in msgs:
        srv.handle_datagram(encode(addr, *args), CLIENT, 1.0)
    assert posted == [
        ("blackout", True), ("blackout", False), ("blackout", True),
        ("master", 0.25), ("master", 1.0), ("tap", None),
        ("nudge", -0.0625), ("resync", None), ("beat_mode", "manual"),
        ("look", "strobe"), ("look", ("calm", "back")), ("look", "intro"),
        ("freeze", True), ("reload", None), ("fader.strobe", 0.75), ("button.hit", None),
    ]
    replies = sock.replies()
    # values are echoed on the address they came from (so the sender's widget follows)
    assert ("/beamsync/blackout", [True], CLIENT) in replies
    assert ("/beamsync/master", [0.25], CLIENT) in replies
    assert ("/beamsync/fader/strobe", [0.75], CLIENT) in replies
    assert ("/beamsync/look", ["intro"], CLIENT) in replies
    assert all(a != "/beamsync/error" for a, _, _ in replies)
    assert srv.counters.applied == 18  # all but the scene button release (tap/button releases post nothing)
    assert srv.counters.malformed == srv.counters.unknown == srv.counters.bad_args == 0


@pytest.mark.parametrize("addr,args", [
    ("/beamsync/master", ["loud"]), ("/beamsync/master", [1.5]), ("/beamsync/master", []),
    ("/beamsync/master", [float("nan")]), ("/beamsync/master", [b"\x00\x01"]), ("/beamsync/blackout", ["maybe"]),
    ("/beamsync/nudge", [3.0]), ("/beamsync/beat_mode", ["fast"]), ("/beamsync/beat_mode", [1]),
    ("/beamsync/look", [5]), ("/beamsync/look", ["x" * 65]), ("/beamsync/fader/x", ["high"]),
    ("/beamsync/tap", ["perhaps"]),
])
def test_wrong_types_are_refused_with_an_error_reply(addr: str, args: list[Any]) -> None:
    srv, posted, sock = make()
    srv.handle_datagram(encode(addr, *args), CLIENT, 1.0)
    assert posted == []
    assert srv.counters.bad_args == 1
    [(address, [text], to)] = sock.replies()
    assert address == "/beamsync/error" and addr in text and to == CLIENT


@pytest.mark.parametrize("addr", ["/other/master", "/beamsync/volume", "/beamsync/fader", "/beamsync/fader/a/b",
                                  "/beamsync/master/x", "/beamsync/", "/beamsync/button/"])
def test_unknown_addresses_are_counted_and_answered(addr: str) -> None:
    srv, posted, sock = make()
    srv.handle_datagram(encode(addr, 1.0), CLIENT, 1.0)
    assert posted == [] and srv.counters.unknown == 1
    [(address, [text], _)] = sock.replies()
    assert address == "/beamsync/error" and "unknown address" in text


@pytest.mark.parametrize("data", [
    b"", b"garbage", b"/beamsync/master\x00\x00\x00\x00,f\x00\x00",  # float missing
    b"/beamsync/master\x00\x00\x00\x00,f\x00\x00\x00",  # truncated float
    b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 4000) + b"xx",  # element longer than the packet
    b"\xff" * 40, b"/beamsync/master\x00\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00",  # bad utf-8
])
def test_malformed_packets_are_dropped_and_counted(data: bytes) -> None:
    srv, posted, sock = make()
    srv.handle_datagram(data, CLIENT, 1.0)
    assert posted == [] and sock.sent == []
    assert srv.counters.malformed == 1


def test_oversized_packets_are_dropped_unparsed() -> None:
    srv, posted, sock = make(max_packet=256)
    srv.handle_datagram(encode("/beamsync/look", "x" * 300), CLIENT, 1.0)
    assert posted == [] and sock.sent == [] and srv.counters.oversized == 1


@given(hs.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_never_break_the_server(data: bytes) -> None:
    srv, posted, sock = make()
    srv.handle_datagram(data, CLIENT, 1.0)
    srv.handle_datagram(encode("/beamsync/master", 0.5), CLIENT, 1.0)  # still serving
    assert posted[-1] == ("master", 0.5)


def test_bundles_apply_every_message() -> None:
    srv, posted, _ = make()
    b = OscBundleBuilder(IMMEDIATELY)
    for addr, v in [("/beamsync/master", 0.5), ("/beamsync/fader/a", 0.125), ("/beamsync/nope", 1.0)]:
        m = OscMessageBuilder(address=addr)
        m.add_arg(v)
        b.add_content(m.build())
    srv.handle_datagram(b.build().dgram, CLIENT, 1.0)
    assert posted == [("master", 0.5), ("fader.a", 0.125)]
    assert srv.counters.messages == 3 and srv.counters.unknown == 1


def test_allow_list_refuses_other_senders_silently() -> None:
    srv, posted, sock = make(allow=["192.168.1.0/24", "10.0.0.7"])
    srv.handle_datagram(encode("/beamsync/blackout", True), ("192.168.2.5", 9000), 1.0)
    srv.handle_datagram(encode("/beamsync/blackout", True), ("10.0.0.8", 9000), 1.0)
    assert posted == [] and sock.sent == [] and srv.counters.refused == 2
    srv.handle_datagram(encode("/beamsync/blackout", True), ("192.168.1.77", 9000), 1.0)
    srv.handle_datagram(encode("/beamsync/blackout", False), ("10.0.0.7", 9000), 1.0)
    assert posted == [("blackout", True), ("blackout", False)]


def test_bad_allow_list_is_a_clear_error() -> None:
    with pytest.raises(ControlError, match="'192.168.1.300'"):
        make(allow=["192.168.1.300"])


def test_error_replies_are_rate_limited() -> None:
    srv, _, sock = make()
    for i in range(200):
        srv.handle_datagram(encode("/beamsync/nope"), CLIENT, 5.0 + i * 0.001)
    assert len(sock.sent) == ERROR_REPLIES_PER_S and srv.counters.unknown == 200
    srv.handle_datagram(encode("/beamsync/nope"), CLIENT, 6.0)  # next second: answered again
    assert len(sock.sent) == ERROR_REPLIES_PER_S + 1


def test_status_query_and_ping() -> None:
    srv, _, sock = make(status=lambda: {"uptime_s": 12.5, "tempo": {"bpm": 126.0}})
    srv.handle_datagram(encode("/beamsync/status"), CLIENT, 1.0)
    srv.handle_datagram(encode("/beamsync/ping", 7), CLIENT, 1.0)
    (a1, [text], _), (a2, args2, _) = sock.replies()
    assert a1 == "/beamsync/status" and json.loads(text) == {"uptime_s": 12.5, "tempo": {"bpm": 126.0}}
    assert (a2, args2) == ("/beamsync/pong", [7])


def test_reply_port_sends_replies_to_the_clients_listening_port() -> None:
    srv, _, sock = make(reply_port=9001)
    srv.handle_datagram(encode("/beamsync/master", 0.5), ("127.0.0.1", 40000), 1.0)
    assert sock.replies() == [("/beamsync/master", [0.5], ("127.0.0.1", 9001))]


def test_subscribers_get_feedback_and_other_surfaces_changes_until_expiry() -> None:
    srv, _, sock = make()
    srv.handle_datagram(encode("/beamsync/subscribe", 10.0), CLIENT, 100.0)
    assert sock.replies() == [("/beamsync/subscribed", [10.0], CLIENT)]
    srv.tick(100.0)
    got = {a: args for a, args, _ in sock.replies()}
    assert got == {"/beamsync/bpm": [128.0], "/beamsync/beat": [3], "/beamsync/confidence": [0.875],
                   "/beamsync/level": [0.5]}
    srv.tick(100.1)  # not due yet (5 Hz)
    assert sock.sent == []
    srv.operator.apply("blackout", [True])  # e.g. from a MIDI controller
    srv.operator.apply("fader.wash", [0.375])
    srv.operator.apply("tap")
    assert sock.replies() == [("/beamsync/blackout", [True], CLIENT), ("/beamsync/fader/wash", [0.375], CLIENT)]
    srv.tick(110.5)  # expired
    assert sock.sent == [] and srv.subscribers == {}
    srv.operator.apply("master", [0.1])
    assert sock.sent == []


# -- on the loopback interface, with the server thread --------------------------------------
@pytest.fixture
def live_server():
    posted: list[tuple[str, Any]] = []
    op = Operator(lambda c, v: posted.append((c, v)))
    srv = OscControlServer(op, bind="127.0.0.1", port=0, status=lambda: {"uptime_s": 1.0})
    srv.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(5.0)
    yield srv, posted, client
    client.close()
    srv.stop()


def _wait(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_binds_loopback_by_default() -> None:
    srv = OscControlServer(Operator(lambda c, v: None), port=0)
    try:
        assert srv.address[0] == "127.0.0.1"
    finally:
        srv.stop()


def test_port_in_use_is_a_clear_error(live_server) -> None:
    srv, _, _ = live_server
    with pytest.raises(ControlError, match=f"cannot listen on 127.0.0.1:{srv.address[1]}"):
        OscControlServer(Operator(lambda c, v: None), port=srv.address[1])


def test_burst_of_10000_messages_with_bad_ones_mixed_in(live_server) -> None:
    srv, posted, client = live_server
    dest = srv.address
    good = [encode("/beamsync/fader/sweep", float(i)) for i in range(10000)]
    bad = [b"\x00junk", encode("/beamsync/nope", 1), encode("/beamsync/master", "x"), b"A" * 5000]
    sent = 0
    for i, d in enumerate(good):
        client.sendto(d, dest)
        sent += 1
        if i % 1000 == 0:
            for b in bad:
                client.sendto(b, dest)
                sent += 1
    # Every datagram is accounted for: handled by the server, or dropped by the kernel on a
    # full receive queue (SO_RXQ_OVFL; the count arrives with the next datagram queued, so a
    # ping follows the burst) if the machine is too busy to keep up. Then it still answers
    # (on a fresh socket: the burst's echoes fill the first one).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
        q.settimeout(5.0)
        for attempt in range(5):
            q.sendto(encode("/beamsync/ping", attempt), dest)
            sent += 1
            try:
                msg = OscMessage(q.recv(65536))
                break
            except socket.timeout:
                continue  # the ping met a full queue too: counted as a drop, try again
        assert msg.address == "/beamsync/pong"
        assert _wait(lambda: srv.counters.packets + srv.counters.kernel_drops >= sent), srv.counters
        c = srv.counters
        assert c.packets + c.kernel_drops == sent
        assert c.packets >= 1000, c  # a deep queue (16 MB) absorbs bursts
        assert c.packets == c.messages + c.malformed + c.oversized
        assert c.messages == c.applied + c.unknown + c.bad_args + 1  # + the ping
        values = [v for k, v in posted]
        assert values == sorted(values) and len(values) == c.applied  # in order, none twice
        q.sendto(encode("/beamsync/status"), dest)
        msg = OscMessage(q.recv(65536))
    assert msg.address == "/beamsync/status" and json.loads(msg.params[0]) == {"uptime_s": 1.0}


def test_kernel_drops_are_counted(live_server) -> None:
    """Fill the queue while the server thread is held up: the drops show in the counters."""
    srv, posted, client = live_server
    srv.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny queue
    hold = threading.Event()
    srv.operator.listeners.append(lambda c, v: hold.wait(5))
    client.sendto(encode("/beamsync/fader/x", 1.0), srv.address)  # the thread blocks on this one
    assert _wait(lambda: srv.counters.packets == 1)
    for i in range(500):
        client.sendto(encode("/beamsync/fader/x", float(i)), srv.address)
    hold.set()
    assert _wait(lambda: posted and posted[-1][1] != 1.0)  # queue drained
    # The kernel reports the drop count with the next datagram it queues after the drops.
    client.sendto(encode("/beamsync/fader/x", 1000.0), srv.address)
    assert _wait(lambda: posted[-1][1] == 1000.0)
    assert srv.counters.kernel_drops > 0
    assert srv.counters.packets + srv.counters.kernel_drops == 502


@pytest.mark.parametrize("args", [(), (0.25,), (1, -7, 2**40), (True, False), ("x", "abcd", ""), (b"\x01\x02\x03",),
                                  ("look", 0.5, True, 3, b"\x00")])
def test_encode_matches_python_osc(args: tuple) -> None:
    b = OscMessageBuilder(address="/beamsync/fader/a")
    for a in args:
        b.add_arg(a)
    assert encode("/beamsync/fader/a", *args) == b.build().dgram
