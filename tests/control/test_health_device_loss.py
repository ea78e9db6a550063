"""The OSC status query during a real device loss and return (JACK dummy server stopped and
started again): an operator sees ``device.state`` go lost → running without a restart.

The recovery itself is tested in ``tests/audio/test_audio_process.py``; this checks that the
health query reports it, over OSC, from a running engine.
"""

from __future__ import annotations

import json
import socket
import time

from pythonosc.osc_message import OscMessage

from engine.audio.jackserver import JackDummyServer
from engine.control.health import Health
from engine.control.operator import Operator
from engine.control.osc import OscControlServer, encode


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_status_query_reports_device_loss_and_return(own_jack, tmp_path) -> None:
    from engine.audio.process import AudioProcess
    from engine.live.engine import LiveEngine

    show = tmp_path / "s.yaml"
    show.write_text(
        "outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: 9, rate: 10}]\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1}]\n"
        "groups: {all: [d]}\nlooks: {on: [{group: all, intensity: 0.5}]}\nlayers: [{name: base, look: on}]\n"
    )
    src = AudioProcess(None, 48000, 128, [0], max_backoff=1.0)
    engine = LiveEngine(show, src)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5.0)
    srv = None

    def status() -> dict:
        client.sendto(encode("/beamsync/status"), srv.address)
        while True:
            msg = OscMessage(client.recv(65536))
            if msg.address == "/beamsync/status":
                return json.loads(msg.params[0])

    try:
        engine.start()
        health = Health(engine, src)
        srv = OscControlServer(Operator(engine.post), port=0, status=health.snapshot)
        srv.start()
        assert _wait(lambda: status()["device"]["state"] == "running", 10)
        assert status()["engine"] == "running"
        own_jack["server"].stop()  # the device disappears
        assert _wait(lambda: status()["device"]["state"] == "lost", 10)
        lost = status()
        assert lost["device"]["losses"] == 1 and lost["engine"] == "running"
        assert any("lost" in e for e in lost["device"]["events"])
        own_jack["server"] = JackDummyServer(name=own_jack["server"].name)  # it returns
        assert _wait(lambda: status()["device"]["state"] == "running", 20), src.events
        back = status()
        assert back["device"]["restarts"] == 1 and back["uptime_s"] > lost["uptime_s"]
    finally:
        if srv is not None:
            srv.stop()
        client.close()
        engine.close()
