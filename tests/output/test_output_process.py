"""OutputProcess: DMX senders in a supervised child process, real sockets on loopback.

Every test starts a real (spawned) child that reads the frames from shared memory and sends
real sACN / Art-Net packets to UDP collectors on 127.0.0.1 (ports picked free per test), or
ENTTEC Pro frames to a pseudo-terminal.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import socket
import time
import tty
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.config import load_yaml
from engine.output.base import OutputError
from engine.output.config import parse_outputs
from engine.output.dmxusb import decode_pro_messages
from engine.output.process import OutputProcess
from engine.output.runtime import Outputs

E131_ID = b"ASC-E1.17\x00\x00\x00"


def configs(text: str) -> list[Any]:
    return parse_outputs(load_yaml("show.yaml", text=text)["outputs"], "show.yaml")


class Wire:
    """A loopback UDP collector that decodes what arrives: sACN and Art-Net DMX packets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def packets(self) -> list[tuple[str, int, int, bytes]]:
        """(protocol, universe, sACN options byte, 512 slots) of every DMX packet waiting."""
        out = []
        while True:
            try:
                d = self.sock.recv(4096)
            except BlockingIOError:
                return out
            if len(d) >= 126 and d[4:16] == E131_ID and d[40:44] == b"\x00\x00\x00\x02":
                out.append(("sacn", int.from_bytes(d[113:115], "big"), d[112], d[126:638]))
            elif d[:8] == b"Art-Net\x00" and d[8:10] == b"\x00\x50":
                out.append(("artnet", int.from_bytes(d[14:16], "little"), 0, d[18:530]))

    def wait(self, pred, timeout: float = 10.0) -> list[tuple[str, int, int, bytes]]:
        """Collect until ``pred(packet)`` holds for one packet; returns everything collected."""
        got: list[tuple[str, int, int, bytes]] = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            new = self.packets()
            got += new
            if any(pred(p) for p in new):
                return got
            time.sleep(0.005)
        return got

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire():
    w = Wire()
    yield w
    w.close()


@pytest.fixture
def wire2():
    w = Wire()
    yield w
    w.close()


def _gone(pid: int) -> bool:
    """True when ``pid`` has exited (no such process, or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_frames_published_here_arrive_from_the_child(wire, wire2, wait_until) -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1, 2], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
  - {{type: osc, name: vj, port: {wire2.port}, preset: generic}}
  - {{type: artnet, name: back, universes: [3], destinations: ["127.0.0.1:{wire2.port}"], rate: 40}}
  - {{type: enttec-pro, name: usb, universe: 2, device: {os.ttyname(slave)}, channels: 24, rate: 30}}
""")
    op = OutputProcess(outs, [1, 2, 3])
    try:
        op.start(realtime_priority=10)
        assert op.alive and op.pid != os.getpid()
        assert [t.name for t in op.timing()] == ["front", "vj", "back", "usb"]
        op.back.universe(1)[:3] = [11, 12, 13]
        op.back.universe(2)[0] = 22
        op.back.universe(3)[511] = 33
        op.publish()
        got = wire.wait(lambda p: p[1] == 2 and p[3][0] == 22) + wire2.wait(lambda p: p[0] == "artnet" and p[3][511] == 33)
        data = {(proto, u): slots for proto, u, _, slots in got}
        assert data[("sacn", 1)][:4] == bytes([11, 12, 13, 0]) and data[("sacn", 2)][:2] == bytes([22, 0])
        assert data[("artnet", 2)][511] == 33  # rig universe 3 = Art-Net port-address 2
        pro = b""
        while b"\xe7" not in pro[5:] or len(pro) < 30:  # one label-6 frame: 0x7E ... 0xE7
            assert select.select([master], [], [], 5)[0], "no ENTTEC Pro frame from the child"
            pro += os.read(master, 4096)
        (label, payload), *_ = decode_pro_messages(pro)[0]
        assert label == 6 and payload[:2] == bytes([0, 22])  # start code, slot 1 of universe 2

        # A frame rendered with the patch's universes only (the engine's case) is mapped in.
        from engine.output.frame import DmxFrame

        frame = DmxFrame([1])
        frame.universe(1)[0] = 99
        op.publish(frame)
        assert any(p[1] == 1 and p[3][0] == 99 for p in wire.wait(lambda p: p[1] == 1 and p[3][0] == 99))

        # The child's counters come back, merged with the local OSC target's in config order.
        assert wait_until(lambda: all(s.frames > 0 for s in op.snapshot() if s.name != "vj"), 5)
        snaps = op.snapshot()
        assert [s.name for s in snaps] == ["front", "vj", "back", "usb"]
        front = snaps[0]
        assert front.packets >= 3 and front.errors == 0 and front.missed == 0 and front.fps >= 0
        assert op.has_osc and snaps[1].kind == "osc"
    finally:
        op.stop()
        os.close(master)
        os.close(slave)
    assert not op.alive


