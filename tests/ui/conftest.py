"""Fixtures for the monitor UI tests: Qt offscreen, a copy of the club show on a free port, a
thread-mode live engine on the demo clip, and a window with its settings in tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("ui_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
free_port, copy_club_show = helpers.free_port, helpers.copy_club_show

SR = 48000


@pytest.fixture(autouse=True)
def _qt_offscreen_and_gui_thread_gc():
    """Offscreen Qt; and garbage collected only in this (the GUI) thread during a test.

    Set up first, torn down last: the engines' threads have stopped when the test's widgets are
    collected here. (A collection started by an engine thread that destroys Qt widgets can
    deadlock Qt; the window guards itself the same way while open, see MainThreadGc.)
    """
    import gc

    assert os.environ.get("QT_QPA_PLATFORM")
    was = gc.isenabled()
    gc.disable()
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    app = QCoreApplication.instance()
    if app is not None:
        app.sendPostedEvents(None, QEvent.DeferredDelete)
        app.processEvents()
    gc.collect()
    if was:
        gc.enable()


@pytest.fixture(scope="session")
def demo():
    from engine.audio.demo import demo_clip

    return demo_clip(SR)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def club_show(tmp_path: Path, port: int) -> Path:
    folder = tmp_path / "show"
    folder.mkdir()
    return copy_club_show(folder, port)


@pytest.fixture
def live(club_show: Path, demo):
    """A started thread-mode LiveEngine playing the demo clip (looped) into the club show."""
    from engine.audio.filesource import FileSource
    from engine.live.engine import LiveEngine

    src = FileSource(samples=demo.samples, sample_rate=SR, block_size=256, loop=True)
    engine = LiveEngine(club_show, src, mode="thread")
    engine.start()
    yield engine
    engine.close()


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "monitor.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, live, settings):
    from engine.ui import theme
    from engine.ui.feed import MonitorFeed
    from engine.ui.window import MonitorWindow
    from PySide6.QtWidgets import QApplication

    theme.apply(QApplication.instance())
    win = MonitorWindow(MonitorFeed.from_engine(live, "demo clip"), settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
