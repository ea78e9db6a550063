"""Streaming separator: reconstruction, streaming == offline, carried state, latency, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from engine.analysis.separation import (
    DEFAULT_MODEL,
    STEMS,
    DspMaskModel,
    OnnxMaskModel,
    ResamplingSeparator,
    SeparationError,
    StftMaskSeparator,
    make_mask_model,
    make_separator,
    separate_array,
)

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason=f"no shipped model at {DEFAULT_MODEL}")


def music_like(seconds: float, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """Kick-like bursts, a bass tone, a vibrato 'voice' and noise: enough to exercise masks."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * 55 * t) + 0.1 * np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t))
    for s in np.arange(0, seconds, 0.5):
        i = int(s * sr)
        n = min(int(0.1 * sr), len(x) - i)
        tt = np.arange(n) / sr
        x[i : i + n] += 0.6 * np.sin(2 * np.pi * (50 + 100 * np.exp(-tt * 40)) * tt) * np.exp(-tt * 30)
    x += 0.01 * rng.standard_normal(len(x))
    return x.astype(np.float32)


def feed(sep, x: np.ndarray, sizes: list[int]) -> np.ndarray:  # noqa: ANN001
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        out.append(sep.process(x[i : i + n]))
        i += n
        k += 1
    return np.concatenate(out, axis=1)


def models() -> list:
    out = [pytest.param(lambda: DspMaskModel(44100), id="dsp")]
    out.append(pytest.param(lambda: OnnxMaskModel(DEFAULT_MODEL), id="model", marks=needs_model))
    return out


@pytest.mark.parametrize("make", models())
def test_stems_sum_back_to_the_delayed_input(make) -> None:  # noqa: ANN001
    sep = StftMaskSeparator(make())
    x = music_like(2.0)
    y = sep.process(x)
    assert y.shape == (4, len(x))
    lat = sep.latency
    assert lat == 1023
    # masks sum to one and the sqrt-Hann pair reconstructs exactly: float rounding only
    assert np.max(np.abs(y.sum(axis=0)[lat:] - x[:-lat])) < 1e-5
    # before the latency has passed the stems only hold window leakage that cancels in the sum
    assert np.max(np.abs(y.sum(axis=0)[:lat])) < 1e-5


@pytest.mark.parametrize("make", models())
def test_streaming_equals_one_call(make) -> None:  # noqa: ANN001
    x = music_like(1.5, seed=1)
    sep = StftMaskSeparator(make())
    whole = sep.process(x)
    sep.reset()
    chunked = feed(sep, x, [1, 7, 255, 256, 257, 1000, 3333])
    assert chunked.shape == whole.shape
    assert np.max(np.abs(chunked - whole)) < 1e-5


@needs_model
def test_model_state_is_carried_between_calls() -> None:
    x = music_like(1.0, seed=2)
    half = len(x) // 2 // 256 * 256
    m = OnnxMaskModel(DEFAULT_MODEL)
    sep = StftMaskSeparator(m)
    sep.process(x[:half])
    h_after = m._h.copy()
    assert np.abs(h_after).max() > 0  # the LSTM state moved
    second_carried = sep.process(x[half:])
    sep.reset()
    assert np.abs(m._h).max() == 0
    second_fresh = sep.process(x[half:])
    # the same audio gives different masks with and without the history
    assert np.max(np.abs(second_carried - second_fresh)) > 1e-4
    # and the carried run equals the one-call run
    sep.reset()
    whole = sep.process(x)
    assert np.max(np.abs(whole[:, half:] - second_carried)) < 1e-5


@pytest.mark.parametrize("make", models())
def test_multichannel_stems_sum_to_each_channel(make) -> None:  # noqa: ANN001
    x = np.stack([music_like(1.0, seed=3), 0.3 * music_like(1.0, seed=4)], axis=1)
    sep = StftMaskSeparator(make(), channels=2)
    y = separate_array(sep, x, chunk=4096)
    assert y.shape == (4, len(x), 2)
    assert np.max(np.abs(y.sum(axis=0) - x)) < 1e-5


def test_separate_array_is_aligned_with_the_input() -> None:
    sep = StftMaskSeparator(DspMaskModel(44100))
    x = np.zeros(20000, np.float32)
    x[5000] = 1.0
    y = separate_array(sep, x, chunk=3000)
    assert y.shape == (4, 20000)
    assert int(np.argmax(np.abs(y.sum(axis=0)))) == 5000


def test_dsp_baseline_puts_percussion_in_drums_and_low_tones_in_bass() -> None:
    sr = 44100
    t = np.arange(2 * sr) / sr
    bass = (0.3 * np.sin(2 * np.pi * 60 * t)).astype(np.float32)
    clicks = np.zeros_like(bass)
    clicks[:: sr // 4] = 1.0
    sep = StftMaskSeparator(DspMaskModel(sr))
    yb = separate_array(sep, bass)
    yc = separate_array(sep, clicks)
    e = lambda y: (y[:, sr // 2 :] ** 2).sum(axis=1)  # noqa: E731 - after the median history fills
    assert np.argmax(e(yb)) == STEMS.index("bass") and e(yb)[1] > 0.9 * e(yb).sum()
    assert np.argmax(e(yc)) == STEMS.index("drums") and e(yc)[0] > 0.7 * e(yc).sum()


@needs_model
def test_resampling_separator_keeps_block_size_and_is_chunk_independent() -> None:
    sep = make_separator(48000, "model")
    assert isinstance(sep, ResamplingSeparator)
    b, a = signal.butter(4, 2000 / 24000)
    x = signal.lfilter(b, a, music_like(1.0, 48000, seed=5)).astype(np.float32)
    y1 = feed(sep, x, [480])
    sep.reset()
    y2 = feed(sep, x, [17, 1024, 333])
    assert y1.shape == y2.shape == (4, len(x))
    assert np.max(np.abs(y1 - y2)) < 1e-5
    assert sep.underruns == 0
    lat = sep.latency
    assert 1000 < lat < 2 * 1024 + 48000 * 0.01
    # sum of stems ≈ delayed input (band-limited, so the resamplers' sub-sample offset is small)
    err = y1.sum(axis=0)[lat + 2000 :] - x[2000 : len(x) - lat]
    assert np.sqrt(np.mean(err**2)) < 0.05 * np.sqrt(np.mean(x**2))


def test_missing_and_broken_models_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SeparationError, match="not found"):
        OnnxMaskModel(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not onnx")
    with pytest.raises(SeparationError, match="bad.onnx: not a usable ONNX model"):
        OnnxMaskModel(bad)
    with pytest.raises(SeparationError, match="unknown separator"):
        make_mask_model(44100, "spleeter")
    # auto falls back to the baseline when the model file is absent
    assert isinstance(make_mask_model(44100, "auto", tmp_path / "nope.onnx"), DspMaskModel)


def test_wrong_channel_count_is_an_error() -> None:
    sep = StftMaskSeparator(DspMaskModel(44100), channels=2)
    with pytest.raises(SeparationError, match="expected 2 channel"):
        sep.process(np.zeros(100, np.float32))
