"""A hung monitor window: the UI process stops responding (SIGSTOP: it never reads its queue,
never exits by itself, ignores SIGTERM while stopped).

Expected: the engine renders and sends on (the window only reads shared memory; nothing in the
engine waits for it), messages forwarded to the window never block the main process, and
shutting down still ends the hung process instead of waiting for it forever.
(A window that dies is tested in tests/ui/test_remote.py.)
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the UI process inherits it

SR = 48000


@pytest.fixture
def engine(tmp_path: Path):
    pytest.importorskip("PySide6")
    from engine.audio.demo import demo_clip
    from engine.audio.filesource import FileSource
    from engine.live.engine import LiveEngine

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.05)
    show = tmp_path / "show.yaml"
    show.write_text(
        "outputs: [{type: sacn, name: t, universes: [1], destinations: [127.0.0.1], port: %d, rate: 44}]\n"
        "fixtures: [{name: d, profile: generic-dimmer, universe: 1, address: 1}]\n"
        "groups: {all: [d]}\n"
        "looks: {main: [{group: all, pulse: {trigger: onset, decay: 80ms}}]}\n"
        "layers: [{name: base, look: main}]\n" % rx.getsockname()[1]
    )
    src = FileSource(samples=demo_clip(SR).samples, sample_rate=SR, block_size=256, loop=True, shared=True)
    eng = LiveEngine(show, src, mode="process")
    eng.start()
    try:
        yield eng, rx
    finally:
        eng.close()
        rx.close()


def test_a_hung_window_leaves_the_show_running_and_is_ended_at_shutdown(engine) -> None:
    from engine.ui.app import EngineHost
    from engine.ui.remote import UiProcess

    eng, rx = engine
    ui = UiProcess(EngineHost(eng, eng.source, "demo clip"))
    ui.start()
    stopped = False
    try:
        assert ui.ready.wait(90), "the UI process did not open its window"
        os.kill(ui.process.pid, signal.SIGSTOP)  # the window hangs
        stopped = True
        frame0, shown0 = eng.telemetry.read_fixtures().frame, eng.status["show_frames"]
        t0 = time.monotonic()
        for k in range(2000):  # the main process keeps forwarding messages to the hung window
            ui.forward("reload", f"show.yaml:{k}:1: message {k} " + "x" * 200)
        assert time.monotonic() - t0 < 2.0, "forwarding to a hung window blocked the main process"
        packets, end = 0, time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                rx.recv(2048)
                packets += 1
            except socket.timeout:
                pass
        assert packets >= 20, f"only {packets} sACN packets in 2 s with the window hung"
        assert eng.alive and eng.status["show_frames"] > shown0 + 100
        assert eng.telemetry.read_fixtures().frame > frame0  # shared memory still written
        assert ui.process.is_alive() and not ui.closed.is_set()
        t0 = time.monotonic()
        ui.stop(timeout=2.0)  # shutdown with the window still hung
        assert not ui.process.is_alive(), "a hung window survived the shutdown"
        assert time.monotonic() - t0 < 15.0
        assert eng.alive  # closing the window never stops the engine
    finally:
        if stopped and ui.process.is_alive():
            os.kill(ui.process.pid, signal.SIGKILL)
        ui.stop()
