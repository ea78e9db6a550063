"""``beamsync analyze``: the JSON document, options and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.cli import main

from .conftest import drum_track


@pytest.fixture(scope="module")
def loop_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("analyze") / "loop.wav"
    x, _, _ = drum_track(48000, 120, 9, seed=4)
    sf.write(str(path), np.stack([x, 0.5 * x], axis=1), 48000)  # stereo, 48 kHz
    return path


def _run(args, capsys):
    rc = main(args)
    return rc, capsys.readouterr()


def test_json_shape(loop_wav, tmp_path, capsys):
    out = tmp_path / "out.json"
    rc, cap = _run(["analyze", str(loop_wav), "--json", str(out), "--quiet"], capsys)
    assert rc == 0, cap.err
    doc = json.loads(out.read_text())
    assert set(doc) >= {"duration", "sample_rate", "beats", "tempo", "onsets", "notes"}
    assert doc["sample_rate"] == 48000 and abs(doc["duration"] - 9.0) < 1e-3
    assert doc["notes"] == []
    assert len(doc["beats"]) >= 10
    for b in doc["beats"]:
        assert set(b) >= {"time", "position", "detected_at"}
        assert 1 <= b["position"] <= b["beats_per_bar"]
        assert b["predicted"] is True and b["detected_at"] <= b["time"]
    times = [b["time"] for b in doc["beats"]]
    assert times == sorted(times)
    assert np.allclose(np.diff(times), 0.5, atol=0.03)
    assert doc["tempo"] and all(set(t) == {"time", "bpm", "confidence"} for t in doc["tempo"])
    assert abs(doc["tempo"][-1]["bpm"] - 120) < 2
    assert doc["onsets"]
    for o in doc["onsets"]:
        assert o["stem"] == "mix" and o.get("label", "kick") in {"kick", "snare", "hihat"}
        assert 0.0 <= o["strength"] <= 1.0 and o["detected_at"] >= o["time"]
    assert {o.get("label") for o in doc["onsets"]} == {None, "kick", "snare", "hihat"}


def test_no_predict_reports_beats_when_detected(loop_wav, capsys):
    rc, cap = _run(["analyze", str(loop_wav), "--no-predict", "--quiet"], capsys)  # JSON to stdout
    assert rc == 0
    doc = json.loads(cap.out)
    assert doc["options"]["predict"] is False
    assert doc["beats"] and all(b["predicted"] is False and b["detected_at"] > b["time"] for b in doc["beats"])


def test_progress_bar_and_summary(loop_wav, tmp_path, capsys):
    rc, cap = _run(["analyze", str(loop_wav), "--json", str(tmp_path / "o.json"), "--progress"], capsys)
    assert rc == 0
    assert "100.0%" in cap.err and "beats" in cap.err


def test_bad_inputs_fail_with_one_line(tmp_path, capsys):
    rc, cap = _run(["analyze", str(tmp_path / "missing.wav"), "--json", str(tmp_path / "o.json")], capsys)
    assert rc == 2 and "missing.wav: no such file" in cap.err and "Traceback" not in cap.err
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    rc, cap = _run(["analyze", str(junk), "--json", str(tmp_path / "o.json")], capsys)
    assert rc == 2 and "junk.wav: not a readable audio file" in cap.err
    ok = tmp_path / "ok.wav"
    sf.write(str(ok), np.zeros(4800, np.float32), 48000)
    rc, cap = _run(["analyze", str(ok), "--json", str(tmp_path / "nodir" / "o.json")], capsys)
    assert rc == 2 and "does not exist" in cap.err
    rc, cap = _run(["analyze", str(ok), "--block", "3"], capsys)
    assert rc == 2 and "--block" in cap.err


def test_silence_gives_no_beats(tmp_path, capsys):
    path = tmp_path / "silence.flac"
    sf.write(str(path), np.zeros(44100 * 4, np.float32), 44100)
    rc, cap = _run(["analyze", str(path), "--quiet"], capsys)
    assert rc == 0
    doc = json.loads(cap.out)
    assert doc["beats"] == [] and doc["onsets"] == []
