"""Fixtures for the note transcription and harmony tests: one model session, synthetic tones."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.notes import BasicPitchModel, NoteModelError

RATE = 44100


@pytest.fixture(scope="session")
def model() -> BasicPitchModel:
    """The Basic Pitch ONNX session, loaded once (setup installs basic-pitch with --no-deps)."""
    try:
        return BasicPitchModel(threads=1)
    except NoteModelError as exc:  # the package is part of the set-up; say clearly what is missing
        pytest.skip(f"Basic Pitch model unavailable: {exc}")


def tone(midi: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """A plucked tone: 8 harmonics falling as 1/k², 4 ms attack, exponential decay, 20 ms fade-out."""
    f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    t = np.arange(int(seconds * rate)) / rate
    env = np.exp(-2.0 * t) * np.minimum(1.0, t / 0.004) * np.minimum(1.0, (seconds - t) / 0.02)
    wave = sum(np.sin(2 * np.pi * f * k * t) / k**2 for k in range(1, 9))
    return (wave * env * 0.2).astype(np.float32)


def render(notes: list[tuple[int, float, float]], seconds: float, rate: int = RATE) -> np.ndarray:
    """Mix ``(midi, onset s, duration s)`` tones into a mono buffer of ``seconds``."""
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    for midi, onset, dur in notes:
        start = int(round(onset * rate))
        seg = tone(midi, dur, rate)
        out[start : start + len(seg)] += seg[: len(out) - start]
    return out
