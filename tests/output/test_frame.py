"""FrameBuffer: complete frames only, newest due frame, delay line for latency offsets."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.output.frame import DmxFrame, FrameBuffer


def test_nothing_before_first_publish() -> None:
    buf = FrameBuffer([1, 2])
    out = DmxFrame([1, 2])
    out.data[:] = 9
    assert buf.read_into(out) == 0
    assert (out.data == 9).all()


def test_back_frame_is_invisible_until_published() -> None:
    buf = FrameBuffer([3, 1])
    out = DmxFrame([1, 3])
    buf.back.universe(3)[0] = 200
    buf.publish()
    buf.back.universe(3)[0] = 100  # writing the next frame
    assert buf.read_into(out) == 1
    assert out.universe(3)[0] == 200
    buf.publish()
    assert buf.read_into(out) == 2 and out.universe(3)[0] == 100


def test_delay_line_picks_newest_frame_due() -> None:
    buf = FrameBuffer([1], depth=4)
    out = DmxFrame([1])
    for k, stamp in enumerate([1.00, 1.02, 1.04, 1.06]):
        buf.back.data[:] = k + 1
        buf.publish(stamp)
    # an output without latency at t=1.03 shows frame 2; one 30 ms late shows frame 4 already
    assert buf.read_into(out, 1.03) == 2 and out.data[0, 0] == 2
    assert buf.read_into(out, 1.03 + 0.030) == 4 and out.data[0, 0] == 4
    assert buf.read_into(out, 0.5) == 0  # nothing due yet
    buf.back.data[:] = 5
    buf.publish(1.08)  # overwrites the oldest slot (frame 1)
    assert buf.read_into(out, 1.01) == 0


def test_depth_must_allow_double_buffering() -> None:
    with pytest.raises(ValueError):
        FrameBuffer([1], depth=1)


def test_reader_never_sees_a_torn_frame() -> None:
    """A writer fills each frame with one value; a concurrent reader must never see two values."""
    buf = FrameBuffer(range(1, 65), depth=2)
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            k = (k + 1) % 256
            buf.back.data[:32] = k  # two separate writes: a frame is only complete after both
            buf.back.data[32:] = k
            buf.publish()

    t = threading.Thread(target=writer)
    t.start()
    while buf.published == 0:
        pass
    out = DmxFrame(range(1, 65))
    torn = reads = 0
    try:
        for _ in range(3000):
            if buf.read_into(out):
                reads += 1
                if out.data.min() != out.data.max():
                    torn += 1
    finally:
        stop.set()
        t.join()
    assert reads > 0 and torn == 0


class _LappedBuffer(FrameBuffer):
    """Runs the writer for two whole frames in the middle of the reader's first copy."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.interrupts = 1

    def _copy(self, dst: np.ndarray, src: np.ndarray) -> None:
        if not self.interrupts:
            np.copyto(dst, src)
            return
        self.interrupts -= 1
        half = dst.shape[0] // 2
        np.copyto(dst[:half], src[:half])
        for value in (2, 3):  # the writer laps the ring (depth 2) and overwrites this slot
            self.back.data[:] = value
            self.publish()
        np.copyto(dst[half:], src[half:])


def test_reader_interrupted_by_writer_retries_and_gets_a_whole_frame() -> None:
    buf = _LappedBuffer([1, 2, 3, 4], depth=2)
    buf.back.data[:] = 1
    buf.publish()
    out = DmxFrame([1, 2, 3, 4])
    number = buf.read_into(out)
    assert buf.interrupts == 0  # the interleaving happened
    assert out.data.min() == out.data.max() == 3 and number == 3
