"""Live input in its supervised process: lost device (JACK server stopped) → outputs keep going,
the input comes back by itself when the server returns."""

from __future__ import annotations

import socket
import time

import pytest

from engine.audio.errors import AudioError
from engine.audio.jackserver import JackDummyServer
from engine.audio.process import AudioProcess


def test_input_survives_server_loss_outputs_keep_sending_and_input_resumes(own_jack, tmp_path, wait_until):
    from engine.live.engine import LiveEngine

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.05)
    port = rx.getsockname()[1]
    show = tmp_path / "s.yaml"
    show.write_text(
        "outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: %d, rate: 44}]\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1}]\n"
        "groups: {all: [d]}\nsettings: {transition: 0 ms}\n"
        "looks: {on: [{group: all, intensity: 0.5}], safe: [{group: all, intensity: 0.2}]}\n"
        "layers: [{name: base, look: on}]\n" % port
    )
    src = AudioProcess(None, 48000, 128, [0], max_backoff=1.0)
    engine = LiveEngine(show, src, on_audio_loss="look:safe")

    seen: list[int] = []

    def packets(seconds: float) -> int:
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = rx.recv(2048)
                seen.append(data[126])  # slot 1
                n += 1
            except socket.timeout:
                pass
        return n

    try:
        engine.start()
        assert wait_until(lambda: src.ring.write_position > 24000, 10), "no audio from the JACK input"
        own_jack["server"].stop()  # the device disappears
        assert wait_until(lambda: src.state == "lost", 10), src.state
        at_loss = src.ring.write_position
        # The show keeps rendering and the output keeps its stream alive (a static look is sent
        # on change plus the E1.31 keep-alive, about one packet a second).
        assert packets(1.5) >= 1, "outputs stopped while the input was lost"
        assert engine.status["show_fps"] > 50
        assert seen[-1] == 51  # the configured safe look (20%) while the input is lost
        assert src.ring.write_position == at_loss
        assert engine.alive
        own_jack["server"] = JackDummyServer(name=own_jack["server"].name)  # the device returns
        assert wait_until(lambda: src.state == "running", 20), f"input did not come back: {src.events}"
        assert wait_until(lambda: src.ring.write_position > at_loss + 24000, 10), "no audio after the device returned"
        assert src.losses == 1 and src.restarts == 1
        seen.clear()
        assert packets(1.5) >= 1
        assert seen[-1] in (127, 128)  # back to the show's look
        assert any("lost" in e for e in src.events) and any("back" in e for e in src.events)
    finally:
        engine.close()
        rx.close()


def test_missing_device_fails_start_with_the_device_list(own_jack):
    src = AudioProcess("no-such-input", 48000, 128)
    with pytest.raises(AudioError) as info:
        src.start()
    assert "no input device matches 'no-such-input'" in str(info.value)
    assert "system" in (info.value.hint or "")


def test_a_device_at_another_rate_starts_resampled_to_the_streams_rate(own_jack, wait_until):
    src = AudioProcess(None, 44100, 128, [0])  # the JACK server runs at 48 kHz
    src.start()
    try:
        assert src.device_name.endswith("(resampled 48000 → 44100 Hz)"), src.device_name
        assert wait_until(lambda: src.ring.write_position > 22050, 10)
        p0, t0 = src.ring.write_position, time.monotonic()
        time.sleep(2.0)
        rate = (src.ring.write_position - p0) / (time.monotonic() - t0)
        assert abs(rate - 44100) < 0.03 * 44100, rate
    finally:
        src.stop()
        src.ring.close(unlink=True)


def test_a_rate_the_converter_does_not_take_names_the_device_and_its_rate(own_jack):
    name = own_jack["server"].name
    own_jack["server"].stop()
    own_jack["server"] = JackDummyServer(rate=22050, name=name)
    src = AudioProcess(None, 44100, 128)
    with pytest.raises(AudioError, match=r"cannot record .* at 44100 Hz.*default rate is 22050 Hz"):
        src.start()
