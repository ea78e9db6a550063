"""The window in its own process (the default with the process engine): it attaches the engine's
shared memory, its commands reach the engine through the main process's bridge, and a window
that dies leaves the show running."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

_spec = importlib.util.spec_from_file_location("ui_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

SR = 48000


@pytest.fixture(scope="module")
def proc_engine(tmp_path_factory, demo):
    """A process-mode LiveEngine (worker process, shared memory) on the looped demo clip."""
    from engine.audio.filesource import FileSource
    from engine.live.engine import LiveEngine

    show = helpers.copy_club_show(tmp_path_factory.mktemp("remote"), helpers.free_port())
    src = FileSource(samples=demo.samples, sample_rate=SR, block_size=256, loop=True, shared=True)
    engine = LiveEngine(show, src, mode="process")
    engine.start()
    yield engine
    engine.close()


def _dimmers(patch) -> dict[int, np.ndarray]:
    out: dict[int, list[int]] = {}
    for f in patch.fixtures:
        for mc in f.mode.channels:
            if mc.channel.attribute == "intensity" and mc.cell is None:
                out.setdefault(f.universe, []).extend(f.address - 1 + o for o in mc.offsets)
    return {u: np.array(s) for u, s in out.items()}


def test_a_window_on_attached_shared_memory_drives_the_engine_through_the_bridge(qtbot, proc_engine, settings):
    from engine.ui.app import EngineHost
    from engine.ui.remote import FeedSpec, UiProcess, _Attached, remote_feed
    from engine.ui.window import MonitorWindow

    host = EngineHost(proc_engine, proc_engine.source, "demo clip")
    ui = UiProcess(host)
    ui.start(spawn=False)  # this test plays the UI process's part itself
    spec = FeedSpec.of(proc_engine, "demo clip")
    blocks = _Attached(spec)  # what the UI process opens: by name, no engine object
    inbox: list[tuple[str, str]] = []
    win = MonitorWindow(remote_feed(blocks, spec, ui.from_ui, inbox), settings=settings)
    qtbot.addWidget(win)
    try:
        win.show()
        qtbot.waitExposed(win)
        qtbot.waitUntil(lambda: win.feed.audio.write > SR // 2, timeout=5000)  # audio through the ring view
        qtbot.waitUntil(lambda: win.stage.view is not None and win.stage.view.frame > 0, timeout=5000)
        assert win.show_obj is not None and win.analysis.tempo.text()

        dimmers = _dimmers(win.show_obj.patch)

        def dark() -> bool:
            _, dmx = blocks.telemetry.read_dmx()
            return bool(dmx) and all(int(dmx[u][s].max()) == 0 for u, s in dimmers.items())

        assert not dark()
        win.activateWindow()
        QTest.keyClick(win, Qt.Key_B)
        qtbot.waitUntil(lambda: ui.posted == 1, timeout=2000)  # the bridge forwarded it
        qtbot.waitUntil(dark, timeout=2000)  # ... and the engine in its worker process acted
        QTest.keyClick(win, Qt.Key_B)
        qtbot.waitUntil(lambda: not dark(), timeout=2000)

        ui.forward("reload", "show.yaml:12:7: unknown name 'kik'")  # as the main process does
        kind, *msg = ui.to_ui.get(timeout=2)
        inbox.append(tuple(msg))  # what the UI process's pump does with it
        win.tick()
        assert win.banner.isVisible() and "show.yaml:12:7" in win.banner.text()
    finally:
        win.close()
        ui.stop()
        blocks.close()
    assert ui.closed.is_set() and not ui.quit_requested
    assert proc_engine.alive


def test_the_ui_process_opens_and_a_dying_window_leaves_the_show_running(proc_engine):
    from engine.ui.app import EngineHost
    from engine.ui.remote import UiProcess

    host = EngineHost(proc_engine, proc_engine.source, "demo clip")
    ui = UiProcess(host)
    ui.start()
    try:
        assert ui.ready.wait(60), "the UI process did not open its window"
        assert ui.process.is_alive()
        ui.process.kill()  # a crashed or killed window
        assert ui.closed.wait(5), "the bridge should notice the window is gone"
        assert not ui.quit_requested
        f1 = proc_engine.telemetry.read_fixtures().frame
        deadline = time.monotonic() + 3
        while proc_engine.telemetry.read_fixtures().frame <= f1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc_engine.alive and proc_engine.telemetry.read_fixtures().frame > f1
    finally:
        ui.stop()
