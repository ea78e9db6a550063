"""The shared front end: madmom-equal beat features, exact chunking, the low-latency resampler."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.frontend import BEAT_FEATURES, AnalysisError, FrontEnd, log_frequencies
from engine.analysis.resample import StreamResampler
from engine.audio.block import AudioBlock

from .conftest import DATA


def _collect(fe: FrontEnd, x: np.ndarray, rate: int, sizes) -> dict[str, np.ndarray]:
    parts: dict[str, list] = {"fast_mag": [], "fast_end": [], "beat_features": [], "beat_index": [], "beat_ready": []}
    start, i = 0, 0
    while start < len(x):
        n = sizes[i % len(sizes)]
        fr = fe.frames_for(AudioBlock(start, x[start : start + n], rate))
        for k in parts:
            parts[k].append(getattr(fr, k))
        start += n
        i += 1
    return {k: np.concatenate(v) for k, v in parts.items()}


def test_log_frequencies_match_madmoms_layout():
    f = log_frequencies(24, 30.0, 17000.0)
    assert f[0] >= 30.0 and f[-1] <= 17000.0
    assert np.allclose(f[1:] / f[:-1], 2 ** (1 / 24))
    assert np.any(np.isclose(f, 440.0))  # aligned to A4


def test_beat_features_equal_madmom_reference(reference_module):
    """BeatNet's madmom pipeline (LOG_SPECT, run once in a madmom venv) on a synthetic signal."""
    ref = np.load(DATA / "madmom_logspec_reference.npz")["features"]
    x = reference_module.test_signal()
    fe = FrontEnd(22050)
    assert fe.beat_bands == 136
    got = _collect(fe, x, 22050, [333])
    feats = got["beat_features"]
    assert feats.shape[1] == BEAT_FEATURES == ref.shape[1]
    # streaming stops 705 samples (half a window) before madmom's zero-padded end
    assert len(feats) == len(ref) - 1
    np.testing.assert_allclose(feats, ref[: len(feats)], atol=2e-5, rtol=0)
    assert np.abs(ref).max() > 1.0  # the comparison is not between near-zero arrays


@pytest.mark.parametrize("rate", [44100, 48000])
def test_chunked_equals_whole(rate):
    rng = np.random.default_rng(rate)
    x = (0.3 * rng.standard_normal(rate * 2)).astype(np.float32)
    whole = _collect(FrontEnd(rate), x, rate, [len(x)])
    chunked = _collect(FrontEnd(rate), x, rate, [1, 127, 509, 64, 3000, 17])
    for k in whole:
        np.testing.assert_array_equal(whole[k], chunked[k], err_msg=k)
    # 2 s at 50 frames/s, less the look-ahead of the last frame
    assert len(whole["beat_index"]) == 99  # frames 0..98: the last centred at 1.96 s
    # a beat frame is ready 32 ms (705 samples at 22,050 Hz) plus the resampler's ~0.6 ms after its centre
    centre = whole["beat_index"] * 0.02 * rate
    delay_ms = (whole["beat_ready"] - centre) / rate * 1000
    assert np.all((delay_ms > 32.0) & (delay_ms < 33.5))


def test_reset_restarts_the_stream_at_a_new_origin():
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal(22050)).astype(np.float32)
    fe = FrontEnd(44100)
    a = fe.frames_for(AudioBlock(0, x, 44100))
    fe.reset()
    b = fe.frames_for(AudioBlock(1_000_000, x, 44100))
    np.testing.assert_array_equal(a.beat_features, b.beat_features)
    np.testing.assert_array_equal(a.fast_end + 1_000_000, b.fast_end)
    assert fe.origin == 1_000_000


def test_bad_blocks_are_refused_with_a_reason():
    fe = FrontEnd(44100)
    with pytest.raises(AnalysisError, match="48000 Hz"):
        fe.frames_for(AudioBlock(0, np.zeros(512, np.float32), 48000))
    with pytest.raises(AnalysisError, match="mono"):
        fe.frames_for(AudioBlock(0, np.zeros((512, 2), np.float32), 44100))
    with pytest.raises(AnalysisError, match="sample rate"):
        FrontEnd(1000)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resampler_is_exact_under_chunking_and_band_limited(rate):
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 1000 * t) + 0.5 * np.sin(2 * np.pi * 15000 * t)).astype(np.float32)
    rs = StreamResampler(rate, 22050)
    whole = rs.process(x)
    rs.reset()
    parts, s = [], 0
    for n in [1, 999, 7, 4096, 333] * 40:
        parts.append(rs.process(x[s : s + n]))
        s += n
    np.testing.assert_array_equal(whole, np.concatenate(parts)[: len(whole)])
    y = whole[2000:-2000]
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 22050)
    peak = freqs[np.argmax(spec)]
    assert abs(peak - 1000) < 2
    # the 15 kHz tone is above the new Nyquist: it must not alias to 7.05 kHz
    alias = spec[np.abs(freqs - (22050 - 15000)) < 20].max()
    assert alias < spec.max() * 10 ** (-60 / 20)
    # amplitude of the 1 kHz tone kept within 0.1 dB; output ready < 1 ms after its time
    assert abs(np.sqrt(2) * y.std() - 0.5) < 0.5 * 0.012
    assert rs.latency / rate < 0.001
