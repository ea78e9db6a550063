"""Onsets (mix and drum-band proxies) and band levels on synthetic audio of known timing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.frontend import FrontEnd
from engine.analysis.onsets import DrumHitRules, LevelMeter, OnsetDetector

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


def _labelled(events, label: str, rate: int) -> np.ndarray:
    return np.array([e.time for e in events if e.data.get("label") == label]) / rate


def _near(times: np.ndarray, truth: np.ndarray, within: float = 0.03) -> np.ndarray:
    """For each time: is a truth time within ``within``?"""
    return np.array([np.min(np.abs(truth - t)) < within for t in times], bool)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_drum_band_proxies_label_kick_snare_and_hihat(rate):
    x, beats, _ = drum_track(rate, 110, 12)
    events = feed(OnsetDetector(FrontEnd(rate)), x, rate, [256])
    period = 60 / 110
    kicks = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 0]
    snares = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 1]
    hats = beats + period / 2  # the loop's hi-hat plays the off-beats
    hats = hats[hats < 12 - 0.3]
    for label, truth in (("kick", kicks), ("snare", snares), ("hihat", hats)):
        got = _labelled(events, label, rate)
        assert np.mean(_near(truth, got)) >= 0.95, label  # recall
        # timing: a label takes the time of the mix onset of its hit (< 1 hop off)
        err = np.array([got[np.argmin(np.abs(got - t))] - t for t in truth])
        assert np.all(np.abs(err) < 0.006), (label, err)
    # precision: kicks and snares fire on nothing else; the kick band stays silent on hi-hats
    # and the hi-hat band on kicks (the synthetic snare is white noise up to 16 kHz, so a
    # hi-hat label on it is fair)
    assert np.all(_near(_labelled(events, "kick", rate), kicks))
    assert np.all(_near(_labelled(events, "snare", rate), snares))
    assert not np.any(_near(_labelled(events, "hihat", rate), kicks))
    labelled = [e for e in events if "label" in e.data]
    assert all(0.0 < e.data["strength"] <= 1.0 and e.data["stem"] == "mix" for e in labelled)
    assert all(0 <= e.detected_at - e.time <= 0.025 * rate for e in labelled)


def _bass_line(rate: int, seconds: float, seed: int = 5) -> np.ndarray:
    """A legato bass line (E1–G2, 41–98 Hz) with a new note every 0.27 s, 4 dB under the kicks' peak."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    notes = 41.2 * 2 ** (rng.integers(0, 15, int(seconds / 0.27) + 2) / 12)
    f = np.repeat(notes, int(0.27 * rate))[:n]
    phase = 2 * np.pi * np.cumsum(f) / rate  # continuous phase: the notes glide, no clicks
    return (0.5 * np.sin(phase) + 0.15 * np.sin(2 * phase)).astype(np.float32)


def test_kick_label_ignores_a_legato_bass_line_and_finds_kicks_over_it():
    rate = 44100
    bass = _bass_line(rate, 12)
    events = feed(OnsetDetector(FrontEnd(rate)), bass, rate, [512])
    # (its very start from silence is a low thump like any other: only the note changes count)
    assert np.all(_labelled(events, "kick", rate) < 0.05)
    x, beats, _ = drum_track(rate, 110, 12)
    period = 60 / 110
    kicks = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 0]
    # over the same line 14 dB quieter every kick is found, and only kicks
    events = feed(OnsetDetector(FrontEnd(rate)), x + 0.2 * bass, rate, [512])
    got = _labelled(events, "kick", rate)
    assert np.mean(_near(kicks, got)) == 1.0
    assert np.all(_near(got[got > 0.05], kicks))
    # over the line 6 dB quieter a kick lifts the sub band only ~5 dB, yet adds about as much
    # power as the band's peak: most kicks are still found, and nothing else
    events = feed(OnsetDetector(FrontEnd(rate)), x + 0.5 * bass, rate, [512])
    got = _labelled(events, "kick", rate)
    assert np.mean(_near(kicks, got)) >= 0.7
    assert np.all(_near(got[got > 0.05], kicks))


def test_drum_rules_run_on_another_stft():
    """The rules alone on a different STFT (2048-sample sqrt-Hann window, hop 512, 32 kHz),
    as a separated drum spectrum would give them: the same hits, and reset() starts over."""
    rate, win, hop = 32000, 2048, 512
    x, beats, _ = drum_track(rate, 110, 8)
    period = 60 / 110
    kicks = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 0]
    snares = beats[np.round((beats - beats[0]) / period).astype(int) % 2 == 1]
    window = np.sqrt(np.hanning(win))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    mags = np.abs(np.fft.rfft(frames * window, axis=1))
    ends = (np.arange(len(mags)) * hop + win) / rate
    rules = DrumHitRules(np.fft.rfftfreq(win, 1 / rate), window, rate / hop)

    def hits() -> dict[str, np.ndarray]:
        got = [(label, end) for mag, end in zip(mags, ends) for label, _ in rules.step(mag)]
        return {lab: np.array([t for la, t in got if la == lab]) for lab in ("kick", "snare", "hihat")}

    first = hits()
    # a hit shows in the frame whose end has taken in part of it: within a window after it
    for label, truth in (("kick", kicks), ("snare", snares)):
        got = first[label]
        assert len(got) == len(truth), label
        assert np.all((got - truth >= 0) & (got - truth <= win / rate)), label
    rules.reset()
    again = hits()
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_quiet_noise_and_low_rates_give_no_drum_labels():
    rate = 44100
    rng = np.random.default_rng(1)
    hiss = (1e-4 * rng.standard_normal(rate * 4)).astype(np.float32)  # about -80 dBFS
    assert [e for e in feed(OnsetDetector(FrontEnd(rate)), hiss, rate, [512]) if "label" in e.data] == []
    # at 8 kHz the hi-hat band lies above Nyquist: kicks and snares still work, no hi-hats
    x, beats, _ = drum_track(8000, 110, 8)
    events = feed(OnsetDetector(FrontEnd(8000)), x, 8000, [300])
    assert len(_labelled(events, "kick", 8000)) >= 5
    assert len(_labelled(events, "hihat", 8000)) == 0


def test_onsets_chunked_equal_whole_and_reset():
    rate = 48000
    x, _ = _clicks(rate, seed=9)
    x = x[: rate * 4]
    det = OnsetDetector(FrontEnd(rate))
    whole = feed(det, x, rate, [len(x)])
    chunked = feed(OnsetDetector(FrontEnd(rate)), x, rate, [1, 255, 1031, 97])
    assert [(e.time, e.detected_at, e.data) for e in whole] == [(e.time, e.detected_at, e.data) for e in chunked]
    assert {e.data.get("label") for e in whole} >= {None, "kick", "hihat"}  # labels are covered too
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
