"""``beamsync separate``: aligned stems of the right length, rate and channels; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from engine.analysis.separation import DEFAULT_MODEL, STEMS
from engine.cli import main

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason=f"no shipped model at {DEFAULT_MODEL}")


def write_tone_clicks(path: Path, sr: int, channels: int, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
    x[:: sr // 3] += 0.8
    b, a = signal.butter(4, 3000 / (sr / 2))  # band-limited: resampling stays accurate
    x = signal.lfilter(b, a, x).astype(np.float32)
    data = np.stack([x, 0.5 * x], axis=1) if channels == 2 else x
    sf.write(str(path), data, sr, subtype="FLOAT")
    return data


@pytest.mark.parametrize("sr,channels,sep", [
    (44100, 1, "dsp"),
    (22050, 2, "dsp"),
    pytest.param(44100, 2, "model", marks=needs_model),
    pytest.param(48000, 1, "model", marks=needs_model),
])
def test_separate_writes_aligned_stems(tmp_path: Path, capsys, sr: int, channels: int, sep: str) -> None:  # noqa: ANN001
    src = tmp_path / "in.wav"
    x = write_tone_clicks(src, sr, channels)
    out = tmp_path / "stems"
    assert main(["separate", str(src), "-o", str(out), "--separator", sep]) == 0
    total = 0
    for name in STEMS:
        y, rate = sf.read(str(out / f"{name}.wav"), dtype="float32")
        assert rate == sr
        assert y.shape == x.shape
        total = total + y
    err = total - x
    # same rate: exact reconstruction; 48 kHz → model rate → 48 kHz: resampling precision
    tol = 1e-4 if sep == "dsp" or sr == 44100 else 0.02
    assert np.sqrt(np.mean(err**2)) < tol * max(1.0, np.sqrt(np.mean(x**2)) / 0.02)
    assert np.max(np.abs(err)) < (1e-4 if tol == 1e-4 else 0.1)
    captured = capsys.readouterr()
    assert "separating in.wav" in captured.err and "100.0%" in captured.err
    assert "wrote drums.wav, bass.wav, vocals.wav, other.wav" in captured.out


def test_clicks_stay_in_place(tmp_path: Path) -> None:
    sr = 44100
    x = np.zeros(sr, np.float32)
    x[12345] = 0.9
    sf.write(str(tmp_path / "click.wav"), x, sr, subtype="FLOAT")
    assert main(["separate", str(tmp_path / "click.wav"), "-o", str(tmp_path / "o"), "--separator", "dsp", "-q"]) == 0
    total = sum(sf.read(str(tmp_path / "o" / f"{s}.wav"), dtype="float32")[0] for s in STEMS)
    assert int(np.argmax(np.abs(total))) == 12345


def test_bad_audio_is_reported(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")
    assert main(["separate", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt: not a readable audio file" in err and "Traceback" not in err
    assert main(["separate", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o")]) == 2
    assert "missing.wav: no such file" in capsys.readouterr().err
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, np.float32), 44100)
    assert main(["separate", str(empty), "-o", str(tmp_path / "o")]) == 2
    assert "contains no audio" in capsys.readouterr().err


def test_unwritable_output_is_reported(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src = tmp_path / "in.wav"
    write_tone_clicks(src, 44100, 1, 0.3)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["separate", str(src), "-o", str(blocker / "sub"), "--separator", "dsp"]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err
