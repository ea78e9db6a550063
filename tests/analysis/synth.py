"""Synthetic beat/downbeat activations with known beats (for tracker tests, no model needed)."""

from __future__ import annotations

import numpy as np

FPS = 50.0
HOP = 882  # input frames per activation frame at 44.1 kHz
READY = 1430  # input frames after a frame's centre when it is computed (32.4 ms)


def beat_times(bpm_segments: list[tuple[float, float]], end: float, start: float = 0.5) -> np.ndarray:
    """Beats from ``start`` to ``end``; ``bpm_segments``: (from second, bpm), in order."""
    out, t = [], start
    while t < end:
        out.append(t)
        bpm = [b for s, b in bpm_segments if s <= t][-1]
        t += 60.0 / bpm
    return np.array(out)


def activations(beats: np.ndarray, seconds: float, *, meter: int = 4, strength: float = 0.7,
                noise: float = 0.03, silent: tuple[tuple[float, float], ...] = (), offbeat: float = 0.0,
                seed: int = 0) -> np.ndarray:
    """(n, 2) (beat, downbeat) activations: a peak spread over ±1 frame at each beat (the
    first of every ``meter`` is a downbeat), ``offbeat`` × strength halfway between beats,
    uniform noise, and near-zero activations inside ``silent`` spans."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    act = np.zeros((n, 2))
    act[:, 0] = noise * rng.random(n)

    def put(t: float, col: int, h: float) -> None:
        x = t * FPS
        i = int(np.floor(x))
        frac = x - i
        for j, w in ((i, 1 - frac), (i + 1, frac)):
            if 0 <= j < n:
                act[j, col] = max(act[j, col], h * (0.4 + 0.6 * w))

    for k, t in enumerate(beats):
        put(t, 1 if k % meter == 0 else 0, strength)
        if offbeat and k + 1 < len(beats):
            put(0.5 * (t + beats[k + 1]), 0, offbeat * strength)
    for a, b in silent:
        act[int(a * FPS) : int(b * FPS)] = 0.002
    act[:, 0] = np.minimum(act[:, 0], 1.0 - act[:, 1])
    return act


def run(tracker, act: np.ndarray) -> list:
    """Step the tracker over the activations as the front end would (ready 32.4 ms late)."""
    events = []
    for i, (b, d) in enumerate(act):
        events.extend(tracker.step(i, float(b), float(d), i * HOP + READY))
    return events
