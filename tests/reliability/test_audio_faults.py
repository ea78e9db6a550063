"""The audio device changes its sample rate under a running engine.

(Device lost and back at the same rate is tested in tests/audio/test_audio_process.py.)
The JACK server stops and returns at 44.1 kHz while the stream, its ring and every analyser
run at 48 kHz. Expected: the input comes back by itself at the device's rate, resampled to the
stream's (engine/audio/resample.py), and says so once; the ring still fills at 48 kHz, a tone
keeps its pitch and the sample clock keeps one second per 48,000 frames, so the lights keep
following the music. When the device runs at 48 kHz again the input is direct again. A device
at a rate the converter does not take stays lost and says why once, naming both rates.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from engine.audio.jackserver import JackDummyServer
from engine.audio.process import AudioProcess


def _drain(src: AudioProcess, seconds: float, player: subprocess.Popen | None = None) -> tuple[np.ndarray, int]:
    """Read the source for ``seconds`` (or until ``player`` has ended + 0.5 s); the samples,
    contiguous, and the first one's frame."""
    chunks, first, ended = [], None, None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if player is not None and ended is None and player.poll() is not None:
            ended = time.monotonic()
        if ended is not None and time.monotonic() - ended > 0.5:
            break
        block = src.read()
        if block is None:
            time.sleep(0.005)
            continue
        if first is None:
            first = block.start_frame
        chunks.append(block.samples.copy())
    return np.concatenate(chunks), first or 0


def test_device_returning_at_another_rate_is_resampled_keeps_pitch_and_time(own_jack, wait_until, tmp_path) -> None:
    src = AudioProcess(None, 48000, 256, [0], max_backoff=0.5)
    src.start()
    try:
        assert wait_until(lambda: src.ring.write_position > 24000, 10), "no audio from the JACK input"
        assert "resampled" not in src.device_name
        name = own_jack["server"].name
        own_jack["server"].stop()
        assert wait_until(lambda: src.state == "lost", 10), src.state
        own_jack["server"] = JackDummyServer(rate=44100, name=name)  # back, at another rate
        assert wait_until(lambda: src.state == "running", 20), src.events
        assert "(resampled 44100 → 48000 Hz)" in src.device_name, src.device_name
        back = [e for e in src.events if e.startswith("audio input back")]
        assert len(back) == 1 and "resampled 44100 → 48000 Hz" in back[0], src.events
        assert src.last_error is None and src.losses == 1 and src.restarts == 1

        _drain(src, 0.5)  # past the restart
        p0, t0 = src.ring.write_position, time.monotonic()
        tone = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(2 * 44100) / 44100)).astype(np.float32)
        np.save(tmp_path / "tone.npy", tone)
        player = subprocess.Popen([sys.executable, "-m", "engine.audio.jackplayer", str(tmp_path / "tone.npy"),
                                   "PortAudio:in_.*", "0.2"], env=own_jack["server"].env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        got, first = _drain(src, 20.0, player)
        p1, t1 = src.ring.write_position, time.monotonic()
        out, err = player.communicate(timeout=20)
        assert player.returncode == 0, err
        # The ring fills at the stream's rate, not the device's.
        assert abs((p1 - p0) / (t1 - t0) - 48000) < 0.03 * 48000, (p1 - p0) / (t1 - t0)
        # The tone keeps its pitch and its length at 48 kHz.
        loud = np.flatnonzero(np.abs(got) > 0.1)
        assert len(loud) > 0, "the tone never arrived"
        seg = got[loud[0] : loud[-1] + 1]
        assert abs(len(seg) - 96000) < 480, len(seg)  # 2 s at 48 kHz (± 10 ms)
        spec = np.abs(np.fft.rfft(seg[:48000] * np.hanning(48000)))
        assert abs(np.argmax(spec) * 48000 / 48000 - 1000) <= 1.0
        # The sample clock, fitted from the converted blocks' ADC times, keeps 48,000 frames a second.
        assert src.clock.ready
        f = first + len(got) // 2
        assert abs(src.clock.frame_to_time(f + 48000) - src.clock.frame_to_time(f) - 1.0) < 0.005

        own_jack["server"].stop()
        own_jack["server"] = JackDummyServer(rate=48000, name=name)
        assert wait_until(lambda: src.state == "running" and src.restarts == 2, 20), src.events
        assert "resampled" not in src.device_name  # direct again
        at = src.ring.write_position
        assert wait_until(lambda: src.ring.write_position > at + 24000, 10), "no audio after the rate was restored"
    finally:
        src.stop()
        src.ring.close(unlink=True)


def test_device_at_a_rate_the_converter_does_not_take_stays_lost_and_says_why_once(own_jack, wait_until) -> None:
    src = AudioProcess(None, 48000, 256, [0], max_backoff=0.5)
    src.start()
    try:
        assert wait_until(lambda: src.ring.write_position > 24000, 10), "no audio from the JACK input"
        name = own_jack["server"].name
        own_jack["server"].stop()
        assert wait_until(lambda: src.state == "lost", 10), src.state
        own_jack["server"] = JackDummyServer(rate=22050, name=name)
        assert wait_until(lambda: src.last_error is not None, 20), src.events
        at = src.ring.write_position
        time.sleep(2.5)  # several retries at 0.5 s back-off
        assert src.state == "lost"
        assert src.ring.write_position == at  # nothing written at the wrong rate
        reasons = [e for e in src.events if "not reopened" in e]
        assert len(reasons) == 1, src.events  # said once, not per retry
        assert "48000" in reasons[0] and "22050" in reasons[0], reasons[0]
    finally:
        src.stop()
        src.ring.close(unlink=True)
