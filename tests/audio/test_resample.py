"""The rate converter behind a device that runs at another rate than the stream (no device needed)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.resample import RateConverter
from engine.audio.ring import FLAG_INPUT_OVERFLOW, META_ADC_TIME, META_FLAGS, META_FRAME, RingBuffer, RingLayout


def _feed(conv: RateConverter, x: np.ndarray, block: int, t0: float, pump_every: int = 1) -> None:
    """Write ``x`` as the callback would (block by block, ADC time on the device's clock)."""
    for k, i in enumerate(range(0, len(x), block)):
        chunk = x[i : i + block].reshape(-1, 1)
        conv.ring.write(chunk, t0 + i / conv.in_rate, 0.0, 0)
        if (k + 1) % pump_every == 0:
            conv.pump()
    conv.pump()


def _peak_hz(y: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec)) * rate / len(y)


@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (96000, 48000), (48000, 44100)])
def test_a_tone_keeps_its_pitch_and_one_second_stays_one_second(in_rate, out_rate):
    out = RingBuffer(RingLayout(capacity=4 * out_rate))
    conv = RateConverter(out, in_rate, out_rate, 128)
    x = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(2 * in_rate) / in_rate)).astype(np.float32)
    _feed(conv, x, 128, t0=100.0)
    n = out.write_position
    assert 0 <= 2 * out_rate - n <= out_rate // 100  # all but what soxr holds back (< 10 ms)
    y = np.zeros((n, 1), np.float32)
    _, got = out.read(y)
    assert got == n
    assert abs(_peak_hz(y[: out_rate, 0], out_rate) - 1000.0) <= 1.0
    assert 0.49 < np.max(np.abs(y[out_rate // 2 :, 0])) < 0.51


def test_adc_times_map_onto_the_output_frames():
    """Output frame j was captured at input time j * in/out: its block's ADC time says so."""
    out = RingBuffer(RingLayout(capacity=4 * 48000))
    conv = RateConverter(out, 44100, 48000, 128)
    x = np.zeros(44100, np.float32)
    x[22050] = 1.0  # at 0.5 s
    _feed(conv, x, 128, t0=10.0, pump_every=3)
    rows = out.read_meta()
    assert len(rows) > 100
    # Every block's ADC time is its first frame's time at 48 kHz from t0 (within a microsecond).
    expect = 10.0 + rows[:, META_FRAME] / 48000.0
    np.testing.assert_allclose(rows[:, META_ADC_TIME], expect, atol=1e-6)
    y = np.zeros((out.write_position, 1), np.float32)
    out.read(y)
    assert abs(int(np.argmax(y[:, 0])) - 24000) <= 1  # the click lands at 0.5 s of the output


def test_frames_the_converter_missed_become_flagged_silence_and_time_stays_aligned():
    out = RingBuffer(RingLayout(capacity=8 * 48000))
    conv = RateConverter(out, 44100, 48000, 128)
    x = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4 * 44100) / 44100)).astype(np.float32)
    # The thread fell behind: 4 s written before it ran once, into a 2 s ring.
    for i in range(0, len(x), 128):
        conv.ring.write(x[i : i + 128].reshape(-1, 1), 1.0 + i / 44100, 0.0, 0)
    conv.pump()
    conv.pump()
    assert conv.lost_frames == 2 * 44100
    rows = out.read_meta()
    assert rows[:, META_FLAGS].astype(int)[0] & FLAG_INPUT_OVERFLOW
    n = out.write_position
    assert 0 <= 4 * 48000 - n <= 480  # the lost 2 s are there, as silence
    y = np.zeros((n, 1), np.float32)
    out.read(y)
    assert np.max(np.abs(y[: 2 * 48000 - 100, 0])) < 1e-3
    # The tone after the gap is where its time says: frame 3 s of the output is input 3 s.
    k = 3 * 48000
    t = np.arange(k, k + 480) / 48000
    ref = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    assert np.max(np.abs(y[k : k + 480, 0] - ref)) < 0.02


def test_the_thread_converts_as_frames_arrive_and_stops():
    import time

    out = RingBuffer(RingLayout(capacity=4 * 48000))
    conv = RateConverter(out, 44100, 48000, 128)
    conv.start()
    try:
        for i in range(0, 44100, 441):
            conv.ring.write(np.full((441, 1), 0.25, np.float32), 5.0 + i / 44100, 0.0, 0)
            time.sleep(0.01)
        deadline = time.monotonic() + 5
        while out.write_position < 47900 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out.write_position >= 47900
        assert conv.alive
    finally:
        conv.stop()
    assert not conv.alive
