"""The SPSC ring buffer: nothing lost or reordered until overflow, which is counted exactly."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audio.ring import META_ADC_TIME, META_FRAME, META_FRAMES, RingBuffer, RingLayout

CAP = 64

ops = st.lists(
    st.one_of(
        st.tuples(st.just("w"), st.integers(1, 3 * CAP)),
        st.tuples(st.just("r"), st.integers(1, 3 * CAP)),
    ),
    max_size=60,
)


def _model_run(operations, channels=1):
    ring = RingBuffer(RingLayout(capacity=CAP, channels=channels, meta_capacity=8))
    out = np.zeros((3 * CAP, channels), np.float32)
    written = 0
    got_frames: list[int] = []
    got_values: list[np.ndarray] = []
    for op, n in operations:
        if op == "w":
            block = (np.arange(written, written + n, dtype=np.float32)[:, None] + np.arange(channels) * 0.25).astype(
                np.float32
            )
            ring.write(block, adc_time=float(written), callback_time=0.0)
            written += n
        else:
            first, k = ring.read(out, n)
            got_frames.extend(range(first, first + k))
            got_values.append(out[:k].copy())
    return ring, written, got_frames, got_values


@settings(max_examples=400, deadline=None)
@given(ops, st.integers(1, 3))
def test_any_interleaving_loses_nothing_until_overflow_counted_exactly(operations, channels):
    ring, written, frames, values = _model_run(operations, channels)
    # Frames come out strictly increasing (never reordered, never duplicated) ...
    assert all(b > a for a, b in zip(frames, frames[1:]))
    # ... with exactly the values that were written for them ...
    if values:
        vals = np.concatenate(values)
        expect = np.array(frames, np.float32)[:, None] + np.arange(channels) * 0.25
        np.testing.assert_array_equal(vals, expect.astype(np.float32))
    # ... and every frame not returned and not still unread is counted as lost, exactly.
    unread = written - ring.read_position
    assert len(frames) + ring.lost_frames + unread == written
    # Nothing is lost while the reader never falls more than a ring behind.


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, CAP // 2), max_size=40))
def test_no_loss_when_reader_keeps_up(sizes):
    ring = RingBuffer(RingLayout(capacity=CAP))
    out = np.zeros((CAP, 1), np.float32)
    written = 0
    collected = []
    for n in sizes:
        ring.write(np.arange(written, written + n, dtype=np.float32)[:, None])
        written += n
        first, k = ring.read(out)
        collected.extend(out[:k, 0].tolist())
    assert ring.lost_frames == 0
    assert collected == list(range(written))


def test_overflow_keeps_newest_frames_and_counts_the_rest():
    ring = RingBuffer(RingLayout(capacity=CAP))
    ring.write(np.arange(200, dtype=np.float32)[:, None])  # oversize: newest 64 kept
    out = np.zeros((256, 1), np.float32)
    first, n = ring.read(out)
    assert (first, n) == (200 - CAP, CAP)
    np.testing.assert_array_equal(out[:n, 0], np.arange(200 - CAP, 200))
    assert ring.lost_frames == 200 - CAP
    assert ring.counters()["oversize_blocks"] == 1


def test_block_metadata_in_order_and_counted_when_overwritten():
    ring = RingBuffer(RingLayout(capacity=CAP, meta_capacity=4))
    for i in range(6):
        ring.write(np.zeros((8, 1), np.float32), adc_time=10.0 + i)
    rows = ring.read_meta()
    assert ring.lost_blocks == 2
    np.testing.assert_array_equal(rows[:, META_FRAME], [16, 24, 32, 40])
    np.testing.assert_array_equal(rows[:, META_FRAMES], [8, 8, 8, 8])
    np.testing.assert_array_equal(rows[:, META_ADC_TIME], [12, 13, 14, 15])
    assert len(ring.read_meta()) == 0


def test_concurrent_writer_and_reader_threads_never_return_torn_frames():
    """A writer thread racing a slow reader: every returned frame equals its index, losses add up."""
    ring = RingBuffer(RingLayout(capacity=256))
    total = 200_000
    done = threading.Event()

    def writer():
        pos = 0
        rng = np.random.default_rng(1)
        while pos < total:
            n = int(rng.integers(1, 200))
            ring.write(np.arange(pos, pos + n, dtype=np.float64).astype(np.float32)[:, None])
            pos += n
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    out = np.zeros((97, 1), np.float32)
    returned = 0
    last = -1
    while not (done.is_set() and ring.available() <= 0):
        first, n = ring.read(out)
        if n:
            np.testing.assert_array_equal(out[:n, 0], np.arange(first, first + n, dtype=np.float32))
            assert first > last
            last = first + n - 1
            returned += n
    t.join()
    assert returned + ring.lost_frames == ring.write_position


def test_shared_memory_ring_read_from_another_process():
    import multiprocessing as mp

    layout = RingLayout(capacity=4096, channels=2)
    ring = RingBuffer.create_shared(layout)
    try:
        ring.write(np.stack([np.arange(1000), -np.arange(1000)], axis=1).astype(np.float32), adc_time=5.0)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_child_read, args=(layout, ring.shm_name, q))
        p.start()
        result = q.get(timeout=30)
        p.join(10)
        assert result == (0, 1000, 999.0, -999.0, 5.0)
    finally:
        ring.close(unlink=True)


def _child_read(layout, name, q):
    r = RingBuffer.attach(layout, name, from_oldest=True)
    out = np.zeros((2000, 2), np.float32)
    first, n = r.read(out)
    meta = r.read_meta()
    q.put((first, n, float(out[n - 1, 0]), float(out[n - 1, 1]), float(meta[0, META_ADC_TIME])))
    r.close()


def test_ring_rejects_tiny_layouts():
    with pytest.raises(ValueError):
        RingBuffer(RingLayout(capacity=4))


def test_writer_and_callback_allocate_nothing_that_lives():
    """The realtime path keeps no memory: 20,000 calls of the PortAudio callback leave no
    Python allocation behind (tracemalloc; a per-call leak of even one byte would show as
    20,000 bytes), and transient allocations stay tiny."""
    import time
    import tracemalloc
    from types import SimpleNamespace

    from engine.audio.stream import AudioInput

    cb = AudioInput.__new__(AudioInput)  # the callback alone, without opening a device
    cb.ring = RingBuffer(RingLayout(capacity=4096, channels=1))
    cb._setup_callback(cb.ring, [0, 1])  # two channels mixed to mono
    block = np.ones((128, 2), np.float32)
    info = SimpleNamespace(inputBufferAdcTime=10.0, currentTime=10.004)
    no_flags = 0  # sounddevice passes a CallbackFlags that is falsy when nothing happened
    for _ in range(100):  # warm up caches and free lists
        cb._callback(block, 128, info, no_flags)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(20_000):
        cb._callback(block, 128, info, no_flags)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 256, f"{after - before} bytes still allocated after 20,000 callbacks"
    assert peak - before < 4096, f"transient allocations peaked at {peak - before} bytes"
    assert cb.ring.counters()["blocks"] == 20_100
    out = np.zeros((128, 1), np.float32)
    cb.ring.skip_to_newest(keep=128)
    cb.ring.read(out)
    np.testing.assert_array_equal(out[:, 0], 1.0)  # (1 + 1) / 2


def test_reader_view_reads_independently_and_never_holds_back_the_writer():
    ring = RingBuffer(RingLayout(capacity=CAP))
    ring.write(np.arange(10, dtype=np.float32)[:, None])
    view = ring.reader_view()
    ring.write(np.arange(10, 30, dtype=np.float32)[:, None])
    out = np.zeros((CAP, 1), np.float32)
    first, n = view.read(out)
    assert (first, n) == (10, 20)
    first, n = ring.read(out)
    assert (first, n) == (0, 30)
    assert ring.free_space() == CAP  # only the primary reader's position counts
    view.read(out)
    assert ring.free_space() == CAP