def test_kick_sends_before_the_next_cadence_slot(wire) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: slow, universes: [1], destinations: ["127.0.0.1:{wire.port}"], rate: 1}}
""")
    with OutputProcess(outs, [1]) as op:
        op.back.data[:] = 1
        op.publish()
        first = wire.wait(lambda p: p[3][0] == 1)
        assert first, "no first frame"
        sent_at = time.monotonic()
        time.sleep(0.3)  # past the quarter period a kick must keep from the last send
        op.back.data[:] = 2
        op.publish()
        op.kick()
        kicked = time.monotonic()
        got = wire.wait(lambda p: p[3][0] == 2, timeout=2.0)
        arrived = time.monotonic()
        assert any(p[3][0] == 2 for p in got)
        # At 1 Hz the next slot is a second after the first send; the kick went out long before.
        assert arrived - sent_at < 0.8, (arrived - sent_at, arrived - kicked)


def test_bad_output_fails_start_with_the_same_message_and_leaves_nothing(wire) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: ok, universes: [1], destinations: ["127.0.0.1:{wire.port}"]}}
  - {{type: open-dmx, name: usb, universe: 1, device: /dev/beamsync-no-such-port}}
""")
    with pytest.raises(OutputError) as in_process:
        Outputs(outs, [1])
    op = OutputProcess(outs, [1])
    name = op.buffer.name
    with pytest.raises(OutputError) as child:
        op.start()
    assert str(child.value) == str(in_process.value)
    assert "usb" in str(child.value) and "/dev/beamsync-no-such-port" in str(child.value)
    assert "\n" not in str(child.value)
    assert not op.alive and not [p for p in mp.active_children() if p.name == "beamsync-output"]
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)
    op.stop()  # after a failed start: harmless


def test_killed_child_is_restarted_and_sends_again(wire, wait_until) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    with OutputProcess(outs, [1], stats_interval=0.1) as op:
        op.back.data[:] = 5
        op.publish()
        assert wire.wait(lambda p: p[3][0] == 5)
        assert wait_until(lambda: op.snapshot()[0].frames >= 4, 5)
        frames_before = op.snapshot()[0].frames
        old = op.pid
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: op.restarts == 1 and op.alive and op.pid != old, 15), op.events
        assert _gone(old)
        assert any("died" in e for e in op.events) and any("restarted" in e for e in op.events)
        wire.packets()
        op.back.data[:] = 6
        op.publish()
        assert wire.wait(lambda p: p[3][0] == 6), "the new child sends nothing"
        # The dead child's counters carry over: the totals only grow.
        assert wait_until(lambda: op.snapshot()[0].frames > frames_before, 5)


def test_kick_never_blocks_even_when_the_child_does_not_read(wire) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    with OutputProcess(outs, [1]) as op:
        os.kill(op.pid, signal.SIGSTOP)
        try:
            for _ in range(70_000):  # more bytes than a pipe holds (64 KiB)
                op.kick()
        finally:
            os.kill(op.pid, signal.SIGCONT)
        op.back.data[:] = 9
        op.publish()
        assert wire.wait(lambda p: p[3][0] == 9), "the child did not recover from the kick flood"


def test_sigterm_to_the_child_says_goodbye_and_it_is_replaced(wire, wait_until) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    with OutputProcess(outs, [1]) as op:
        op.back.data[:] = 3
        op.publish()
        assert wire.wait(lambda p: p[3][0] == 3)
        old = op.pid
        os.kill(old, signal.SIGTERM)  # e.g. a service manager stopping the whole group
        assert any(p[2] & 0x40 for p in wire.wait(lambda p: p[2] & 0x40))
        assert wait_until(lambda: op.restarts == 1 and op.alive and op.pid != old, 15), op.events


def test_a_refused_priority_is_said_and_the_senders_run_anyway(wire, wait_until) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    op = OutputProcess(outs, [1], stats_interval=0.05)
    try:
        op.start(realtime_priority=200)  # no such SCHED_FIFO priority: refused even for root
        op.back.data[:] = 8
        op.publish()
        assert wire.wait(lambda p: p[3][0] == 8)
        assert wait_until(lambda: op.priority_error is not None, 5)
        assert "SCHED_FIFO 200" in op.priority_error
    finally:
        op.stop()


