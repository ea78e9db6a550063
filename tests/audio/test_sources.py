"""File source, sample clock, demo clip and the bad-input paths of the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from engine.audio.clock import SampleClock
from engine.audio.demo import demo_clip
from engine.audio.errors import AudioError
from engine.audio.file import load_audio
from engine.audio.filesource import FileSource
from engine.audio.ring import META_ADC_TIME, META_CALLBACK_TIME, META_FLAGS, META_FRAME, META_FRAMES


def _drain(src, timeout=30.0):
    chunks, starts = [], []
    deadline = time.monotonic() + timeout
    while not src.finished and time.monotonic() < deadline:
        b = src.read()
        if b is None:
            time.sleep(0.001)
            continue
        starts.append(b.start_frame)
        chunks.append(b.samples.copy())
    return np.concatenate(chunks), starts


def test_fast_file_source_delivers_every_sample(tmp_path):
    sig = np.random.default_rng(0).uniform(-0.5, 0.5, 44100 * 3).astype(np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, sig, 44100, subtype="FLOAT")
    src = FileSource(path, realtime=False, block_size=333, capacity_seconds=0.05)
    with src:
        got, _ = _drain(src)
    np.testing.assert_array_equal(got, sig)
    assert src.stats().lost_frames == 0


def test_file_source_resamples_with_soxr_and_downmixes(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1).astype(np.float32)
    path = tmp_path / "s.flac"
    sf.write(path, stereo, 44100)
    src = FileSource(path, 48000, realtime=False)
    assert src.sample_rate == 48000
    with src:
        got, _ = _drain(src)
    assert abs(len(got) - 48000) <= 2
    spec = np.abs(np.fft.rfft(got[4800:43200] * np.hanning(38400)))
    assert abs(np.argmax(spec) * 48000 / 38400 - 440) < 2


def test_looping_realtime_source_keeps_counting_frames_and_is_paced():
    clip = np.ones(4800, np.float32) * 0.25
    src = FileSource(samples=clip, sample_rate=48000, block_size=480, loop=True)
    with src:
        time.sleep(0.35)
        first = src.read()
    assert first is not None
    st = src.stats()
    # Paced: about 0.35 s of frames, well short of "as fast as possible", and past one loop.
    assert 4800 < st.frames_written < 48000
    assert first.start_frame == 0
    assert src.clock.ready


def test_sample_clock_recovers_rate_and_offset():
    clock = SampleClock(48000)
    rate_true = 48000 * (1 + 20e-6)
    frames = np.arange(0, 200 * 128, 128, dtype=float)
    meta = np.zeros((len(frames), 5))
    meta[:, META_FRAME] = frames
    meta[:, META_FRAMES] = 128
    meta[:, META_ADC_TIME] = 100.0 + frames / rate_true + np.random.default_rng(0).normal(0, 20e-6, len(frames))
    clock.update(meta)
    assert abs(clock.rate - rate_true) < 0.5
    assert abs(clock.frame_to_time(48000) - (100.0 + 48000 / rate_true)) < 50e-6
    assert abs(clock.time_to_frame(101.0) - rate_true) < 3


def test_sample_clock_without_adc_time_uses_callback_time_and_latency():
    clock = SampleClock(48000, input_latency=0.005)
    meta = np.zeros((20, 5))
    meta[:, META_FRAME] = np.arange(20) * 128
    meta[:, META_FRAMES] = 128
    meta[:, META_CALLBACK_TIME] = 50.0 + (np.arange(20) + 1) * 128 / 48000 + 0.005
    clock.update(meta)
    assert abs(clock.frame_to_time(0) - 50.0) < 1e-6


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio at all")
    with pytest.raises(AudioError, match="notes.txt: not a readable audio file"):
        load_audio(bad)
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 44100)
    with pytest.raises(AudioError, match="no audio frames"):
        load_audio(empty)


def test_demo_clip_is_deterministic_with_known_grid():
    a = demo_clip(48000)
    b = demo_clip(48000)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert len(a.beats) == 4 * 16 and a.bpm == 124.0
    np.testing.assert_allclose(np.diff(a.beats), 60 / 124.0)
    assert np.max(np.abs(a.samples)) <= 0.7


def _cli(*args, env=None):
    e = dict(os.environ, JACK_NO_START_SERVER="1")
    e.pop("JACK_DEFAULT_SERVER", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, env=e, timeout=60)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--input", "no-such-device-xyz", "--duration", "1"], "beamsync: error: no input device matches 'no-such-device-xyz'"),
        (["run", "--input", "97", "--duration", "1"], "beamsync: error: no input device with index 97"),
        (["run", "--audio", "/nonexistent/clip.wav"], "beamsync: error: /nonexistent/clip.wav: no such file"),
        (["run", "--audio", "pyproject.toml"], "beamsync: error: pyproject.toml: not a readable audio file"),
        (["run", "--audio", "/root/../proc/1/mem"], "beamsync: error: /root/../proc/1/mem:"),
    ],
)
def test_cli_bad_input_gives_one_line_error_and_nonzero_exit(args, message):
    r = _cli(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines()[0].startswith(message), r.stderr


def test_cli_version_and_devices():
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("beamsync ")
    r = _cli("devices")
    assert r.returncode == 0
    assert "input devices" in r.stdout or "no audio input devices" in r.stdout


def test_main_job_plays_demo_clip_when_no_sound_card():
    r = _cli("run", "--duration", "1.5")
    assert r.returncode == 0, r.stderr
    assert "demo clip" in r.stderr or "input '" in r.stderr
    assert "0 frames lost" in r.stderr


def test_sample_clock_refits_after_a_jump():
    """An xrun loses samples before the callback: the frame→time line jumps; the clock follows."""
    clock = SampleClock(48000)
    frames = np.arange(0, 400 * 128, 128, dtype=float)
    t = 10.0 + frames / 48000
    t[200:] += 0.0267  # ten periods lost upstream
    meta = np.zeros((len(frames), 5))
    meta[:, META_FRAME] = frames
    meta[:, META_FRAMES] = 128
    meta[:, META_ADC_TIME] = t
    clock.update(meta[:100])
    clock.update(meta[100:300])
    assert clock.discontinuities == 1
    assert abs(clock.frame_to_time(frames[299]) - t[299]) < 50e-6
