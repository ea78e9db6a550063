"""Helpers for the analysis tests: synthetic audio and activations with known beats."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engine.audio.block import AudioBlock

DATA = Path(__file__).with_name("data")


def load_reference_module():
    """The generator of the madmom reference (it also defines the test signal)."""
    spec = importlib.util.spec_from_file_location("make_madmom_reference", DATA / "make_madmom_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feed(analyser, x: np.ndarray, rate: int, sizes) -> list:
    """Feed ``x`` in blocks whose sizes cycle through ``sizes``; collect the events."""
    events, start, i = [], 0, 0
    while start < len(x):
        n = sizes[i % len(sizes)]
        events.extend(analyser.process(AudioBlock(start, x[start : start + n], rate)))
        start += n
        i += 1
    return events


def drum_track(rate: int, bpm: float, seconds: float, *, meter: int = 4, start: float = 0.5,
               gaps: tuple[tuple[float, float], ...] = (), tempo_change: tuple[float, float] | None = None,
               pad: bool = False, bed_dbfs: float | None = None,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic drum loop: kick on beat 1 (and 3 in 4/4), snare on the other beats,
    hi-hat on every eighth, with a little noise. Returns (audio, beat times, downbeat times).

    ``gaps``: (from, to) seconds without drums (silence, or only the pad); ``tempo_change``:
    (at seconds, new bpm); ``pad``: a sustained triad that changes (abruptly) every 4 beats of
    the starting tempo, from t = 0, playing through the gaps (a breakdown without drums);
    ``bed_dbfs``: a steady quiet chord at that RMS level from t = 0 to the end, through the
    gaps too (a quiet breakdown: not silence).
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = 0.001 * rng.standard_normal(n)
    beats, downs = [], []
    t, k, period = start, 0, 60.0 / bpm
    while t < seconds - 0.3:
        if tempo_change and t >= tempo_change[0]:
            period = 60.0 / tempo_change[1]
        silent = any(a <= t < b for a, b in gaps)
        if not silent:
            beats.append(t)
            if k % meter == 0:
                downs.append(t)
        for sub, kind in ((0.0, "beat"), (0.5, "hat")):
            tt = t + sub * period
            i0 = int(tt * rate)
            if any(a <= tt < b for a, b in gaps) or i0 >= n:
                continue
            m = min(int(0.3 * rate), n - i0)
            tau = np.arange(m) / rate
            if kind == "hat":
                sound = 0.15 * rng.standard_normal(m) * np.exp(-tau * 60)
                sound = np.diff(sound, prepend=0.0)  # brighter
            elif k % meter == 0 or (meter == 4 and k % meter == 2):
                sound = 0.8 * np.sin(2 * np.pi * (50 * tau + 60 / 30 * (1 - np.exp(-30 * tau)))) * np.exp(-tau * 12)
            else:
                sound = 0.35 * rng.standard_normal(m) * np.exp(-tau * 25) + 0.3 * np.sin(2 * np.pi * 190 * tau) * np.exp(-tau * 20)
            x[i0 : i0 + m] += sound
        t += period
        k += 1
    for a, b in gaps:
        x[int(a * rate) : int(b * rate)] = 0.0
    if pad:
        tt = np.arange(n) / rate
        bar = 4 * 60.0 / bpm
        chords = ((261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7))
        for i in range(int(seconds / bar) + 1):
            seg = (tt >= i * bar) & (tt < (i + 1) * bar)
            for f in chords[i % 4]:
                x[seg] += 0.08 * np.sin(2 * np.pi * f * tt[seg])
    if bed_dbfs is not None:
        tt = np.arange(n) / rate
        bed = sum(np.sin(2 * np.pi * f * tt + ph) for f, ph in ((220.0, 0.0), (261.6, 1.0), (329.6, 2.0)))
        x += 10.0 ** (bed_dbfs / 20.0) * bed / np.sqrt(np.mean(bed**2))
    return x.astype(np.float32), np.array(beats), np.array(downs)


@pytest.fixture(scope="session")
def reference_module():
    return load_reference_module()
