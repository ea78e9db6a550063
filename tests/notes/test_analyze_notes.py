"""``beamsync analyze --notes``: the note transcriber and harmony tracker inside the analysis pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from engine.analysis.analyze import analyze_samples
from engine.analysis.harmony import HarmonyAnalyser
from engine.analysis.pipeline import AnalysisOptions, AnalysisPipeline

from .conftest import RATE, render

ONLY_NOTES = dict(beats=False, onsets=False, levels=False, structure=False, notes=True)


def test_pipeline_runs_the_harmony_analyser_only_when_asked() -> None:
    assert not any(isinstance(a, HarmonyAnalyser) for a in AnalysisPipeline(RATE, AnalysisOptions(**{**ONLY_NOTES, "notes": False})).analysers)
    assert any(isinstance(a, HarmonyAnalyser) for a in AnalysisPipeline(RATE, AnalysisOptions(**ONLY_NOTES)).analysers)


def test_analyze_json_lists_the_notes() -> None:
    audio = render([(60, 0.5, 0.5), (64, 1.0, 0.5), (67, 1.5, 0.5)], 2.6)
    doc = analyze_samples(audio, RATE, AnalysisOptions(**ONLY_NOTES)).to_json()
    notes = doc["notes"]
    assert [n["pitch"] for n in notes] == [60, 64, 67]
    for n, onset in zip(notes, (0.5, 1.0, 1.5)):
        assert abs(n["onset"] - onset) <= 0.025 and n["offset"] > n["onset"] and n["detected_at"] >= n["onset"]


def test_analyze_command_with_notes(tmp_path: Path) -> None:
    wav = tmp_path / "tones.wav"
    sf.write(wav, render([(62, 0.4, 0.6), (69, 1.2, 0.6)], 2.4), RATE)
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "engine.cli", "analyze", str(wav), "--notes", "--json", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    notes = json.loads(out.read_text())["notes"]
    assert [n["pitch"] for n in notes] == [62, 69]
    assert set(notes[0]) >= {"onset", "offset", "pitch", "velocity", "detected_at"}


def test_analyze_command_with_notes_per_stem(tmp_path: Path) -> None:
    # --notes-per-stem implies --notes and transcribes the separated stems; every note says
    # which stem it came from (the same tone may be heard in several stems' leakage)
    wav = tmp_path / "tones.wav"
    sf.write(wav, render([(62, 0.4, 0.6), (69, 1.2, 0.6)], 2.4), RATE)
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "engine.cli", "analyze", str(wav), "--notes-per-stem", "--json", str(out),
                          "--quiet"], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    notes = json.loads(out.read_text())["notes"]
    assert {n["stem"] for n in notes} <= {"bass", "vocals", "other"}
    assert {62, 69} <= {n["pitch"] for n in notes}
    for n in notes:
        assert n["offset"] > n["onset"] and n["detected_at"] >= n["onset"]


def test_mix_notes_are_labelled_mix() -> None:
    audio = render([(60, 0.5, 0.5)], 1.6)
    notes = analyze_samples(audio, RATE, AnalysisOptions(**ONLY_NOTES)).to_json()["notes"]
    assert [(n["pitch"], n["stem"]) for n in notes] == [(60, "mix")]
