"""DMX over USB serial: ENTTEC DMX USB Pro (label 6) and Open DMX-style interfaces.

* ENTTEC DMX USB Pro: the widget makes the DMX signal itself; the host sends framed
  messages ``0x7E, label, length LSB, length MSB, payload, 0xE7``. Label 6 ("Output Only Send
  DMX Packet") carries the start code (0) and 24-512 slots.
* Open DMX-style (FTDI without a microcontroller): the host makes the signal: a break
  (line low >= 88 us), a mark-after-break, then start code and slots at 250 kbaud, 8 data
  bits, 2 stop bits. The break uses the serial driver's break control (``TIOCSBRK``).

Both write from their own scheduler thread (``blocking = True``): a full universe at 250 kbaud
takes about 23 ms on the wire. A failed write (device unplugged) is counted, the port closed,
and reopened at most once a second.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from engine.output.base import DmxChangeTracker, OutputError
from engine.output.config import EnttecProOutputConfig, UsbDmxOutputConfig
from engine.output.frame import FrameBuffer
from engine.output.stats import OutputStats

PRO_START = 0x7E
PRO_END = 0xE7
PRO_LABEL_SEND_DMX = 6
DMX_BAUD = 250_000
BREAK_SECONDS = 0.000_120  # >= 88 us; the OS rounds it up, which DMX allows (break may be long)
MAB_SECONDS = 0.000_012
REOPEN_INTERVAL = 1.0


def encode_pro_message(label: int, payload: bytes) -> bytes:
    """One ENTTEC Pro API message: start, label, 16-bit little-endian length, payload, end."""
    if len(payload) > 600:
        raise ValueError("ENTTEC Pro payloads are at most 600 bytes")
    return bytes([PRO_START, label, len(payload) & 0xFF, len(payload) >> 8]) + payload + bytes([PRO_END])


def encode_pro_dmx(slots: bytes | np.ndarray) -> bytes:
    """Label 6: start code 0 then the slots (24-512; short frames are padded to 24)."""
    data = bytes(slots)[:512]
    if len(data) < 24:
        data = data.ljust(24, b"\x00")
    return encode_pro_message(PRO_LABEL_SEND_DMX, b"\x00" + data)


def decode_pro_messages(stream: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split a byte stream into ``(label, payload)`` messages; returns them and the unparsed tail."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while True:
        start = stream.find(bytes([PRO_START]), i)
        if start < 0 or len(stream) - start < 5:
            return out, stream[start:] if start >= 0 else b""
        label = stream[start + 1]
        n = stream[start + 2] | (stream[start + 3] << 8)
        end = start + 4 + n
        if end >= len(stream):
            return out, stream[start:]
        if stream[end] != PRO_END:
            i = start + 1  # not a message boundary; resynchronise
            continue
        out.append((label, stream[start + 4 : end]))
        i = end + 1


def find_port_by_serial(serial_number: str) -> str:
    """The device path of the USB serial port whose serial number is ``serial_number``."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    for p in ports:
        if p.serial_number and p.serial_number == serial_number:
            return p.device
    seen = ", ".join(f"{p.device} ({p.serial_number})" for p in ports if p.serial_number) or "none"
    raise OutputError(f"no USB serial device with serial number {serial_number!r}; found: {seen}")


def open_serial(config: UsbDmxOutputConfig) -> Any:
    """Open the configured port at 250 kbaud 8N2 with a short write timeout."""
    import serial

    path = config.device or find_port_by_serial(config.serial_number or "")
    try:
        return serial.Serial(path, baudrate=DMX_BAUD, bytesize=8, parity="N", stopbits=2, write_timeout=0.5)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise OutputError(f"output '{config.name}': cannot open {path}: {exc}") from None


class UsbDmxSender:
    """Sends one rig universe to a USB DMX interface (see the module docstring)."""

    blocking = True

    def __init__(
        self, config: UsbDmxOutputConfig, buffer: FrameBuffer, *, port: Any = None,
        opener: Callable[[UsbDmxOutputConfig], Any] = open_serial,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.config = config
        self.stats = OutputStats()
        self.tracker = DmxChangeTracker(config, buffer)
        self._opener = opener
        self._sleep = sleep
        self.port = port if port is not None else opener(config)
        self._retry_at = 0.0
        self._pro = isinstance(config, EnttecProOutputConfig)
        n = config.channels
        if self._pro:
            self._packet = bytearray(encode_pro_dmx(bytes(n)))
            first = 5  # 0x7E, label, length LSB, length MSB, start code
        else:
            self._packet = bytearray(1 + n)  # start code 0 + slots
            first = 1
        self._slots = np.frombuffer(self._packet, dtype=np.uint8)[first : first + n]

    def _frame_out(self) -> None:
        if not self._pro:
            # Open DMX: the host makes break and mark-after-break before each frame.
            self.port.break_condition = True
            self._sleep(BREAK_SECONDS)
            self.port.break_condition = False
            self._sleep(MAB_SECONDS)
        self.port.write(self._packet)

    def send(self, now: float) -> None:
        """Write the universe (Pro: on change or keep-alive; Open DMX: every tick); reopen a lost device."""
        due = self.tracker.select(now)
        if not self.tracker.have_frame:
            return
        if self._pro and not due[0]:
            return  # the Pro widget keeps refreshing the line by itself
        # Open DMX has no memory: the host must refresh the line on every tick, changed or not.
        due[0] = True
        if self.port is None:
            if now < self._retry_at:
                return
            try:
                self.port = self._opener(self.config)
            except OutputError as exc:
                self._retry_at = now + REOPEN_INTERVAL
                self.stats.error(str(exc))
                return
        np.copyto(self._slots, self.tracker.data[0, : self.config.channels])
        try:
            self._frame_out()
        except Exception as exc:  # pyserial raises SerialException/SerialTimeoutException/OSError
            self.stats.error(f"{self.config.device or self.config.serial_number}: {exc}")
            try:
                self.port.close()
            except Exception:
                pass
            self.port = None
            self._retry_at = now + REOPEN_INTERVAL
            return
        self.tracker.mark_sent(now)
        self.stats.packets += 1
        self.stats.bytes += len(self._packet)

    def close(self) -> None:
        """Close the serial port."""
        if self.port is not None:
            try:
                self.port.close()
            finally:
                self.port = None

