"""The monitor window in its own process, so it never competes with the audio callback for the GIL.

Measured with ``bench/bench_ui.py``: a window refreshing in the process that runs the PortAudio
callback (Python code, needs the GIL) delays callbacks by tens of milliseconds and causes
xruns, just like the analysis did in ``docs/architecture.md``. So with the process engine the
window runs in a third process:

- the **main process** keeps the audio callback and one light *bridge* thread that waits on a
  queue: it forwards the window's commands to the engine, and performs device switches;
- the **UI process** attaches the engine's shared memory (status block, telemetry block, the
  audio ring through a secondary reader view that never holds the writer back) and runs Qt.

Messages from the main process to the window: ``("msg", kind, text)`` (engine messages such as
hot-reload errors), ``("feed", spec)`` after a device switch, ``("switch_failed", text, spec)``,
``("quit",)``. From the window: ``("post", command, value)``, ``("switch", device)``,
``("closed", quit_requested)``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from engine.audio.ring import RingLayout
from engine.ui.feed import MonitorFeed


@dataclass(frozen=True)
class FeedSpec:
    """What the UI process needs to attach an engine's shared blocks (picklable)."""

    status_name: str
    telemetry_name: str
    ring_name: str
    ring_layout: RingLayout
    sample_rate: int
    show_path: str
    source_label: str
    input_latency: float = 0.0

    @classmethod
    def of(cls, engine: Any, label: str) -> "FeedSpec":
        src = engine.source
        if engine.status.name is None or engine.telemetry.name is None or src.ring.shm_name is None:
            raise ValueError("a UI process needs the engine's blocks in shared memory (process mode)")
        return cls(engine.status.name, engine.telemetry.name, src.ring.shm_name, src.ring.layout, src.sample_rate,
                   engine.spec.show_path, label, float(getattr(src.clock, "input_latency", 0.0) or 0.0))


class _Attached:
    """The shared blocks of one engine, opened in the UI process (closed on switch/exit)."""

    def __init__(self, spec: FeedSpec) -> None:
        from engine.audio.ring import RingBuffer
        from engine.live.status import StatusBlock
        from engine.live.telemetry import Telemetry

        self.status = StatusBlock(spec.status_name, create=False)
        self.telemetry = Telemetry(spec.telemetry_name, create=False)
        self.ring = RingBuffer.attach(spec.ring_layout, spec.ring_name)  # only its reader_view() reads

    def close(self) -> None:
        self.status.close()
        self.telemetry.close()
        self.ring.close()


def _stats_from_ring(ring: Any) -> Any:
    from engine.audio.source import SourceStats

    c = ring.counters()
    return SourceStats(frames_written=c["frames_written"], blocks=c["blocks"], input_overflows=c["input_overflows"],
                       input_underflows=c["input_underflows"])


def remote_feed(blocks: _Attached, spec: FeedSpec, from_ui: Any, inbox: list[tuple[str, str]]) -> MonitorFeed:
    """A feed over attached blocks whose commands go to the main process through ``from_ui``
    and whose messages are those the main process forwarded into ``inbox``."""
    return MonitorFeed(status=blocks.status, telemetry=blocks.telemetry, ring=blocks.ring,
                       sample_rate=spec.sample_rate, show_path=spec.show_path,
                       post=lambda c, v: from_ui.put(("post", c, v)),
                       poll_messages=lambda: [inbox.pop(0) for _ in range(len(inbox))],
                       source_stats=lambda: _stats_from_ring(blocks.ring), source_label=spec.source_label,
                       input_latency=lambda: spec.input_latency,
                       alive=lambda: blocks.status["state"] in (0.0, 1.0))


