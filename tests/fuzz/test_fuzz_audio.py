"""Fuzzing audio files with corrupt headers (WAV, FLAC, OGG, AIFF; truncated, mutated,
zero-length, huge declared sizes, wrong extension): ``load_audio``/``FileSource``/``beamsync
analyze`` give finite samples or an AudioError one-liner naming the file, with bounded memory.
The regressions below are what this fuzzing found."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from engine.audio.errors import AudioError
from engine.audio.file import MAX_FILE_RATE, MIN_FILE_RATE, load_audio
from engine.audio.filesource import FileSource

from .conftest import fuzz_settings
from .targets import REPO, make_audio


@fuzz_settings(300)
@given(rnd=st.randoms(use_true_random=False))
def test_corrupt_audio_loads_or_fails_with_an_audio_error(check, rnd) -> None:
    assert check("audio", make_audio(rnd)) in ("accepted", "refused")


def _wav(rate: int = 48000, n: int = 4800, subtype: str = "PCM_16", data: np.ndarray | None = None) -> bytes:
    buf = io.BytesIO()
    x = data if data is not None else (0.3 * np.sin(np.arange(n) / 7.0)).astype(np.float32)
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def _with_rate(wav: bytes, rate: int) -> bytes:
    b = bytearray(wav)
    i = b.find(b"fmt ")
    b[i + 12:i + 16] = struct.pack("<I", rate)
    return bytes(b)


@pytest.mark.parametrize("rate", [1, 999, 2_147_483_647])
def test_declared_sample_rate_out_of_range_is_refused(tmp_path: Path, rate: int) -> None:
    # Found by fuzzing: a 0.1 s file declaring 1 Hz was resampled to 48 kHz: 230 million
    # samples (920 MB) from a 9.6 kB file.
    p = tmp_path / "rate.wav"
    p.write_bytes(_with_rate(_wav(), rate))
    with pytest.raises(AudioError, match=f"declares a sample rate of {rate} Hz"):
        load_audio(p, 48000)


def test_rates_inside_the_range_still_load(tmp_path: Path) -> None:
    for rate in (MIN_FILE_RATE, 8000, 384000, MAX_FILE_RATE):
        p = tmp_path / f"{rate}.wav"
        p.write_bytes(_wav(rate, n=2000))
        x, r = load_audio(p)
        assert r == rate and len(x) == 2000


def test_flac_declaring_billions_of_frames_allocates_what_is_there(tmp_path: Path) -> None:
    # Found by fuzzing: STREAMINFO's total-samples field (36 bits) drove the allocation:
    # 256 GiB requested (MemoryError) from a 10 kB file.
    buf = io.BytesIO()
    sf.write(buf, np.zeros(4800, np.float32), 48000, format="FLAC")
    b = bytearray(buf.getvalue())
    info = 8 + 4 + 6  # 'fLaC', block header, min/max block and frame sizes
    v = int.from_bytes(b[info:info + 8], "big")
    b[info:info + 8] = ((v & ~((1 << 36) - 1)) | ((1 << 36) - 1)).to_bytes(8, "big")
    p = tmp_path / "huge.flac"
    p.write_bytes(bytes(b))
    tracemalloc.start()
    try:
        x, _ = load_audio(p, 48000)
        assert len(x) <= 4800 * 2
    except AudioError as exc:
        assert str(p) in str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024


def test_non_finite_samples_are_refused_with_the_time(tmp_path: Path) -> None:
    x = np.zeros(48000, np.float32)
    x[24000] = np.nan
    p = tmp_path / "nan.wav"
    p.write_bytes(_wav(data=x, subtype="FLOAT"))
    with pytest.raises(AudioError, match=r"not finite numbers .* first at 0\.500 s"):
        load_audio(p)


def test_long_file_is_read_in_blocks_exactly(tmp_path: Path) -> None:
    x = np.random.default_rng(3).uniform(-0.5, 0.5, size=(700_001, 2)).astype(np.float32)
    p = tmp_path / "long.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    mono, r = load_audio(p)
    both, _ = load_audio(p, mono=False)
    assert r == 44100 and both.shape == x.shape and np.array_equal(both, x)
    assert np.allclose(mono, x.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("name, data", [("empty.wav", b""), ("riff.wav", b"RIFF"), ("text.flac", b"hello world\n" * 10),
                                        ("wav-as.ogg", None)])
def test_file_source_refuses_corrupt_files(tmp_path: Path, name: str, data: bytes | None) -> None:
    p = tmp_path / name
    p.write_bytes(data if data is not None else _with_rate(_wav(), 0))
    with pytest.raises(AudioError) as info:
        FileSource(p, 48000)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_beamsync_analyze_reports_a_corrupt_file_on_one_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.wav"
    p.write_bytes(_with_rate(_wav(), 1))
    r = subprocess.run([sys.executable, "-m", "engine.cli", "analyze", str(p), "--quiet"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == [f"beamsync: error: {p}: declares a sample rate of 1 Hz (beamsync reads "
                     f"{MIN_FILE_RATE}..{MAX_FILE_RATE} Hz)"]


def test_a_file_too_short_to_survive_resampling_is_refused(tmp_path: Path) -> None:
    # Found by the long fuzz run (input 8,291 of 100,000): one frame at a high rate resampled
    # to 48 kHz came back as zero samples.
    p = tmp_path / "one.wav"
    p.write_bytes(_wav(MAX_FILE_RATE, n=1))
    with pytest.raises(AudioError, match="too short"):
        load_audio(p, 48000)
    assert len(load_audio(p)[0]) == 1  # at its own rate it is one sample


def test_finite_samples_that_resample_to_infinity_are_refused(tmp_path: Path) -> None:
    # Found by the long fuzz run (input 47,451 of 100,000): samples near float32's limit are
    # finite in the file but soxr's output overflowed to inf.
    x = np.zeros(4800, np.float32)
    x[100:110] = 3.0e38 * np.array([1, -1] * 5, np.float32)
    p = tmp_path / "loud.wav"
    p.write_bytes(_wav(44100, data=x, subtype="FLOAT"))
    try:
        y, _ = load_audio(p, 48000)
    except AudioError as exc:
        assert "not finite" in str(exc)
    else:
        assert np.isfinite(y).all()
