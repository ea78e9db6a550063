"""USB DMX over a pseudo-terminal pair: the far end decodes ENTTEC Pro label 6 and Open DMX frames."""

from __future__ import annotations

import os
import select
import tty

import pytest
import serial

from engine.output.base import OutputError
from engine.output.config import EnttecProOutputConfig, OpenDmxOutputConfig, UniverseRoute
from engine.output.dmxusb import UsbDmxSender, decode_pro_messages, encode_pro_dmx, find_port_by_serial, open_serial
from engine.output.frame import FrameBuffer


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def read_all(fd: int, want: int, timeout: float = 2.0) -> bytes:
    out = b""
    while len(out) < want:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        out += os.read(fd, 65536)
    return out


def test_pro_label6_golden_bytes() -> None:
    msg = encode_pro_dmx(bytes([1, 2, 3]) + bytes(21))
    assert msg == bytes([0x7E, 6, 25, 0, 0, 1, 2, 3]) + bytes(21) + bytes([0xE7])
    assert len(encode_pro_dmx(bytes(512))) == 518 and encode_pro_dmx(bytes(512))[2:4] == bytes([0x01, 0x02])
    (label, payload), = decode_pro_messages(msg)[0]
    assert label == 6 and payload[:4] == bytes([0, 1, 2, 3])


def test_enttec_pro_over_pty(pty_pair) -> None:
    master, path = pty_pair
    cfg = EnttecProOutputConfig(name="pro", rate=40.0, routes=(UniverseRoute(2, 0, ()),), device=path, channels=512)
    buf = FrameBuffer([1, 2])
    s = UsbDmxSender(cfg, buf)
    for k in range(5):
        buf.back.universe(2)[0] = k * 10
        buf.back.universe(2)[511] = 255 - k
        buf.back.universe(1)[0] = 99  # another universe: must not appear
        buf.publish()
        s.send(k / 40)
    s.close()
    messages, rest = decode_pro_messages(read_all(master, 5 * 518))
    assert rest == b"" and len(messages) == 5
    assert all(label == 6 and len(p) == 513 and p[0] == 0 for label, p in messages)
    assert [(p[1], p[512]) for _, p in messages] == [(k * 10, 255 - k) for k in range(5)]
    assert s.stats.packets == 5 and s.stats.errors == 0


class RecordingSerial(serial.Serial):
    """A real pyserial port on the pty that also logs break toggles (a pty carries no break)."""

    log: list

    def __init__(self, *a, **kw) -> None:
        self.log = []
        super().__init__(*a, **kw)

    def _update_break_state(self) -> None:
        self.log.append(("break", self._break_state))
        super()._update_break_state()

    def write(self, data) -> int:
        self.log.append(("write", len(data)))
        return super().write(data)


def test_open_dmx_over_pty_break_then_frame(pty_pair) -> None:
    master, path = pty_pair
    cfg = OpenDmxOutputConfig(name="od", rate=30.0, routes=(UniverseRoute(1, 0, ()),), device=path, channels=64)
    port = RecordingSerial(path, baudrate=250_000, stopbits=2)
    assert port.baudrate == 250_000 and port.stopbits == 2
    sleeps: list[float] = []
    buf = FrameBuffer([1])
    s = UsbDmxSender(cfg, buf, port=port, sleep=sleeps.append)
    for k in range(5):
        buf.back.universe(1)[:3] = [min(k, 1), 1, 2]  # unchanged after the second: still re-sent
        buf.publish()
        s.send(k / 30)
    stream = read_all(master, 5 * 65)
    frames = [stream[i : i + 65] for i in range(0, len(stream), 65)]
    assert [f[:4] for f in frames] == [bytes([0, min(k, 1), 1, 2]) for k in range(5)]  # start code 0, slots
    assert port.log == [("break", True), ("break", False), ("write", 65)] * 5
    assert sleeps[0] >= 88e-6 and sleeps[1] >= 8e-6  # break and mark-after-break lengths
    s.close()


def test_unplugged_device_is_counted_and_reopened(pty_pair) -> None:
    master, path = pty_pair
    cfg = EnttecProOutputConfig(name="pro", rate=40.0, routes=(UniverseRoute(1, 0, ()),), device=path)
    opened = []

    def opener(c):
        opened.append(c.device)
        return open_serial(c)

    buf = FrameBuffer([1])
    s = UsbDmxSender(cfg, buf, opener=opener)
    s.port.close()  # the device vanishes under us
    buf.back.data[:] = 1
    buf.publish()
    s.send(0.0)
    assert s.stats.errors == 1 and s.port is None
    s.send(0.5)  # within the reopen interval: no new attempt
    assert len(opened) == 1
    s.send(1.1)  # reopened and sent
    assert len(opened) == 2 and s.stats.packets == 1
    s.close()
    assert len(decode_pro_messages(read_all(master, 518))[0]) == 1


def test_device_errors_name_the_device() -> None:
    cfg = EnttecProOutputConfig(name="pro", rate=40.0, routes=(UniverseRoute(1, 0, ()),), device="/nonexistent/ttyUSB9")
    with pytest.raises(OutputError, match="cannot open /nonexistent/ttyUSB9"):
        open_serial(cfg)
    with pytest.raises(OutputError, match="no USB serial device with serial number 'EN000000'"):
        find_port_by_serial("EN000000")


def test_usb_output_gets_its_own_scheduler_thread(pty_pair) -> None:
    import threading
    import time

    from engine.output.scheduler import OutputScheduler

    master, path = pty_pair
    cfg = EnttecProOutputConfig(name="pro", rate=40.0, routes=(UniverseRoute(1, 0, ()),), device=path, channels=24)
    buf = FrameBuffer([1])
    s = UsbDmxSender(cfg, buf)
    buf.publish()
    before = {t.name for t in threading.enumerate()}
    sched = OutputScheduler([s])
    sched.start()
    try:
        names = {t.name for t in threading.enumerate()} - before
        deadline = time.monotonic() + 3
        while s.stats.packets < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sched.stop()
    assert any("[pro]" in n for n in names) and s.stats.packets >= 1
    assert decode_pro_messages(read_all(master, 30))[0][0][0] == 6