def test_stop_sends_stream_terminated_and_leaves_no_process(wire) -> None:
    outs = configs(f"""
outputs:
  - {{type: sacn, name: front, universes: [1, 2], destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    op = OutputProcess(outs, [1, 2])
    op.start()
    pid, name = op.pid, op.buffer.name
    op.back.data[:] = 7
    op.publish()
    assert wire.wait(lambda p: p[3][0] == 7)
    op.stop()
    assert _gone(pid) and not op.alive
    ended = [p for p in wire.wait(lambda p: p[2] & 0x40, timeout=2.0) + wire.packets() if p[2] & 0x40]
    assert sorted({p[1] for p in ended}) == [1, 2] and len(ended) == 6  # 3 terminations per universe
    assert all(p[3][0] == 7 for p in ended)
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)
    # The final report arrived before the child left.
    assert op.snapshot()[0].packets >= 6 + 2


def _parent(port: int, out: Any) -> None:
    """A process that starts an OutputProcess, says its child's pid, and waits to be killed."""
    op = OutputProcess(configs(f"""
outputs:
  - {{type: sacn, name: orphan, universes: [4], destinations: ["127.0.0.1:{port}"], rate: 40}}
"""), [4])
    op.start()
    op.back.data[:] = 44
    op.publish()
    out.put((op.pid, op.buffer.name))
    time.sleep(60)


def test_child_exits_with_stream_termination_when_its_parent_dies(wire, wait_until) -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    parent = ctx.Process(target=_parent, args=(wire.port, q))  # not daemonic: it has a child
    parent.start()
    child = name = None
    try:
        child, name = q.get(timeout=30)
        assert wire.wait(lambda p: p[1] == 4 and p[3][0] == 44), "the child never sent"
        parent.kill()  # no clean-up of any kind in the parent
        parent.join(5)
        assert wait_until(lambda: _gone(child), 10), "the child outlived its parent"
        ended = [p for p in wire.wait(lambda p: p[2] & 0x40, timeout=2.0) if p[2] & 0x40]
        assert len(ended) == 3 and all(p[1] == 4 for p in ended)
    finally:
        if parent.is_alive():
            parent.kill()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)
        if name is not None:  # the killed parent could not remove its block
            try:
                shared_memory.SharedMemory(name=name).unlink()
            except FileNotFoundError:
                pass


def test_show_without_dmx_outputs_starts_no_process(wire) -> None:
    outs = configs(f"""
outputs:
  - {{type: osc, name: vj, port: {wire.port}}}
""")
    with OutputProcess(outs, [1]) as op:
        assert not op.alive and op.pid is None
        op.kick()  # nothing to wake: harmless
        assert [s.name for s in op.snapshot()] == ["vj"]
        op.publish()
        assert op.lead == 0.0


def test_unique_names_are_checked_like_the_scheduler_does() -> None:
    from engine.output.config import SacnOutputConfig, UniverseRoute

    a = SacnOutputConfig(name="x", rate=40.0, routes=(UniverseRoute(1, 1, ()),))
    with pytest.raises(OutputError, match="output names must be unique"):
        OutputProcess([a, a], [1])


def test_published_frames_reach_the_child_unchanged_at_full_size(wire) -> None:
    """64 universes through shared memory: every slot arrives as published."""
    outs = configs(f"""
outputs:
  - {{type: sacn, name: big, universes: 1-64, destinations: ["127.0.0.1:{wire.port}"], rate: 40}}
""")
    rng = np.random.default_rng(3)
    with OutputProcess(outs, range(1, 65)) as op:
        want = rng.integers(0, 256, size=op.back.data.shape, dtype=np.uint8)
        want[:, 0] = 200  # a marker: frames before this one have 0 there
        np.copyto(op.back.data, want)
        op.publish()
        seen: dict[int, bytes] = {}
        end = time.monotonic() + 10
        while len(seen) < 64 and time.monotonic() < end:
            for _, u, _, slots in wire.packets():
                if slots[0] == 200:
                    seen[u] = slots
            time.sleep(0.005)
    assert sorted(seen) == list(range(1, 65))
    assert all(seen[u] == want[u - 1].tobytes() for u in seen)


# -- wired into the engine ---------------------------------------------------------------------

SR = 48000
SHOW = """\
show: rig {name}
outputs:
  - {{type: sacn, name: out, universes: {universes}, destinations: ["127.0.0.1:{port}"], rate: 40}}
{extra}fixtures:
  - {{name: lamp, profile: generic-dimmer, universe: {universe}, address: 1}}
looks:
  main:
    - {{group: lamp, intensity: {level}}}
layers:
  - {{name: main, look: main}}
"""


