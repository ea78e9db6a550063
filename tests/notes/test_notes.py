"""Streaming Basic Pitch transcription: exact pitches and onsets on synthetic tones, stitching
across hops without duplicate or split notes, chunked == whole-file, and the causal decoder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.notes import (
    FRAME_SAMPLES,
    MODEL_RATE,
    N_PITCHES,
    BasicPitchModel,
    NoteDecoder,
    NoteModelError,
    NoteTranscriber,
    find_model_path,
)
from engine.audio.block import AudioBlock
from engine.errors import BeamsyncError
from engine.features import FeatureEvent

from .conftest import RATE, render

REPO = Path(__file__).resolve().parents[2]
FRAME_S = FRAME_SAMPLES / MODEL_RATE

MELODY = [(60, 0.5, 0.45), (64, 1.0, 0.45), (67, 1.5, 0.45), (72, 2.0, 0.45), (57, 2.5, 0.9), (62, 3.5, 0.6)]


def transcribe(tr: NoteTranscriber, audio: np.ndarray, block: int) -> list[FeatureEvent]:
    events: list[FeatureEvent] = []
    for start in range(0, len(audio), block):
        events += tr.process(AudioBlock(start, audio[start : start + block], tr.sample_rate))
    return events + tr.flush(len(audio))


def note_ons(events: list[FeatureEvent]) -> list[tuple[int, float]]:
    return sorted((e.data["pitch"], e.time / RATE) for e in events if e.name == "note_on")


# --------------------------------------------------------------------------------- model file
def test_model_is_found_in_the_installed_package_not_the_repo() -> None:
    path = find_model_path()
    assert path.name == "nmp.onnx" and path.is_file()
    spec = importlib.util.find_spec("basic_pitch")
    assert spec is not None and spec.submodule_search_locations
    assert Path(next(iter(spec.submodule_search_locations))) in path.parents
    assert REPO not in path.parents or ".venv" in path.parts  # never a copy inside the project
    assert not list((REPO / "engine").rglob("*.onnx"))


def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NoteModelError, match="basic-pitch.*not installed.*--no-deps") as info:
        find_model_path()
    assert isinstance(info.value, BeamsyncError)


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(NoteModelError, match=str(tmp_path / "nope.onnx")):
        BasicPitchModel(tmp_path / "nope.onnx")


def test_bad_options_and_blocks_are_rejected(model: BasicPitchModel) -> None:
    with pytest.raises(NoteModelError, match="hop_frames"):
        NoteTranscriber(RATE, hop_frames=0, model=model)
    with pytest.raises(NoteModelError, match="onset_threshold"):
        NoteTranscriber(RATE, onset_threshold=1.5, model=model)
    tr = NoteTranscriber(RATE, model=model)
    with pytest.raises(NoteModelError, match="48000 Hz, expected 44100 Hz"):
        tr.process(AudioBlock(0, np.zeros(256, np.float32), 48000))


# ------------------------------------------------------------------------ synthetic audio
@pytest.fixture(scope="module")
def melody_events(model: BasicPitchModel) -> list[FeatureEvent]:
    tr = NoteTranscriber(RATE, model=model, octave_ghost_frames=3)
    return transcribe(tr, render(MELODY, 4.5), 512)


def test_melody_exact_pitches_and_onsets(melody_events: list[FeatureEvent]) -> None:
    found = note_ons(melody_events)
    assert [p for p, _ in found] == sorted(p for p, _, _ in MELODY)
    expected = dict((p, on) for p, on, _ in MELODY)
    for pitch, onset in found:
        assert abs(onset - expected[pitch]) <= 0.025, (pitch, onset)


def test_every_note_on_has_one_note_off_after_it(melody_events: list[FeatureEvent]) -> None:
    ons = [e for e in melody_events if e.name == "note_on"]
    offs = [e for e in melody_events if e.name == "note_off"]
    assert sorted((e.data["pitch"], e.time) for e in ons) == sorted((e.data["pitch"], e.data["onset"]) for e in offs)
    for on in ons:
        off = next(e for e in offs if e.data["pitch"] == on.data["pitch"] and e.data["onset"] == on.time)
        assert off.time > on.time and off.detected_at >= on.detected_at
        assert on.data["pitch_class"] == on.data["pitch"] % 12 and on.data["stem"] == "mix"
        assert 0.0 < on.value <= 1.0 and on.value == on.data["velocity"]


def test_events_are_causal_and_latency_is_bounded(melody_events: list[FeatureEvent]) -> None:
    # A note-on can be certain only after the window reaching margin + peak + confirm frames
    # past its onset has run: at most one hop, the resampler's delay and one block later.
    tr_defaults = NoteTranscriber.__init__.__kwdefaults__
    assert tr_defaults is not None
    for e in melody_events:
        assert e.detected_at >= e.time
    for e in (e for e in melody_events if e.name == "note_on"):
        frames = 6 + 1 + 3 + 9 + 2  # margin, peak, ghost hold, hop, soxr delay (< 2 frames)
        assert e.detected_at - e.time <= frames * FRAME_S * RATE + 512


def test_long_note_crossing_many_hops_is_one_note(model: BasicPitchModel) -> None:
    audio = render([(65, 0.3, 3.6)], 4.5)  # 3.6 s: crosses ~34 hops and two whole windows
    for hop in (5, 9, 24):
        events = transcribe(NoteTranscriber(RATE, model=model, hop_frames=hop, octave_ghost_frames=3), audio, 700)
        assert [(e.name, e.data["pitch"]) for e in events] == [("note_on", 65), ("note_off", 65)], hop
        assert abs(events[0].time / RATE - 0.3) <= 0.025
        assert events[1].time / RATE > 3.0


def test_repeated_notes_are_neither_merged_nor_split(model: BasicPitchModel) -> None:
    onsets = [0.4 + 0.3 * i for i in range(10)]  # 300 ms apart: hop boundaries fall everywhere
    audio = render([(69, t, 0.25) for t in onsets], 3.8)
    events = transcribe(NoteTranscriber(RATE, model=model, octave_ghost_frames=3), audio, 333)
    found = note_ons(events)
    assert [p for p, _ in found] == [69] * 10
    assert np.max(np.abs(np.array([t for _, t in found]) - onsets)) <= 0.025


def test_chords_give_their_pitches(model: BasicPitchModel) -> None:
    expected = sorted([(60, 0.5), (64, 0.5), (67, 0.5), (57, 1.8), (60, 1.8), (64, 1.8)])  # C, then Am
    audio = render([(p, t, 1.2) for p, t in expected], 3.2)
    found = note_ons(transcribe(NoteTranscriber(RATE, model=model), audio, 1024))  # mix settings
    assert [p for p, _ in found] == [p for p, _ in expected]
    assert all(abs(t - te) <= 0.025 for (_, t), (_, te) in zip(found, expected))


def test_flush_decodes_the_last_frames_of_a_file(model: BasicPitchModel) -> None:
    audio = render([(64, 0.4, 0.5), (67, 1.13, 0.12)], 1.25)  # the last note starts 120 ms before the end
    tr = NoteTranscriber(RATE, model=model)
    live = []
    for start in range(0, len(audio), 512):
        live += tr.process(AudioBlock(start, audio[start : start + 512], RATE))
    assert [p for p, _ in note_ons(live)] == [64]  # 67 has not settled yet when the audio stops
    tail = tr.flush(len(audio))
    assert [p for p, _ in note_ons(tail)] == [67]
    assert all(e.detected_at == len(audio) for e in tail)
    assert sorted(e.data["pitch"] for e in live + tail if e.name == "note_off") == [64, 67]


def test_chunked_equals_whole_file_and_reset_restarts(model: BasicPitchModel) -> None:
    audio = render(MELODY[:4], 2.6)
    tr = NoteTranscriber(RATE, model=model)
    results = []
    for block in (len(audio), 4096, 1000, 67):
        tr.reset()
        events = transcribe(tr, audio, block)
        results.append([(e.name, e.time, e.data["pitch"], e.value) for e in events])
    assert results[0] and all(r == results[0] for r in results[1:])


def test_48k_input_matches_44k_and_carries_the_stem(model: BasicPitchModel) -> None:
    notes = [(60, 0.5, 0.5), (67, 1.0, 0.5), (55, 1.5, 0.6)]
    found = {}
    for rate in (44100, 48000):
        audio = render(notes, 2.4, rate=rate)
        tr = NoteTranscriber(rate, model=model, stem="vocals")
        block = rate // 100
        events = []
        for start in range(0, len(audio), block):
            events += tr.process(AudioBlock(start, audio[start : start + block], rate))
        assert events and all(e.data["stem"] == "vocals" for e in events)
        found[rate] = sorted((e.data["pitch"], e.time / rate) for e in events if e.name == "note_on")
    assert {p for p, _ in found[44100]} >= {60, 67, 55}
    assert [p for p, _ in found[48000]] == [p for p, _ in found[44100]]
    assert all(abs(a - b) <= FRAME_S for (_, a), (_, b) in zip(found[48000], found[44100]))


# --------------------------------------------------------------------------- the decoder
def frames(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, N_PITCHES), np.float32), np.zeros((n, N_PITCHES), np.float32)


def decode_all(dec: NoteDecoder, note: np.ndarray, onset: np.ndarray) -> tuple[list, list]:
    started, ended = dec.push(note, onset)
    return started, ended + dec.flush()


def test_decoder_note_from_onset_peak_to_release() -> None:
    note, onset = frames(60)
    p = 60 - 21
    onset[10, p], onset[9, p], onset[11, p] = 0.9, 0.3, 0.4
    note[10:30, p] = 0.8
    started, ended = decode_all(NoteDecoder(), note, onset)
    assert [(n.pitch, n.onset) for n in started] == [(60, 10)]
    assert [(n.pitch, n.onset, n.offset) for n in ended] == [(60, 10, 30)]
    assert ended[0].velocity == pytest.approx(0.8)


def test_decoder_drops_blips_and_octave_ghosts() -> None:
    note, onset = frames(60)
    onset[10, 5] = 0.9  # onset without sustain: never confirmed
    onset[20, 30] = onset[21, 42] = 0.9  # a note and its octave starting one frame later
    note[20:40, 30] = 0.9
    note[21:40, 42] = 0.6
    with_ghosts, _ = decode_all(NoteDecoder(), note, onset)
    assert sorted(n.pitch for n in with_ghosts) == [51, 63]
    without, ended = decode_all(NoteDecoder(octave_ghost_frames=3), note, onset)
    assert [n.pitch for n in without] == [51] and [n.pitch for n in ended] == [51]


def test_decoder_rearticulation_and_double_peaks() -> None:
    note, onset = frames(80)
    onset[10, 40] = onset[30, 40] = 0.9  # two attacks 20 frames apart: two notes
    onset[33, 40] = 0.8  # a second peak 3 frames after an attack: the same note
    note[10:60, 40] = 0.9
    started, ended = decode_all(NoteDecoder(), note, onset)
    assert [n.onset for n in started] == [10, 30]
    assert [(n.onset, n.offset) for n in ended] == [(10, 30), (30, 60)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_decoder_is_chunk_invariant(chunks: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    note = (rng.random((n, N_PITCHES)) ** 3).astype(np.float32)
    onset = (rng.random((n, N_PITCHES)) ** 6).astype(np.float32)
    whole_s, whole_e = decode_all(NoteDecoder(octave_ghost_frames=2), note, onset)
    dec = NoteDecoder(octave_ghost_frames=2)
    parts_s, parts_e, pos, i = [], [], 0, 0
    while pos < n:
        step = chunks[i % len(chunks)]
        s, e = dec.push(note[pos : pos + step], onset[pos : pos + step])
        parts_s += s
        parts_e += e
        pos += step
        i += 1
    parts_e += dec.flush()
    assert parts_s == whole_s and parts_e == whole_e


def test_stem_presets(model: BasicPitchModel) -> None:
    assert NoteTranscriber(RATE, model=model, stem="bass").decoder.octave_ghost_frames == 3
    assert NoteTranscriber(RATE, model=model).decoder.octave_ghost_frames == 0
    assert NoteTranscriber(RATE, model=model, stem="bass", octave_ghost_frames=0).decoder.octave_ghost_frames == 0
    budget = NoteTranscriber(RATE, model=model, budget=True)
    assert budget.hop_frames == 28 and NoteTranscriber(RATE, model=model).hop_frames == 9
