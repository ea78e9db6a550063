"""The output scheduler: fixed cadence per output, skipped slots counted, failures isolated."""

from __future__ import annotations

import time

from engine.output.config import OscOutputConfig, SacnOutputConfig, UniverseRoute
from engine.output.frame import FrameBuffer
from engine.output.osc import OscSender
from engine.output.registry import create_senders, rig_universes
from engine.output.sacn import SacnSender
from engine.output.scheduler import OutputScheduler, OutputTiming
from engine.output.stats import OutputStats


class Probe:
    """A sender that records when it was called."""

    blocking = False

    def __init__(self, name: str, rate: float, latency_ms: float = 0.0, fail: bool = False) -> None:
        self.config = OscOutputConfig(name=name, rate=rate, port=9, latency_ms=latency_ms)
        self.stats = OutputStats()
        self.calls: list[float] = []
        self.fail = fail
        self.closed = False

    def send(self, now: float) -> None:
        self.calls.append(now)
        if self.fail:
            raise RuntimeError("boom")

    def close(self) -> None:
        self.closed = True


def test_each_output_keeps_its_own_cadence_without_drift() -> None:
    a, b = Probe("a", 44.0), Probe("b", 200.0)
    sched = OutputScheduler([a, b])
    t = 10.0
    while t < 11.0:  # drive at 1 kHz with 0.3 ms of lateness on every call
        sched.tick(t + 0.0003)
        t += 0.001
    assert len(a.calls) == 44 and len(b.calls) == 200
    # due times stay on the grid 10 + k/44: no accumulated drift after 44 periods
    assert abs(a.calls[-1] - (10.0 + 43 / 44)) < 0.0015
    snap = {s.name: s for s in sched.snapshot()}
    assert snap["a"].frames == 44 and snap["a"].missed == 0
    assert 0.2 < snap["a"].jitter_p50_ms < 1.4 and snap["a"].jitter_max_ms < 1.4


def test_stall_skips_and_counts_missed_slots() -> None:
    a = Probe("a", 100.0)
    sched = OutputScheduler([a])
    sched.tick(0.0)
    sched.tick(0.01)
    sched.tick(0.055)  # stalled: slots 0.02, 0.03, 0.04, 0.05 passed; one send, not a burst
    sched.tick(0.06)
    assert a.calls == [0.0, 0.01, 0.055, 0.06]
    assert a.stats.missed == 3


def test_a_failing_sender_is_counted_and_others_still_send() -> None:
    bad, good = Probe("bad", 50.0, fail=True), Probe("good", 50.0)
    sched = OutputScheduler([bad, good])
    for k in range(5):
        sched.tick(k * 0.02)
    assert len(good.calls) == 5 and bad.stats.errors == 5
    assert bad.stats.last_error == "RuntimeError: boom"
    sched.stop()
    assert bad.closed and good.closed


def test_timing_is_data_for_the_show() -> None:
    sched = OutputScheduler([Probe("near", 44.0, 5.0), Probe("far", 30.0, 40.0)])
    assert sched.timing() == [OutputTiming("near", "osc", 44.0, 5.0), OutputTiming("far", "osc", 30.0, 40.0)]
    assert sched.lead == 0.040


def test_latency_offset_sends_frames_early(fake_socket, make_fake_socket) -> None:
    """Two outputs, 0 and 50 ms latency: at the same instant the late rig already gets the later look."""
    buf = FrameBuffer([1])
    route = (UniverseRoute(1, 1, (("127.0.0.1", 5568),), 100),)
    near = SacnSender(SacnOutputConfig(name="near", rate=44.0, routes=route), buf, sock=fake_socket, cid=bytes(16))
    far_sock = make_fake_socket()
    far = SacnSender(SacnOutputConfig(name="far", rate=44.0, routes=route, latency_ms=50.0), buf,
                     sock=far_sock, cid=bytes(16))  # fmt: skip
    sched = OutputScheduler([near, far])
    for k in range(10):  # the show renders frames for t = k * 10 ms (lead = 50 ms)
        buf.back.data[:] = k
        buf.publish(stamp=k * 0.010)
    sched.tick(0.020)
    assert fake_socket.sent[-1][0][126] == 2 and far_sock.sent[-1][0][126] == 7


def test_thread_mode_runs_and_stops_with_stream_termination(fake_socket) -> None:
    buf = FrameBuffer([1])
    route = (UniverseRoute(1, 1, (("127.0.0.1", 5568),), 100),)
    s = SacnSender(SacnOutputConfig(name="s", rate=200.0, routes=route), buf, sock=fake_socket, cid=bytes(16))
    osc = OscSender(OscOutputConfig(name="o", rate=100.0, port=9000), sock=fake_socket)
    sched = OutputScheduler([s, osc])
    buf.publish()
    with sched:
        deadline = time.monotonic() + 3
        while s.stats.frames < 20 and time.monotonic() < deadline:
            buf.back.data[0, 0] = s.stats.frames % 256
            buf.publish()
            osc.set_value("tempo", 120.0)
            time.sleep(0.005)
    assert s.stats.frames >= 20 and osc.stats.packets >= 1
    assert [p[112] & 0x40 for p, _ in fake_socket.sent if len(p) == 638][-3:] == [0x40] * 3


def test_create_senders_from_configs(fake_socket) -> None:
    from engine.config import load_yaml
    from engine.output.config import parse_outputs

    outs = parse_outputs(load_yaml("s", text="""
outputs:
  - {type: sacn, universes: 1-2}
  - {type: artnet, universes: [3], poll_reply: false}
  - {type: osc, port: 9000, enabled: false}
""")["outputs"])  # fmt: skip
    assert rig_universes(outs) == (1, 2, 3)
    senders = create_senders(outs, FrameBuffer(rig_universes(outs)))
    try:
        assert [type(s).__name__ for s in senders] == ["SacnSender", "ArtnetSender"]
    finally:
        for s in senders:
            s.close()


def test_kick_sends_now_and_restarts_the_cadence() -> None:
    a = Probe("a", 40.0)  # period 25 ms
    sched = OutputScheduler([a], clock=lambda: 0.0)
    sched.tick(0.0)
    sched.kick(0.015)  # an onset: flash now instead of at 0.025
    sched.tick(0.015)
    sched.tick(0.025)  # the old slot is gone
    sched.tick(0.040)
    assert a.calls == [0.0, 0.015, 0.040]


def test_kick_never_sends_faster_than_four_times_the_rate() -> None:
    a = Probe("a", 40.0)  # period 25 ms: a kick within 6.25 ms of the last send waits for that
    sched = OutputScheduler([a], clock=lambda: 0.0)
    sched.tick(0.0)
    sched.kick(0.004)
    sched.tick(0.004)  # too soon: deferred
    sched.tick(0.0065)  # a quarter period after the last send
    sched.tick(0.025)  # the cadence restarted from the kick
    sched.tick(0.032)
    assert a.calls == [0.0, 0.0065, 0.032]
