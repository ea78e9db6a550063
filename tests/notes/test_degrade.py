"""The live engine's budget hook on the note analyser: switching hop mid-stream keeps the notes."""

import numpy as np

from engine.analysis.harmony import HarmonyAnalyser
from engine.analysis.notes import BUDGET_HOP_FRAMES
from engine.audio.block import AudioBlock

SR = 44100


def _melody() -> tuple[np.ndarray, list[int]]:
    pitches = [60, 64, 67, 72, 67, 64, 60, 62]
    out = []
    for p in pitches:
        t = np.arange(int(0.5 * SR)) / SR
        f = 440.0 * 2 ** ((p - 69) / 12)
        env = np.minimum(1.0, t / 0.005) * np.exp(-t / 0.4)
        out.append(0.4 * np.sin(2 * np.pi * f * t) * env)
    return np.concatenate(out + [np.zeros(SR)]).astype(np.float32), pitches


def _notes(degrade_at: float | None) -> list[int]:
    x, _ = _melody()
    a = HarmonyAnalyser.create(SR)
    events = []
    for start in range(0, len(x), 2048):
        if degrade_at is not None and start >= degrade_at * SR and a.transcriber.hop_frames != BUDGET_HOP_FRAMES:
            assert a.degrade()
        events += a.process(AudioBlock(start, x[start : start + 2048], SR))
    events += a.flush(len(x))
    return [int(e.data["pitch"]) for e in events if e.name == "note_on"]


def test_degrading_mid_stream_keeps_every_note_once():
    before = _notes(None)
    after = _notes(1.7)
    assert before == after
    a = HarmonyAnalyser.create(SR)
    assert a.degrade() and a.degrade() is None
