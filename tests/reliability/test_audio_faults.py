"""The audio device changes its sample rate under a running engine.

(Device lost and back at the same rate is tested in tests/audio/test_audio_process.py.)
The JACK server stops and returns at 44.1 kHz while the stream, its ring and every analyser
run at 48 kHz. Expected: the input stays "lost" (the lights follow --on-audio-loss), the
reason is said once, naming both rates, not at every retry; nothing is resampled behind the
operator's back; when the device runs at 48 kHz again the input comes back by itself.
"""

from __future__ import annotations

import time

from engine.audio.jackserver import JackDummyServer
from engine.audio.process import AudioProcess


def test_device_returning_at_another_rate_stays_lost_says_why_once_and_recovers_at_the_right_rate(own_jack, wait_until) -> None:
    src = AudioProcess(None, 48000, 256, [0], max_backoff=0.5)
    src.start()
    try:
        assert wait_until(lambda: src.ring.write_position > 24000, 10), "no audio from the JACK input"
        name = own_jack["server"].name
        own_jack["server"].stop()
        assert wait_until(lambda: src.state == "lost", 10), src.state
        own_jack["server"] = JackDummyServer(rate=44100, name=name)  # back, at another rate
        assert wait_until(lambda: src.last_error is not None, 20), src.events
        at = src.ring.write_position
        time.sleep(2.5)  # several retries at 0.5 s back-off
        assert src.state == "lost"
        assert src.ring.write_position == at  # nothing written at the wrong rate
        reasons = [e for e in src.events if "not reopened" in e]
        assert len(reasons) == 1, src.events  # said once, not per retry
        assert "48000" in reasons[0] and "44100" in reasons[0], reasons[0]
        own_jack["server"].stop()
        own_jack["server"] = JackDummyServer(rate=48000, name=name)
        assert wait_until(lambda: src.state == "running", 20), src.events
        assert wait_until(lambda: src.ring.write_position > at + 24000, 10), "no audio after the rate was restored"
        assert src.last_error is None and src.losses == 1 and src.restarts == 1
    finally:
        src.stop()
        src.ring.close(unlink=True)
