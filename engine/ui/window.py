"""The monitor window: stage in the middle, input / analysis / control / DMX / health in docks.

A :class:`QTimer` reads snapshots from a :class:`~engine.ui.feed.MonitorFeed` at ``fps``
(30 by default) and refreshes the visible panels; the DMX grid and the health figures update at
a third of that. Nothing here blocks on the engine: commands are posted to its queue, the
shared blocks are copied. Dock layout and window geometry are kept in :class:`QSettings`.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QPushButton, QVBoxLayout,
                               QWidget)

from engine.ui import theme
from engine.ui.feed import EventHistory, MonitorFeed
from engine.ui.panels import AnalysisPanel, ControlPanel, HealthPanel, InputPanel
from engine.ui.stage import DmxGrid, StageView


class MainThreadGc:
    """Python's cyclic garbage collection, run only from the GUI thread while a window is open.

    The collector runs in whichever thread crosses its threshold. If that is an engine thread
    and the garbage holds Qt objects, their destructors run off the GUI thread: seen here as a
    deadlock (the GUI thread destroying a QObject waits on a Qt mutex held by a thread that waits
    for the GIL). So, while the window is open, automatic collection is off and a GUI timer
    collects by the same thresholds; :meth:`stop` collects once more and restores the collector.
    """

    def __init__(self, parent: Any, interval_ms: int = 500) -> None:
        self._was_enabled = gc.isenabled()
        self._threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(parent)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)
        self.active = True

    def check(self) -> None:
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self._threshold
        if c2 > t2:
            gc.collect(2)
        elif c1 > t1:
            gc.collect(1)
        elif c0 > t0:
            gc.collect(0)

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        self.timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


class MonitorWindow(QMainWindow):
    """The VJ's window over one engine feed.

    ``list_devices()`` returns ``[(index, description)]`` for the device picker;
    ``switch_device(index)`` restarts the engine on that input and returns the new feed (the
    picker is disabled when either is missing). ``settings`` stores the layout (the user's
    ``beamsync/monitor`` settings by default).
    """

    closing = Signal()  # emitted as the window closes (before it hides)

    def __init__(self, feed: MonitorFeed, *, settings: QSettings | None = None,
                 list_devices: Callable[[], list[tuple[Any, str]]] | None = None,
                 switch_device: Callable[[Any], MonitorFeed] | None = None, fps: float = 30.0) -> None:
        super().__init__()
        self.setWindowTitle("beamsync monitor")
        self.settings = settings if settings is not None else QSettings("beamsync", "monitor")
        self._list_devices = list_devices
        self._switch_device = switch_device
        self.quit_requested = False
        self.beat_mode = "auto"
        self.blackout = False
        self.master = 1.0
        self.show_obj: Any = None
        self.show_error = ""
        self._generation = -1.0
        self._ticks = 0
        self._last_tick = time.monotonic()
        self._cpu = (time.monotonic(), time.process_time())
        self._main_cpu = 0.0
        self.tick_seconds = 0.0  # cost of the last refresh (shown in the health panel)

        # central: banner over the stage
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.banner.setToolTip("click to hide")
        self.banner.mousePressEvent = lambda e: self.banner.hide()  # type: ignore[method-assign]
        self.banner.hide()
        bar = QHBoxLayout()
        self.title = QLabel("")
        self.title.setStyleSheet(f"color: {theme.DIM_TEXT.name()};")
        self.projection = QPushButton("plan view")
        self.projection.setCheckable(True)
        self.projection.setFocusPolicy(Qt.NoFocus)
        self.projection.setToolTip("switch the stage between the audience view and the view from above  [P]")
        self.projection.toggled.connect(lambda on: self.stage.set_projection("plan" if on else "stage"))
        bar.addWidget(self.title, 1)
        bar.addWidget(self.projection)
        self.stage = StageView()
        cl.addWidget(self.banner)
        cl.addLayout(bar)
        cl.addWidget(self.stage, 1)
        self.setCentralWidget(central)

        self.input = InputPanel()
        self.input.device_chosen.connect(self.choose_device)
        self.input.meter.clicked.connect(lambda: self.feed.audio.reset_clip())
        self.analysis = AnalysisPanel()
        self.control = ControlPanel(self.post)
        self.health = HealthPanel()
        dmx = QWidget()
        dl = QVBoxLayout(dmx)
        dl.setContentsMargins(2, 2, 2, 2)
        self.universe = QComboBox()
        self.universe.setFocusPolicy(Qt.NoFocus)
        self.universe.setToolTip("the universe the grid shows")
        self.universe.currentIndexChanged.connect(self._universe_changed)
        self.dmx = DmxGrid()
        dl.addWidget(self.universe)
        dl.addWidget(self.dmx, 1)
        self.docks: dict[str, QDockWidget] = {}
        for name, title, widget, area in (
            ("input", "Input", self.input, Qt.LeftDockWidgetArea),
            ("analysis", "Analysis", self.analysis, Qt.RightDockWidgetArea),
            ("control", "Control", self.control, Qt.BottomDockWidgetArea),
            ("dmx", "DMX", dmx, Qt.BottomDockWidgetArea),
            ("health", "Health", self.health, Qt.LeftDockWidgetArea),
        ):
            d = QDockWidget(title, self)
            d.setObjectName(f"dock-{name}")
            d.setWidget(widget)
            self.addDockWidget(area, d)
            self.docks[name] = d
        self._actions()
        self.resize(1600, 1000)
        geometry = self.settings.value("geometry")
        state = self.settings.value("state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

        self.gc = MainThreadGc(self)
        self.feed = feed
        self.set_feed(feed)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.timer.start(int(round(1000.0 / fps)))

    # -- wiring ----------------------------------------------------------------------------
    def _actions(self) -> None:
        keys = ControlPanel.SHORTCUTS
        b = self.control.buttons
        self.actions_by_name: dict[str, QAction] = {}

        def act(name: str, key: str, fn: Callable[[], None]) -> None:
            a = QAction(name, self)
            a.setShortcut(QKeySequence(key))
            a.setShortcutContext(Qt.WindowShortcut)
            a.triggered.connect(lambda *_: fn())  # drop triggered's "checked" argument
            self.addAction(a)
            self.actions_by_name[name] = a

        act("tap", keys["tap"], b["tap"].click)
        act("blackout", keys["blackout"], b["blackout"].toggle)
        act("freeze", keys["freeze"], b["freeze"].toggle)
        act("resync", keys["resync"], b["resync"].click)
        act("beat_mode", keys["beat_mode"], b["beat_mode"].toggle)
        act("reload", keys["reload"], b["reload"].click)
        act("nudge_back", keys["nudge_back"], b["nudge_back"].click)
        act("nudge_fwd", keys["nudge_fwd"], b["nudge_fwd"].click)
        act("master_up", keys["master_up"], lambda: self.control.bump_master(5))
        act("master_down", keys["master_down"], lambda: self.control.bump_master(-5))
        for k in range(9):
            act(f"look_{k + 1}", str(k + 1), lambda k=k: self.control.look_by_number(k))
        act("projection", "P", self.projection.toggle)
        act("fullscreen", "F11", lambda: self.showNormal() if self.isFullScreen() else self.showFullScreen())
        act("quit", "Ctrl+Q", self.quit_engine)
        b["blackout"].toggled.connect(lambda on: setattr(self, "blackout", bool(on)))
        b["beat_mode"].toggled.connect(lambda on: setattr(self, "beat_mode", "manual" if on else "auto"))
        self.control.master.valueChanged.connect(lambda v: setattr(self, "master", v / 100.0))

    def post(self, command: str, value: Any = None) -> None:
        self.feed.post(command, value)

    def set_feed(self, feed: MonitorFeed) -> None:
        """Read from ``feed`` from now on (after a device switch the engine is a new one)."""
        self.feed = feed
        self.history = EventHistory(feed.sample_rate)
        self._generation = -1.0
        self.load_show()
        devices = []
        if self._list_devices is not None and self._switch_device is not None:
            try:
                devices = self._list_devices()
            except Exception as exc:  # PortAudio missing or failing: keep the picker empty
                self.show_banner(f"cannot list audio devices: {exc}", error=False)
        self.input.set_devices(devices, feed.source_label)
        # re-send the operator state the new engine does not know yet
        if self.blackout:
            feed.post("blackout", True)
        if self.master < 1.0:
            feed.post("master", self.master)
        if self.beat_mode != "auto":
            feed.post("beat_mode", self.beat_mode)

    def choose_device(self, index: Any) -> None:
        if self._switch_device is None:
            return
        self.show_banner("switching input device… (outputs pause while the engine restarts)", error=False)
        try:
            feed = self._switch_device(index)
        except Exception as exc:
            feed = getattr(exc, "feed", None)  # the engine restarted on the previous input
            if feed is not None:
                self.set_feed(feed)
            self.show_banner(f"device switch failed: {exc}")
            return
        self.banner.hide()
        self.set_feed(feed)

    def load_show(self) -> None:
        """(Re)load the show file for the stage, the look buttons and the DMX universes."""
        path = self.feed.show_path
        if path is None:
            return
        from engine.show.loader import check_show

        result = check_show(path)
        if result.show is None:  # the engine keeps the last good show; so does the stage
            self.show_error = "\n".join(str(e) for e in result.errors)
            return
        self.show_obj = result.show
        patch = result.show.patch
        self.stage.set_patch(patch)
        self.control.set_show(result.show.model)
        unis = sorted(set(patch.universes))
        keep = self.universe.currentText()
        self.universe.blockSignals(True)
        self.universe.clear()
        for u in unis:
            self.universe.addItem(f"universe {u}", u)
        self.universe.blockSignals(False)
        i = self.universe.findText(keep) if keep else 0
        self.universe.setCurrentIndex(max(0, i))
        self._universe_changed()
        self.title.setText(f"{result.show.model.name} — {path.name}")

    def _universe_changed(self, *_: Any) -> None:
        u = self.universe.currentData()
        if u is not None and self.show_obj is not None:
            self.dmx.set_patch(self.show_obj.patch, int(u))

    def show_banner(self, text: str, error: bool = True) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet("" if error else f"background: {theme.WARN.name()};")
        self.banner.show()

    # -- the refresh -----------------------------------------------------------------------
    def tick(self) -> None:
        """Read the snapshots and refresh the visible panels (the timer calls this)."""
        t0 = time.perf_counter()
        now_s = time.monotonic()
        dt = now_s - self._last_tick
        self._last_tick = now_s
        self._ticks += 1
        feed = self.feed
        for kind, text in feed.poll_messages():
            if kind == "reload":
                self.show_banner(f"show not reloaded — the last good show keeps running:\n{text}")
            elif kind == "error":
                self.show_banner(f"engine error: {text}")
        st = feed.snapshot()
        gen = st.get("show_generation", 0.0)
        if gen != self._generation:
            if self._generation >= 0:
                self.load_show()
                if self.banner.isVisible() and self.banner.text().startswith("show not reloaded"):
                    self.banner.hide()  # a good save followed the bad one
            self._generation = gen
        if not feed.alive and not self.banner.isVisible():
            self.show_banner("the engine has stopped")
        feed.audio.poll(now_s)
        self.history.add(feed.telemetry.read_events())
        self.history.decay(dt)
        now = feed.write_position
        bpb = int(self.show_obj.settings.beats_per_bar) if self.show_obj is not None else 4
        if self.docks["input"].isVisible():
            self.input.refresh(feed.audio)
        if self.docks["analysis"].isVisible():
            self.analysis.refresh(st, self.history, now, bpb, self.beat_mode)
        view = feed.telemetry.read_fixtures()
        if view.frame == 0 and self.stage.view is not None:
            view = self.stage.view  # the writer was mid-frame for every retry: keep the last good one
        self.stage.set_view(view, self.master, self.blackout)
        if self._ticks % 3 == 0:
            if self.docks["dmx"].isVisible():
                u = self.universe.currentData()
                _, unis = feed.telemetry.read_dmx()
                if unis:  # empty: the writer was mid-frame for every retry; keep the last values
                    self.dmx.set_values(unis.get(int(u)) if u is not None else None)
            if self.docks["health"].isVisible():
                self._refresh_health(st)
        self.tick_seconds = time.perf_counter() - t0

    def _refresh_health(self, st: dict[str, float]) -> None:
        h = self.health
        t, c = time.monotonic(), time.process_time()
        if t - self._cpu[0] >= 0.5:
            self._main_cpu = 100.0 * (c - self._cpu[1]) / (t - self._cpu[0])
            self._cpu = (t, c)
        cpu = st.get("cpu_percent", 0.0)
        h.set("cpu", f"{cpu:3.0f}% / {self._main_cpu:3.0f}%  (UI {1000 * self.tick_seconds:.1f} ms/frame)",
              2 if cpu > 90 else 1 if cpu > 60 else 0)
        load = st.get("analysis_load", 0.0)
        h.set("analysis", f"{load:.2f}× rt, lag {st.get('analysis_lag_ms', 0.0):.0f} ms",
              2 if load > 1.0 else 1 if load > 0.7 else 0)
        fr = float(self.show_obj.settings.frame_rate) if self.show_obj is not None else 0.0
        late = int(st.get("show_late", 0))
        h.set("show", f"{st.get('show_fps', 0.0):.0f}/{fr:.0f} fps, {st.get('show_cost_ms', 0.0):.2f} ms, {late} late",
              1 if late else 0)
        stats = self.feed.source_stats()
        xr = stats.xruns if stats is not None else 0
        lost = int(st.get("lost_frames", 0)) + (stats.lost_frames if stats is not None else 0)
        h.set("xruns", f"{xr} xruns, {lost} frames lost", 2 if lost else 1 if xr else 0)
        fill = self.feed.ring_fill()
        h.set("fill", f"{100 * fill:.0f}%", 2 if fill > 0.75 else 1 if fill > 0.25 else 0)
        errs = int(st.get("output_errors", 0))
        outs = self.show_obj.outputs if self.show_obj is not None else []
        names = ", ".join(f"{o.name} {o.rate:g} Hz" for o in outs) or "none"
        h.set("output", f"{st.get('output_fps', 0.0):.1f} fps, {int(st.get('output_packets', 0))} pkts, {errs} err",
              2 if errs else 0)
        h.values["output"].setToolTip(f"outputs: {names} (the figure is the first output's rate)")
        lat = self.latency_estimate(st)
        h.set("latency", "—" if lat is None else f"≈ {1000 * lat:.0f} ms", 1 if lat and lat > 0.08 else 0)
        rel = int(st.get("show_reload_errors", 0))
        h.set("show_file", f"generation {int(st.get('show_generation', 0))}, {rel} reload error(s)", 2 if rel else 0)

    def latency_estimate(self, st: dict[str, float]) -> float | None:
        """Sound-to-light estimate in seconds for onset-driven effects (beats are predicted and
        led by the show, so they can land on time)."""
        if self.show_obj is None:
            return None
        fr = float(self.show_obj.settings.frame_rate) or 1.0
        outs = self.show_obj.outputs
        out_period = max((1.0 / o.rate for o in outs if o.rate), default=0.0)
        rig = max((o.latency_ms for o in outs), default=0.0) / 1000.0 + self.show_obj.settings.latency_ms / 1000.0
        return (self.feed.input_latency() + st.get("analysis_lag_ms", 0.0) / 1000.0 + 0.5 / fr + 0.5 * out_period
                + rig)

    # -- closing ---------------------------------------------------------------------------
    def quit_engine(self) -> None:
        """Ctrl+Q: stop the engine and close (closing the window alone leaves the show running)."""
        self.quit_requested = True
        self.close()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.closing.emit()
        self.timer.stop()
        self.gc.stop()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)