def _show(path: Path, port: int, *, universes: str = "[1]", universe: int = 1, level: float = 0.5,
          extra: str = "", name: str = "a") -> Path:
    path.write_text(SHOW.format(name=name, universes=universes, port=port, universe=universe, level=level,
                                extra=extra))
    return path


def test_engine_core_rig_reload_starts_a_new_child_and_stops_the_old(tmp_path, wire, wire2, wait_until) -> None:
    from engine.audio.filesource import FileSource
    from engine.live.core import EngineCore
    from engine.show.loader import load_show

    src = FileSource(samples=np.zeros(SR, np.float32), sample_rate=SR, block_size=256, realtime=False)
    core = EngineCore(src, load_show(_show(tmp_path / "a.yaml", wire.port)), output_process=True)
    old = core.outputs
    try:
        assert isinstance(old, OutputProcess) and core.scheduler is old and core.buffer is old.buffer
        core.start()
        old_pid = old.pid
        core.show_frame(0, stamp=time.monotonic())
        assert wire.wait(lambda p: p[1] == 1 and p[3][0] == 128)  # half intensity from the child

        core.swap_show(load_show(_show(tmp_path / "b.yaml", wire2.port, universes="[1, 2]", universe=2, level=1.0)))
        assert core.rig_reloads == 1
        new = core._pending_outputs
        assert isinstance(new, OutputProcess) and new.alive and new.pid != old_pid  # started off the loop
        core.show_frame(SR // 10, stamp=time.monotonic())
        assert core.outputs is new and core.scheduler is new and 2 in core.buffer.back
        assert wire2.wait(lambda p: p[1] == 2 and p[3][0] == 255)
        ended = wire.wait(lambda p: p[2] & 0x40)  # the old child said goodbye on its own thread
        assert any(p[1] == 1 and p[2] & 0x40 for p in ended)
        assert wait_until(lambda: _gone(old_pid), 5)
        core.show_frame(SR // 5, stamp=time.monotonic())
        core.outputs.kick(time.monotonic())  # the engine loop's flash path
    finally:
        core.stop()
    assert not core.outputs.alive and not [p for p in mp.active_children() if p.name == "beamsync-output"]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


@pytest.mark.parametrize("switch", ["default", "BEAMSYNC_OUTPUT_PROCESS=0"])
def test_live_engine_worker_sends_from_its_own_output_process(tmp_path, wire, wait_until, monkeypatch, switch) -> None:
    from engine.audio.filesource import FileSource
    from engine.live.engine import LiveEngine

    if switch != "default":
        monkeypatch.setenv(*switch.split("="))
    src = FileSource(samples=np.zeros(SR * 2, np.float32), sample_rate=SR, block_size=256, loop=True, shared=True)
    engine = LiveEngine(_show(tmp_path / "show.yaml", wire.port), src, hot_reload=False)
    assert engine.spec.output_process is (switch == "default")
    try:
        engine.start(timeout=60)
        assert wire.wait(lambda p: p[1] == 1 and p[3][0] == 128), "nothing on the wire"
        kids = _children(engine._worker.pid)
        assert len(kids) == (1 if switch == "default" else 0), kids
        # The child's counters reach the status block (the soak, status line, UI and /health read it).
        assert wait_until(lambda: engine.status["output_frames"] > 10 and engine.status["output_packets"] > 0, 10)
        assert engine.status["output_errors"] == 0
    finally:
        engine.close()
    for k in kids:
        assert _gone(k)
    assert any(p[2] & 0x40 for p in wire.wait(lambda p: p[2] & 0x40, timeout=2.0) + wire.packets())


def test_live_engine_does_not_start_when_an_output_cannot_open(tmp_path, wire) -> None:
    from engine.audio.filesource import FileSource
    from engine.live.engine import EngineError, LiveEngine
    from engine.show.loader import load_show

    extra = "  - {type: enttec-pro, name: usb, universe: 1, device: /dev/beamsync-no-such-port}\n"
    show = _show(tmp_path / "show.yaml", wire.port, extra=extra)
    with pytest.raises(OutputError) as direct:
        Outputs(load_show(show).outputs, [1])  # what the in-process senders say
    src = FileSource(samples=np.zeros(SR, np.float32), sample_rate=SR, realtime=True, shared=True)
    engine = LiveEngine(show, src)
    try:
        with pytest.raises(EngineError) as failed:
            engine.start(timeout=60)
    finally:
        engine.close()
    assert str(failed.value) == str(direct.value)
