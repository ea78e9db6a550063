"""Running the monitor window for ``beamsync run`` (and the host that can swap input devices).

``beamsync run SHOW.yaml`` calls :func:`run_window` after the engine has started, unless
``--headless`` is given or no display is available (:func:`window_available`). The window runs
the Qt event loop in the main process, next to the audio callback; the analysis, show and
outputs keep running in the worker whatever the window does. Closing the window leaves the
show running headless (Ctrl-C stops it); Ctrl+Q in the window stops the engine.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from engine.errors import BeamsyncError
from engine.ui.feed import MonitorFeed


class DeviceSwitchError(BeamsyncError):
    """The new input could not start; the engine runs again on the previous one (``feed``)."""

    def __init__(self, message: str, feed: MonitorFeed) -> None:
        super().__init__(message)
        self.feed = feed


def window_available() -> tuple[bool, str]:
    """(True, "") when a Qt window can open here; else (False, why)."""
    try:
        import PySide6  # noqa: F401
        import pyqtgraph  # noqa: F401
    except ImportError as exc:
        return False, f"the UI needs PySide6 and pyqtgraph ({exc}); install beamsync[ui]"
    if os.environ.get("QT_QPA_PLATFORM"):
        return True, ""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY/WAYLAND_DISPLAY unset)"
    return True, ""


class EngineHost:
    """Owns the running :class:`~engine.live.engine.LiveEngine` and restarts it on another input.

    The swap stops the engine, then starts a new one on the new source with the same show: the
    outputs pause for the engine's start-up time (the show's state — looks, palettes, the beat
    grid — starts afresh). If the new device fails, the previous source is reopened.
    """

    def __init__(self, engine: Any, source: Any, label: str, *, block_size: int = 128) -> None:
        self.engine = engine
        self.source = source
        self.label = label
        self.block_size = block_size
        self.swaps = 0
        self.switching = False  # True while the engine is being replaced (its old one is stopped)
        #: Called with (engine, source) after every swap (other holders of the engine rebind here).
        self.on_swap: list[Any] = []

    def feed(self) -> MonitorFeed:
        return MonitorFeed.from_engine(self.engine, self.label)

    @staticmethod
    def list_devices() -> list[tuple[Any, str]]:
        from engine.audio.devices import list_input_devices

        return [(d.index, f"{d.index}: {d.name} [{d.hostapi}]") for d in list_input_devices()]

    def switch_device(self, device: Any) -> MonitorFeed:
        """Restart the engine on input ``device`` (index or name); returns the new feed."""
        from engine.audio.stream import AudioInput

        rate = self.source.sample_rate
        shared = self.engine.mode == "process"
        src = AudioInput(device, rate, self.block_size, shared=shared)  # raises before anything stops
        return self.switch_source(src, f"input '{src.device.name}' [{src.device.hostapi}]")

    def switch_source(self, source: Any, label: str) -> MonitorFeed:
        """Restart the engine on ``source`` (not started yet); returns the new feed."""
        from engine.live.engine import LiveEngine

        self.switching = True
        try:
            return self._switch_source(source, label)
        finally:
            self.switching = False

    def _switch_source(self, source: Any, label: str) -> MonitorFeed:
        from engine.live.engine import LiveEngine

        old_engine, old_source = self.engine, self.source
        show, mode = old_engine.spec.show_path, old_engine.mode
        old_engine.stop()
        old_engine.close()
        engine = None
        try:
            engine = LiveEngine(show, source, mode=mode)
            engine.start()
        except Exception as exc:
            if engine is not None:
                engine.close()  # its worker may be running (the source failed after it started)
            else:
                source.close()
            previous = _reopen(old_source, mode == "process")
            engine = LiveEngine(show, previous, mode=mode)
            engine.start()
            self.engine, self.source = engine, previous
            self._notify()
            raise DeviceSwitchError(f"{exc}; back on {self.label}", self.feed()) from exc
        self.engine, self.source, self.label = engine, source, label
        self.swaps += 1
        self._notify()
        return self.feed()

    def _notify(self) -> None:
        for fn in self.on_swap:
            fn(self.engine, self.source)


def _reopen(source: Any, shared: bool) -> Any:
    """A fresh source equal to ``source`` (its ring is released once its engine closed)."""
    from engine.audio.filesource import FileSource
    from engine.audio.stream import AudioInput

    if isinstance(source, FileSource):
        return FileSource(samples=source.samples[:, 0], sample_rate=source.sample_rate, block_size=source.block_size,
                          realtime=source.realtime, loop=source.loop, shared=shared)
    if isinstance(source, AudioInput):
        return AudioInput(source.device.index, source.sample_rate, source.block_size, shared=shared)
    raise TypeError(f"cannot reopen a {type(source).__name__}")


_QUIET = ("propagateSizeHints",)  # harmless platform-plugin chatter (offscreen) on every window resize


def _qt_message(mode: Any, context: Any, message: str) -> None:
    if not any(q in message for q in _QUIET):
        print(f"qt: {message}", file=sys.stderr)


def make_app() -> Any:
    """The QApplication (created once), with the dark stage theme."""
    from PySide6.QtWidgets import QApplication

    from engine.ui import theme

    app = QApplication.instance()
    if app is None:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(_qt_message)
        app = QApplication([sys.argv[0] if sys.argv else "beamsync"])
    app.setApplicationName("beamsync")
    theme.apply(app)
    return app


def run_window(engine: Any, source: Any, args: Any, label: str = "", controls: Any = None) -> int:
    """Show the monitor for a started engine until the window closes; returns the exit code.

    Closing the window does not stop the outputs: the show keeps running headless until
    Ctrl-C or ``--duration``; Ctrl+Q (or the engine stopping) ends the run. ``controls`` (the
    run's :class:`engine.control.controls.Controls`) is ticked from the waiting loops, so
    SIGTERM/SIGINT, SIGHUP reload, the watchdog and the status log work with a window too.
    """
    label = label or getattr(source, "name", "") or type(source).__name__
    host = EngineHost(engine, source, label, block_size=getattr(args, "block_size", 128) or 128)
    if controls is not None and hasattr(controls, "rebind"):  # OSC/MIDI follow the engine after a device swap
        host.on_swap.append(controls.rebind)
    if engine.mode == "process" and os.environ.get("BEAMSYNC_UI_PROCESS", "1") != "0":
        return _run_ui_process(host, args, controls)
    return _run_in_process(host, args, controls)


def _stop_requested(controls: Any) -> bool:
    """Tick the run's controls (signals, watchdog, status log); True when a signal asks to stop."""
    return bool(controls is not None and controls.tick(time.monotonic()))


def _finish(host: EngineHost, started: float) -> int:
    """Stop and release the engine; print the summary line; the exit code."""
    try:
        host.engine.stop()
        final = host.source.stats()
        host.engine.poll_messages()
    finally:
        host.engine.close()
    failed = [t for k, t in host.engine.messages if k == "error"]
    print(f"beamsync: done after {time.monotonic() - started:.1f} s: {final.frames_written} frames in, "
          f"{final.xruns} xruns, {final.lost_frames} frames lost", file=sys.stderr)
    return 1 if failed else 0


def _run_ui_process(host: EngineHost, args: Any, controls: Any = None) -> int:
    """The window in its own process (see :mod:`engine.ui.remote`); this process keeps the audio
    callback and waits."""
    from engine.audio.filesource import FileSource
    from engine.ui.remote import UiProcess

    try:
        devices = host.list_devices()
    except Exception:  # no PortAudio: no picker
        devices = []
    ui = UiProcess(host, devices=devices)
    started = time.monotonic()
    duration = getattr(args, "duration", None)
    state = {"done_sent": False}
    ui.start()
    print("beamsync: monitor window open in its own process (Ctrl+Q stops the engine; closing the window keeps "
          "the show running)", file=sys.stderr)
    ended = False
    try:
        while not ui.closed.wait(0.1):
            if _stop_requested(controls):
                ended = True
                break
            if host.switching:
                continue
            for kind, text in host.engine.poll_messages():
                ui.forward(kind, text)
                if kind == "error":
                    print(f"beamsync: error: {text}", file=sys.stderr)
            if duration and time.monotonic() - started >= duration:
                ended = True
                break
            src = host.source
            if not state["done_sent"] and isinstance(src, FileSource) and src.wait(0):
                host.engine.producer_done()
                state["done_sent"] = True
            if not host.engine.alive:
                ended = True
                break
        ui.stop()
        if not ended and not ui.quit_requested and host.engine.alive:
            print("beamsync: window closed, the show keeps running (Ctrl-C to stop)", file=sys.stderr)
            _headless_wait(host, started, duration, state, controls)
    except KeyboardInterrupt:
        pass
    finally:
        ui.stop()
    return _finish(host, started)


def _run_in_process(host: EngineHost, args: Any, controls: Any = None) -> int:
    """The window in this process (thread engine, or ``BEAMSYNC_UI_PROCESS=0``)."""
    from PySide6.QtCore import QTimer

    from engine.audio.filesource import FileSource
    from engine.ui.window import MonitorWindow

    app = make_app()
    win = MonitorWindow(host.feed(), list_devices=host.list_devices, switch_device=host.switch_device)
    started = time.monotonic()
    duration = getattr(args, "duration", None)
    state = {"done_sent": False, "interrupted": False}

    def housekeeping() -> None:  # runs in the Qt loop; also lets Python see Ctrl-C
        now = time.monotonic()
        if _stop_requested(controls):
            state["interrupted"] = True
            win.quit_requested = True
            win.close()
        if duration and now - started >= duration:
            win.quit_requested = True
            win.close()
        src = host.source
        if not state["done_sent"] and isinstance(src, FileSource) and src.wait(0):
            host.engine.producer_done()  # a file that does not loop has ended: drain, then stop
            state["done_sent"] = True
        if not host.engine.alive and state["done_sent"]:
            win.quit_requested = True
            win.close()

    grab = os.environ.get("BEAMSYNC_UI_GRAB")  # save a PNG of the window as it closes (bug reports, tests)
    if grab:
        def save_grab() -> None:
            win.grab().save(grab)
            print(f"beamsync: window ({app.platformName()}) saved to {grab}", file=sys.stderr)

        win.closing.connect(save_grab)

    def on_sigint(*_: Any) -> None:
        state["interrupted"] = True
        win.quit_requested = True
        win.close()

    # Ctrl-C: the run's controls handle it (ticked above); without them, close the window here.
    old = signal.signal(signal.SIGINT, on_sigint) if controls is None else None
    timer = QTimer()
    timer.timeout.connect(housekeeping)
    timer.start(200)
    win.show()
    print("beamsync: monitor window open (Ctrl+Q stops the engine; closing the window keeps the show running)",
          file=sys.stderr)
    try:
        app.exec()
        timer.stop()
        if old is not None:
            signal.signal(signal.SIGINT, old)
            old = None
        if not win.quit_requested and host.engine.alive:
            print("beamsync: window closed, the show keeps running (Ctrl-C to stop)", file=sys.stderr)
            _headless_wait(host, started, duration, state, controls)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    return _finish(host, started)


def _headless_wait(host: EngineHost, started: float, duration: float | None, state: dict[str, Any],
                   controls: Any = None) -> None:
    """What ``beamsync run --headless`` does, after the window was closed: one status line a second."""
    from engine.audio.filesource import FileSource
    from engine.run import _status_line

    next_report = time.monotonic() + 1.0
    try:
        while host.engine.alive:
            time.sleep(0.1)
            if _stop_requested(controls):
                break
            if time.monotonic() >= next_report:
                print(_status_line(host.engine.status.snapshot(), time.monotonic() - started, host.source.stats()),
                      file=sys.stderr, flush=True)
                next_report += 1.0
            for kind, text in host.engine.poll_messages():
                if kind in ("reload", "error"):
                    print(f"beamsync: {kind}: {text}", file=sys.stderr)
            if duration and time.monotonic() - started >= duration:
                break
            src = host.source
            if not state["done_sent"] and isinstance(src, FileSource) and src.wait(0):
                host.engine.producer_done()
                state["done_sent"] = True
    except KeyboardInterrupt:
        pass
