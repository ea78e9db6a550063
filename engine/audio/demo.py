"""The embedded demo clip: a short dance track synthesised by beamsync itself (no copied music).

Used by ``beamsync run`` when no sound card is present, and by tests and benchmarks that want
music with a known beat grid. Deterministic: the same call returns the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DemoClip:
    samples: np.ndarray  # mono float32
    sample_rate: int
    bpm: float
    beats: np.ndarray  # beat times in seconds
    downbeats: np.ndarray
    sections: tuple[tuple[float, str], ...]  # (start time, name)


def _env(n: int, sr: int, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.exp(-t / decay_s)


def demo_clip(sample_rate: int = 48000, bpm: float = 124.0, seed: int = 7) -> DemoClip:
    """About 31 s at 124 BPM: intro (kick, hats), groove (+bass, snare, pad), breakdown, drop."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    beat = 60.0 / bpm
    # (name, bars, kick, snare, hats, bass, pad)
    plan = [
        ("intro", 4, True, False, True, False, False),
        ("groove", 4, True, True, True, True, True),
        ("breakdown", 2, False, False, False, False, True),
        ("drop", 6, True, True, True, True, True),
    ]
    total_beats = 4 * sum(p[1] for p in plan)
    n = int((total_beats * beat + 1.0) * sr)
    out = np.zeros(n, dtype=np.float64)

    kick_n = int(0.25 * sr)
    t = np.arange(kick_n) / sr
    freq = 50 + 110 * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * _env(kick_n, sr, 0.12)
    snare_n = int(0.18 * sr)
    snare = (rng.standard_normal(snare_n) * 0.6 + np.sin(2 * np.pi * 190 * np.arange(snare_n) / sr)) * _env(snare_n, sr, 0.05)
    hat_n = int(0.05 * sr)
    hat_noise = rng.standard_normal(hat_n)
    hat = np.diff(hat_noise, prepend=0.0) * _env(hat_n, sr, 0.012) * 0.35

    roots = [45, 45, 41, 43]  # A, A, F, G (MIDI) – one per bar
    chords = [(57, 60, 64), (57, 60, 64), (53, 57, 60), (55, 59, 62)]

    def midi_hz(m: float) -> float:
        return 440.0 * 2 ** ((m - 69) / 12)

    def add(sig: np.ndarray, at: float, gain: float) -> None:
        i = int(round(at * sr))
        j = min(n, i + len(sig))
        if i < n:
            out[i:j] += gain * sig[: j - i]

    beats, downbeats, sections = [], [], []
    b = 0
    for name, bars, has_kick, has_snare, has_hats, has_bass, has_pad in plan:
        sections.append((b * beat, name))
        for bar in range(bars):
            bar_start = b * beat
            downbeats.append(bar_start)
            bar_idx = (b // 4) % 4
            if has_pad:
                dur = 4 * beat
                m = int(dur * sr)
                tt = np.arange(m) / sr
                pad = sum(np.sin(2 * np.pi * midi_hz(note) * tt + k) for k, note in enumerate(chords[bar_idx]))
                fade = np.minimum(1.0, np.minimum(tt / 0.3, (dur - tt) / 0.3))
                add(pad * fade / 3, bar_start, 0.12)
            for q in range(4):
                tb = (b + q) * beat
                beats.append(tb)
                if has_kick:
                    add(kick, tb, 0.9)
                if has_snare and q in (1, 3):
                    add(snare, tb, 0.5)
                if has_hats:
                    add(hat, tb + beat / 2, 1.0)
                    add(hat, tb, 0.5)
                if has_bass:
                    m = int(beat / 2 * sr)
                    tt = np.arange(m) / sr
                    f = midi_hz(roots[bar_idx] - 12 + (12 if q == 3 else 0))
                    saw = 2 * ((tt * f) % 1.0) - 1
                    add(saw * _env(m, sr, 0.15), tb + beat / 2, 0.25)
            b += 4
    out = np.tanh(out * 1.2) * 0.7
    return DemoClip(
        samples=out.astype(np.float32),
        sample_rate=sr,
        bpm=bpm,
        beats=np.array(beats),
        downbeats=np.array(downbeats),
        sections=tuple(sections),
    )
