"""Onsets (mix and drum-band proxies) and band levels on synthetic audio of known timing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.frontend import FrontEnd
from engine.analysis.onsets import LevelMeter, OnsetDetector

from .conftest import drum_track, feed


def _clicks(rate: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Three kinds of hits (pitched thump, noise burst, decaying tone) at random times."""
    rng = np.random.default_rng(seed)
    n = rate * 10
    x = 0.003 * rng.standard_normal(n)
    truth = np.sort(rng.uniform(0.3, 9.6, 40))
    truth = truth[np.r_[True, np.diff(truth) > 0.12]]
    for i, t in enumerate(truth):
        k, m = int(t * rate), int(0.25 * rate)
        tt = np.arange(m) / rate
        if i % 3 == 0:
            burst = 0.6 * np.sin(2 * np.pi * (60 + 40 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 25)
        elif i % 3 == 1:
            burst = 0.3 * rng.standard_normal(m) * np.exp(-tt * 40)
        else:
            burst = 0.3 * np.sin(2 * np.pi * 440 * tt) * np.exp(-tt * 25)
        x[k : k + m] += burst[: n - k]
    return x.astype(np.float32), truth


@pytest.mark.parametrize("rate", [44100, 48000])
def test_mix_onsets_are_found_on_time_within_one_hop(rate):
    x, truth = _clicks(rate)
    fe = FrontEnd(rate)
    events = feed(OnsetDetector(fe), x, rate, [512])
    mix = [e for e in events if "label" not in e.data]
    assert len(mix) == len(truth)  # no misses, no extras
    t = np.array([e.time for e in mix]) / rate
    det = np.array([e.detected_at for e in mix]) / rate
    assert np.all(np.abs(t - truth) < 0.008)
    assert np.median(np.abs(t - truth)) < 0.003
    delay = det - truth
    assert np.all(delay >= 0) and np.all(delay <= 0.012)  # reported at most ~2 hops after the hit
    assert all(e.data["stem"] == "mix" and 0.0 <= e.data["strength"] <= 1.0 for e in mix)


def test_drum_band_proxies_label_kick_snare_and_hihat():
    rate = 44100
    x, beats, _ = drum_track(rate, 110, 12)
    events = feed(OnsetDetector(FrontEnd(rate)), x, rate, [256])
    period = 60 / 110
    kicks = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 0]
    snares = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 1]
    hats = beats + period / 2  # the loop's hi-hat plays the off-beats

    def recall(label: str, truth: np.ndarray) -> float:
        got = np.array([e.time for e in events if e.data.get("label") == label]) / rate
        return float(np.mean([np.min(np.abs(got - t)) < 0.03 for t in truth[truth > 1.0]])) if len(got) else 0.0

    assert recall("kick", kicks) >= 0.9
    assert recall("snare", snares) >= 0.9
    assert recall("hihat", hats) >= 0.9
    # the kick band stays silent on off-beat hi-hats
    kick_t = np.array([e.time for e in events if e.data.get("label") == "kick"]) / rate
    offbeats = beats + period / 2
    assert np.mean([np.min(np.abs(offbeats - k)) < 0.03 for k in kick_t]) < 0.1


def test_onsets_chunked_equal_whole_and_reset():
    rate = 48000
    x, _ = _clicks(rate, seed=9)
    x = x[: rate * 4]
    det = OnsetDetector(FrontEnd(rate))
    whole = feed(det, x, rate, [len(x)])
    chunked = feed(OnsetDetector(FrontEnd(rate)), x, rate, [1, 255, 1031, 97])
    assert [(e.time, e.detected_at, e.data) for e in whole] == [(e.time, e.detected_at, e.data) for e in chunked]
    assert whole
    det.fe.reset()
    det.reset()
    again = feed(det, x, rate, [512])
    assert [(e.time, e.data) for e in again] == [(e.time, e.data) for e in whole]


def test_levels_in_dbfs():
    rate = 44100
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # RMS 0.354 = -9.03 dBFS
    events = feed(LevelMeter(FrontEnd(rate), every=1), x, rate, [512])
    last = {e.name: e.value for e in events[-8:]}
    assert set(last) == {"level.mix", "level.low", "level.mid", "level.high"}
    assert abs(last["level.mix"] - (-9.03)) < 0.3
    assert abs(last["level.mid"] - (-9.03)) < 0.3
    assert last["level.low"] < -60 and last["level.high"] < -60
    assert len(events) == 4 * (rate // 256)


def test_madmom_sample_onsets(shared_dir):
    """madmom's annotated sample: every annotated onset found within 50 ms, no extras."""
    import mir_eval

    from engine.audio.file import load_audio

    root = shared_dir / "eval" / "madmom_testdata"
    x, rate = load_audio(root / "audio" / "sample.wav")
    ref = np.loadtxt(root / "annotations" / "sample.onsets", comments="#", ndmin=2)[:, 0]
    events = feed(OnsetDetector(FrontEnd(rate)), x, rate, [512])
    est = np.array([e.time for e in events if "label" not in e.data]) / rate
    f, p, r = mir_eval.onset.f_measure(ref, est, window=0.05)
    assert f >= 0.9, (f, p, r)
