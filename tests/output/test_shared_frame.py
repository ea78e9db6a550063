"""FrameBuffer and SharedFrameBuffer: complete frames only, newest due frame, delay line; whole frames across processes.

The semantics tests run against both :class:`FrameBuffer` and :class:`SharedFrameBuffer`
(the ``make`` fixture), so the two cannot drift apart; a hypothesis test replays random
publish/read sequences on both and compares every answer; the cross-process test has a
spawned reader and a fast writer.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from multiprocessing import shared_memory
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.output.frame import DmxFrame, FrameBuffer
from engine.output.shared import SharedFrameBuffer


@pytest.fixture(params=[FrameBuffer, SharedFrameBuffer], ids=["local", "shared"])
def make(request) -> Iterator[Callable[..., FrameBuffer]]:
    """Builds buffers of the class under test (subclasses allowed); closes shared ones after."""
    made: list[Any] = []

    def build(universes, depth: int = 16, cls: type | None = None) -> FrameBuffer:
        base = request.param
        kind = base if cls is None else type(cls.__name__, (cls, base), {})
        buf = kind(universes, depth=depth)
        made.append(buf)
        return buf

    yield build
    for b in made:
        if isinstance(b, SharedFrameBuffer):
            b.close()


# -- FrameBuffer semantics, on both kinds ------------------------------------------------------


def test_nothing_before_first_publish(make) -> None:
    buf = make([1, 2])
    out = DmxFrame([1, 2])
    out.data[:] = 9
    assert buf.read_into(out) == 0 and buf.published == 0
    assert (out.data == 9).all()


def test_back_frame_is_invisible_until_published(make) -> None:
    buf = make([3, 1])
    out = DmxFrame([1, 3])
    buf.back.universe(3)[0] = 200
    buf.publish()
    buf.back.universe(3)[0] = 100  # writing the next frame
    assert buf.read_into(out) == 1
    assert out.universe(3)[0] == 200
    buf.publish()
    assert buf.read_into(out) == 2 and out.universe(3)[0] == 100
    assert buf.published == 2 and buf.universes == (1, 3)


def test_delay_line_picks_newest_frame_due(make) -> None:
    buf = make([1], depth=4)
    assert buf.depth == 4
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


def test_depth_must_allow_double_buffering(make) -> None:
    with pytest.raises(ValueError):
        make([1], depth=1)


def test_reader_thread_never_sees_a_torn_frame(make) -> None:
    """A writer fills each frame with one value; a concurrent reader must never see two values."""
    buf = make(range(1, 65), depth=2)
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


class _Lapping:
    """Runs the writer for two whole frames in the middle of the reader's first copy."""

    interrupts = 1

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


def test_reader_interrupted_by_writer_retries_and_gets_a_whole_frame(make) -> None:
    buf = make([1, 2, 3, 4], depth=2, cls=_Lapping)
    buf.back.data[:] = 1
    buf.publish()
    out = DmxFrame([1, 2, 3, 4])
    number = buf.read_into(out)
    assert buf.interrupts == 0  # the interleaving happened
    assert out.data.min() == out.data.max() == 3 and number == 3


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.one_of(st.just(float("-inf")), st.floats(0, 10)), st.integers(0, 255)),
        st.tuples(st.just("read"), st.one_of(st.just(float("inf")), st.floats(-1, 11)), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(ops=_ops, depth=st.integers(2, 5))
def test_shared_buffer_answers_exactly_like_the_local_one(ops, depth) -> None:
    local = FrameBuffer([1, 2], depth=depth)
    shared = SharedFrameBuffer([1, 2], depth=depth)
    try:
        a, b = DmxFrame([1, 2]), DmxFrame([1, 2])
        for op, t, value in ops:
            if op == "publish":
                for buf in (local, shared):
                    buf.back.data[:] = value
                    buf.back.data[1, 7] = 255 - value
                    buf.publish(t)
            else:
                assert local.read_into(a, t) == shared.read_into(b, t)
                assert np.array_equal(a.data, b.data)
        assert local.published == shared.published
    finally:
        shared.close()


# -- shared memory specifics -------------------------------------------------------------------


def test_attach_sees_the_writers_frames_and_universes() -> None:
    writer = SharedFrameBuffer([7, 3, 5], depth=3)
    reader = SharedFrameBuffer.attach(writer.name)
    try:
        assert reader.universes == (3, 5, 7) and reader.depth == 3 and reader.published == 0
        out = DmxFrame(reader.universes)
        assert reader.read_into(out) == 0
        writer.back.universe(5)[10] = 42
        writer.publish(2.0)
        assert reader.published == 1
        assert reader.read_into(out, 1.0) == 0  # not due yet: the stamp travels too
        assert reader.read_into(out, 2.0) == 1 and out.universe(5)[10] == 42
    finally:
        reader.close()
        writer.close()


def test_creator_close_removes_the_block_and_attach_checks_what_it_opens() -> None:
    buf = SharedFrameBuffer([1])
    name = buf.name
    buf.close()
    buf.close()  # twice is harmless
    with pytest.raises(FileNotFoundError):
        SharedFrameBuffer.attach(name)
    other = shared_memory.SharedMemory(create=True, size=4096)
    try:
        with pytest.raises(ValueError, match="not a beamsync frame buffer"):
            SharedFrameBuffer.attach(other.name)
    finally:
        other.close()
        other.unlink()


def _reader_process(name: str, seconds: float, results: Any) -> None:
    """Spawned reader: copy the newest frame over and over; count torn and backward frames."""
    buf = SharedFrameBuffer.attach(name)
    out = DmxFrame(buf.universes)
    reads = torn = backwards = 0
    last = 0
    values: set[int] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        number = buf.read_into(out)
        if not number:
            continue
        reads += 1
        lo, hi = int(out.data.min()), int(out.data.max())
        if lo != hi:
            torn += 1
        values.add(lo)
        if number < last:
            backwards += 1
        last = number
    buf.close()
    results.put((reads, torn, backwards, len(values)))


def test_reader_in_another_process_never_sees_a_torn_frame() -> None:
    """A spawned reader copies 32 KiB frames while this process republishes them as fast as it
    can (depth 2: the slot being read is the next one overwritten), each frame one value."""
    buf = SharedFrameBuffer(range(1, 65), depth=2)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    reader = ctx.Process(target=_reader_process, args=(buf.name, 1.5, results), daemon=True)
    published_while_reading = 0
    try:
        reader.start()
        k = 0
        while reader.is_alive() and results.empty():
            k = (k + 1) % 256
            buf.back.data[:] = k  # a frame copied while publish() rewrote its slot would mix k and k-2
            buf.publish()
            published_while_reading += 1
        reads, torn, backwards, distinct = results.get(timeout=30)
        reader.join(10)
    finally:
        if reader.is_alive():
            reader.kill()
        buf.close()
    assert reads > 100 and distinct > 10, (reads, distinct)  # the writer really ran under the reader
    assert torn == 0, f"{torn} torn frames in {reads} reads"
    assert backwards == 0  # the newest frame never goes back in time
    assert published_while_reading > reads // 100