def ui_process_main(spec: FeedSpec, to_ui: Any, from_ui: Any, devices: list[tuple[Any, str]],
                    grab: str | None = None) -> None:
    """The UI process: attach, open the window, run Qt until it closes; report how it closed."""
    import signal

    from PySide6.QtCore import QTimer

    from engine.ui.app import make_app
    from engine.ui.window import MonitorWindow

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the main process, which closes us
    app = make_app()
    attached = {"blocks": _Attached(spec)}
    inbox: list[tuple[str, str]] = []
    pending: dict[str, Any] = {}

    def feed_for(s: FeedSpec) -> MonitorFeed:
        return remote_feed(attached["blocks"], s, from_ui, inbox)

    def switch(device: Any) -> MonitorFeed:
        """Ask the main process to switch; wait for its answer (the window shows a banner)."""
        from_ui.put(("switch", device))
        while True:
            msg = to_ui.get()
            if msg[0] in ("feed", "switch_failed"):
                break
            _handle(msg)
        new_spec = msg[1] if msg[0] == "feed" else msg[2]
        old = attached["blocks"]
        attached["blocks"] = _Attached(new_spec)
        old.close()
        feed = feed_for(new_spec)
        if msg[0] == "switch_failed":
            from engine.ui.app import DeviceSwitchError

            raise DeviceSwitchError(msg[1], feed)
        return feed

    win = MonitorWindow(feed_for(spec), list_devices=(lambda: devices) if devices else None,
                        switch_device=switch if devices else None)

    def _handle(msg: tuple) -> None:
        if msg[0] == "msg":
            inbox.append((msg[1], msg[2]))
        elif msg[0] == "quit":
            pending["quit"] = True
            win.close()

    def pump() -> None:
        while True:
            try:
                msg = to_ui.get_nowait()
            except queue.Empty:
                return
            _handle(msg)

    if grab:
        win.closing.connect(lambda: (win.grab().save(grab),
                                     print(f"beamsync: window ({app.platformName()}) saved to {grab}", file=sys.stderr)))
    timer = QTimer()
    timer.timeout.connect(pump)
    timer.start(100)
    win.show()
    from_ui.put(("ready",))
    app.exec()
    timer.stop()
    from_ui.put(("closed", bool(win.quit_requested) and not pending.get("quit")))
    attached["blocks"].close()


class UiProcess:
    """Main-process side: spawns :func:`ui_process_main` and runs the bridge thread.

    ``host`` is the :class:`~engine.ui.app.EngineHost` whose engine the window drives.
    """

    def __init__(self, host: Any, *, devices: list[tuple[Any, str]] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.host = host
        self.to_ui = ctx.Queue()
        self.from_ui = ctx.Queue()
        self.closed = threading.Event()
        self.ready = threading.Event()  # the window is up
        self.quit_requested = False
        self.posted = 0
        self._spawned = False
        spec = FeedSpec.of(host.engine, host.label)
        self.process = ctx.Process(target=ui_process_main, name="beamsync-ui",
                                   args=(spec, self.to_ui, self.from_ui, devices or [],
                                         os.environ.get("BEAMSYNC_UI_GRAB")), daemon=True)
        self._bridge = threading.Thread(target=self._run_bridge, name="beamsync-ui-bridge", daemon=True)

    def start(self, spawn: bool = True) -> None:
        """Start the bridge and (unless ``spawn`` is False: a caller drives the queues itself,
        as the tests do) the UI process."""
        self._spawned = spawn
        if spawn:
            self.process.start()
        self._bridge.start()

    def _run_bridge(self) -> None:
        """Wait for the window's requests; this thread is idle (blocked on the queue) otherwise."""
        while True:
            try:
                msg = self.from_ui.get(timeout=0.5)
            except queue.Empty:
                if self._spawned and not self.process.is_alive():  # the window died: the show runs on
                    self.closed.set()
                    return
                continue
            except (EOFError, OSError):
                self.closed.set()
                return
            kind = msg[0]
            if kind == "ready":
                self.ready.set()
            elif kind == "post":
                self.posted += 1
                self.host.engine.post(msg[1], msg[2])
            elif kind == "switch":
                from engine.ui.app import DeviceSwitchError

                try:
                    self.host.switch_device(msg[1])
                    self.to_ui.put(("feed", FeedSpec.of(self.host.engine, self.host.label)))
                except DeviceSwitchError as exc:
                    self.to_ui.put(("switch_failed", str(exc), FeedSpec.of(self.host.engine, self.host.label)))
                except Exception as exc:  # the device could not even open: the old engine still runs
                    self.to_ui.put(("switch_failed", str(exc), FeedSpec.of(self.host.engine, self.host.label)))
            elif kind == "closed":
                self.quit_requested = bool(msg[1])
                self.closed.set()
                return

    def forward(self, kind: str, text: str) -> None:
        """Send an engine message (reload error …) to the window."""
        self.to_ui.put(("msg", kind, text))

    def stop(self, timeout: float = 5.0) -> None:
        """Close the window (if still open) and wait for the UI process."""
        if self._spawned and self.process.is_alive():
            start_by = time.monotonic() + 30.0  # a window still starting up finishes opening, then closes cleanly
            while not self.ready.is_set() and self.process.is_alive() and time.monotonic() < start_by:
                self.ready.wait(0.1)
            self.to_ui.put(("quit",))
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(2)
            if self.process.is_alive():  # hung hard (stopped, stuck in a driver): SIGTERM waits forever
                self.process.kill()
                self.process.join(2)
        if self._spawned and not self.process.is_alive():
            # Messages still queued for a window that is gone can never be read: without this the
            # queue's feeder thread, blocked on the full pipe, would hold up this process's exit.
            self.to_ui.cancel_join_thread()
        elif not self._spawned and self._bridge.is_alive():
            self.from_ui.put(("closed", False))  # ends the bridge
            self._bridge.join(2)
        self.closed.set()
