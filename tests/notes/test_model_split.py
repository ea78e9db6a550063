"""The cheap streaming path through Basic Pitch gives the same numbers as the whole model.

``BasicPitchModel`` cuts ``nmp.onnx`` in memory into a front (CQT + per-window normalisation)
and a back (the convolution stack, local in time) and runs the back only on a window's last
frames; ``CqtFront`` computes the front from the previous window's. Each step must reproduce
the whole-window model, and a transcriber's events must not change.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.notes import (
    FRAME_SAMPLES,
    TAIL_CONTEXT_FRAMES,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    BasicPitchModel,
    CqtFront,
    NoteTranscriber,
)
from engine.audio.block import AudioBlock

from .conftest import RATE, render


@pytest.fixture(scope="module")
def whole_model() -> BasicPitchModel:
    try:
        return BasicPitchModel(split=False)
    except Exception as exc:  # same condition as the shared fixture
        pytest.skip(f"Basic Pitch model unavailable: {exc}")


def stream_22k(seconds: float, seed: int) -> np.ndarray:
    """Notes over a noise floor at the model's rate: onsets, sustains and silence everywhere."""
    rng = np.random.default_rng(seed)
    notes = [(int(rng.integers(30, 90)), float(rng.uniform(0, seconds - 0.3)), float(rng.uniform(0.1, 1.2))) for _ in range(25)]
    audio = render(notes, seconds, rate=22050)
    return (audio + 0.002 * rng.standard_normal(len(audio))).astype(np.float32)


def test_model_is_split_with_the_incremental_front(model: BasicPitchModel) -> None:
    assert model.mode == "split"
    assert isinstance(model.new_front(), CqtFront)
    assert model.new_front() is not model.new_front()  # one per stream


@pytest.mark.parametrize("frames", [1, 9, 24, 43, WINDOW_FRAMES])
def test_tail_of_the_split_model_equals_the_whole_window(model: BasicPitchModel, whole_model: BasicPitchModel,
                                                          frames: int) -> None:
    audio = stream_22k(4.0, seed=frames)
    for start in (0, 20000):
        window = audio[start : start + WINDOW_SAMPLES]
        want_note, want_onset = whole_model.run(window)
        note, onset = model.run_tail(window, frames)
        assert note.shape == onset.shape == (frames, 88)
        np.testing.assert_allclose(note, want_note[-frames:], atol=1e-5)
        np.testing.assert_allclose(onset, want_onset[-frames:], atol=1e-5)


def test_tail_context_is_the_receptive_field(model: BasicPitchModel, whole_model: BasicPitchModel) -> None:
    # With TAIL_CONTEXT_FRAMES of context the kept onset frames are the whole window's to the
    # last bit; with one frame less the first of them changes: the constant is the smallest
    # that reproduces the model, not a guess with slack.
    window = stream_22k(2.5, seed=3)[:WINDOW_SAMPLES]
    _, want_onset = whole_model.run(window)
    keep = 12
    cqt = model._front.run(None, {model._front.get_inputs()[0].name: window[None, :, None]})[0]
    onset_index = [o.name for o in model._back.get_outputs()].index("StatefulPartitionedCall:2")
    errors = []
    for context in (TAIL_CONTEXT_FRAMES, TAIL_CONTEXT_FRAMES - 1):
        outputs = model._back.run(None, {model._cut: cqt[:, -(keep + context) :]})
        errors.append(float(np.abs(outputs[onset_index][0, -keep:] - want_onset[-keep:]).max()))
    assert errors[0] <= 1e-6 < errors[1]


def test_incremental_front_equals_a_fresh_computation(model: BasicPitchModel) -> None:
    audio = stream_22k(9.0, seed=7)
    front = model.new_front()
    assert front is not None
    start, steps = 0, []
    # default hop, budget hop, a hop change, a repeat, then a jump that forces a full recompute
    for hop in [9] * 6 + [28] * 3 + [9, 0, 150, 9]:
        start += hop * FRAME_SAMPLES
        steps.append(start)
    for start in steps:
        window = audio[start : start + WINDOW_SAMPLES]
        got = front.update(window, start).copy()
        fresh = model.new_front()
        assert fresh is not None
        want = fresh.update(window)
        np.testing.assert_allclose(got, want, atol=2e-3)  # dB; float32 rounding in products
        np.testing.assert_allclose(CqtFront.normalise(got, 30), CqtFront.normalise(want, 30), atol=2e-5)


def test_incremental_front_skips_most_of_the_work(model: BasicPitchModel) -> None:
    audio = stream_22k(6.0, seed=9)
    front = model.new_front()
    assert front is not None
    hop = 9 * FRAME_SAMPLES
    front.update(audio[:WINDOW_SAMPLES], 0)
    assert front.computed_frames == 9 * WINDOW_FRAMES  # the first window: everything
    full_samples = front.computed_samples
    front.reset()
    front.update(audio[:WINDOW_SAMPLES], 0)
    frames0, samples0 = front.computed_frames, front.computed_samples
    for i in range(1, 11):
        front.update(audio[i * hop : i * hop + WINDOW_SAMPLES], i * hop)
    per_window_frames = (front.computed_frames - frames0) / 10
    per_window_samples = (front.computed_samples - samples0) / 10
    assert per_window_frames < 0.45 * 9 * WINDOW_FRAMES  # the lowest octaves span the window
    assert per_window_samples < 0.1 * full_samples


def test_transcriber_events_do_not_depend_on_the_model_path(model: BasicPitchModel,
                                                            whole_model: BasicPitchModel) -> None:
    rng = np.random.default_rng(5)
    notes = [(int(rng.integers(36, 84)), float(rng.uniform(0, 7.5)), float(rng.uniform(0.1, 0.9))) for _ in range(30)]
    audio = render(notes, 8.0)
    runs = []
    for m, incremental, hop in ((whole_model, False, 9), (model, False, 9), (model, True, 9), (whole_model, False, 28),
                                (model, True, 28)):
        tr = NoteTranscriber(RATE, model=m, incremental=incremental, hop_frames=hop)
        events = []
        for start in range(0, len(audio), 1000):
            events += tr.process(AudioBlock(start, audio[start : start + 1000], RATE))
        events += tr.flush(len(audio))
        runs.append([(e.name, e.time, e.detected_at, e.data["pitch"], round(e.value, 3)) for e in events])
    assert len(runs[0]) > 20
    assert runs[1] == runs[0] and runs[2] == runs[0]
    assert runs[4] == runs[3]
