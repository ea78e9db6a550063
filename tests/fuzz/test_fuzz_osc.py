"""Fuzzing the OSC control server: malformed packets (truncated, wrong type tags, bad padding,
huge and nested bundles, random bytes, valid addresses with wrong arguments) are counted,
never logged one by one and never stop the server, which answers a ping after every input.
Most inputs go straight to ``handle_datagram`` (fast); one run goes over a real UDP socket on
127.0.0.1."""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.control.operator import Operator
from engine.control.osc import OscControlServer, _osc_string, encode

from .conftest import fuzz_settings
from .targets import OscHarness, make_osc


@fuzz_settings(800)
@given(rnd=st.randoms(use_true_random=False))
def test_generated_packets_are_handled_and_the_server_still_answers(osc_harness: OscHarness, rnd) -> None:
    assert osc_harness.feed(make_osc(rnd)) in ("accepted", "refused")


@fuzz_settings(300)
@given(data=st.binary(max_size=3000))
def test_raw_bytes_are_handled(osc_harness: OscHarness, data: bytes) -> None:
    osc_harness.feed(data)


@fuzz_settings(300)
@given(address=st.sampled_from(["/beamsync/master", "/beamsync/nudge", "/beamsync/look", "/beamsync/beat_mode",
                                "/beamsync/fader/x", "/beamsync/blackout", "/beamsync/subscribe", "/beamsync/tap"]),
       args=st.lists(st.one_of(st.floats(width=32), st.integers(-(2**31), 2**31 - 1), st.booleans(),
                               st.text(max_size=80).filter(lambda s: "\x00" not in s), st.binary(max_size=16)),
                     max_size=4))
def test_known_addresses_with_any_arguments(osc_harness: OscHarness, address: str, args: list) -> None:
    osc_harness.feed(encode(address, *args))


@pytest.mark.parametrize("tag", ["c", "S", "I", "X"])
def test_type_tags_python_osc_does_not_decode_are_counted_not_logged(osc_harness: OscHarness, tag: str) -> None:
    # Found by fuzzing: python-osc logs a warning on the root logger for each such tag, so a
    # flood of them was a flood of log lines; the strict check now refuses them first.
    body = b"\x00\x00\x00\x41" if tag in "cS" else b""
    data = _osc_string("/beamsync/master") + _osc_string("," + tag) + (b"A\x00\x00\x00" if tag == "S" else body)
    assert osc_harness.feed(data) == "refused"
    assert osc_harness.server.counters.malformed == 1


def test_error_replies_stay_rate_limited_under_a_flood(osc_harness: OscHarness) -> None:
    srv, sock = osc_harness.server, osc_harness.sock
    sock.sent.clear()
    for _ in range(500):
        srv.handle_datagram(encode("/beamsync/nosuch", 1.0), ("127.0.0.1", 50999), 5000.25)
    assert srv.counters.unknown == 500
    assert 0 < len(sock.sent) <= 20


def test_real_socket_run_survives_garbage_and_still_answers() -> None:
    posted: list = []
    srv = OscControlServer(Operator(lambda c, v: posted.append((c, v))), bind="127.0.0.1", port=0,
                           status=lambda: {"uptime_s": 1.0})
    srv.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(0.2)
    try:
        rnd = random.Random(1313)
        sent = 0
        for _ in range(600):
            data = make_osc(rnd)
            if len(data) > 65507:
                continue
            client.sendto(data, srv.address)
            sent += 1
        client.sendto(encode("/beamsync/master", 0.25), srv.address)
        sent += 1
        # Poll for the pong: the server thread drains the burst first (no timing assertion;
        # the bound only keeps a broken server from hanging the suite).
        pong = None
        pings = 0
        give_up = time.monotonic() + 60
        while pong is None and time.monotonic() < give_up:
            client.sendto(encode("/beamsync/ping", 99), srv.address)
            sent += 1
            pings += 1
            try:
                while True:
                    reply, _ = client.recvfrom(65536)
                    if reply == encode("/beamsync/pong", 99):  # not a pong to a fuzzed ping
                        pong = reply
                        break
            except socket.timeout:
                continue
        assert pong == encode("/beamsync/pong", 99)
        assert srv._thread is not None and srv._thread.is_alive()
        c = srv.counters
        # every datagram before the answered ping was counted (later pings may still be queued)
        assert c.packets + c.kernel_drops <= sent and c.packets >= sent - c.kernel_drops - (pings - 1)
        assert c.malformed > 100 and c.oversized > 0
        assert ("master", 0.25) in posted or c.kernel_drops > 0
    finally:
        client.close()
        srv.stop()


def test_fader_set_by_a_double_beyond_float32_is_echoed_as_a_double(osc_harness: OscHarness) -> None:
    # Found by the long fuzz run (input 52,759 of 100,000): a fader set to 1e39 by an OSC double
    # made the float32 echo raise OverflowError out of handle_datagram.
    from pythonosc.osc_message import OscMessage

    data = _osc_string("/beamsync/fader/x") + _osc_string(",d") + struct.pack(">d", 1e39)
    srv, sock = osc_harness.server, osc_harness.sock
    sock.sent.clear()
    srv.handle_datagram(data, ("127.0.0.1", 50999), 1.0)
    (reply, _), = sock.sent
    assert OscMessage(reply).address == "/beamsync/fader/x" and list(OscMessage(reply).params) == [1e39]
    assert osc_harness.feed(data) == "accepted"
