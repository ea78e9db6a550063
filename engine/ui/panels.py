"""The monitor's panels: input, analysis, control, health (the stage lives in :mod:`engine.ui.stage`).

Every panel has ``refresh(...)`` taking plain snapshot data; none of them talks to the engine.
Custom widgets draw with QPainter (cheap, no per-frame allocation of Qt items); the waveform
and spectrum use pyqtgraph curves whose data is replaced in place.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

from engine.ui import theme
from engine.ui.feed import AudioMonitor, EventHistory

pg.setConfigOptions(antialias=False, background=theme.BACKGROUND, foreground=theme.DIM_TEXT)


def set_colour(label: QLabel, colour: QColor) -> None:
    """Colour a label's text, touching its style sheet only when the colour changes (a style
    sheet change re-polishes the widget: too slow for every refresh)."""
    name = colour.name()
    if label.property("colour") != name:
        label.setProperty("colour", name)
        label.setStyleSheet(f"color: {name};")


class LevelMeter(QWidget):
    """A vertical meter: RMS bar, peak-hold line, and a clip lamp (click the meter to reset it)."""

    clicked = Signal()

    def __init__(self, label: str = "", floor_db: float = -60.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.floor = floor_db
        self.rms = floor_db
        self.peak = floor_db
        self.clip = False
        self.setMinimumSize(28, 80)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Expanding)

    def set_level(self, rms_db: float, peak_db: float | None = None, clip: bool = False) -> None:
        self.rms, self.peak, self.clip = rms_db, rms_db if peak_db is None else peak_db, clip
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(34, 180)

    def _y(self, db: float, top: float, h: float) -> float:
        x = min(1.0, max(0.0, (db - self.floor) / -self.floor))
        return top + h * (1.0 - x)

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            w, h = self.width(), self.height()
            lamp = 14.0
            label_h = 16.0 if self.label else 0.0
            top, bar_h = lamp + 4, h - lamp - 4 - label_h
            p.fillRect(self.rect(), theme.BACKGROUND)
            p.fillRect(QRectF(2, 0, w - 4, lamp), theme.BAD if self.clip else QColor(60, 20, 20))
            p.fillRect(QRectF(4, top, w - 8, bar_h), QColor(30, 30, 36))
            y = self._y(self.rms, top, bar_h)
            colour = theme.BAD if self.rms > -3 else theme.WARN if self.rms > -12 else theme.OK
            p.fillRect(QRectF(4, y, w - 8, top + bar_h - y), colour)
            py = self._y(self.peak, top, bar_h)
            p.setPen(QPen(theme.TEXT, 2))
            p.drawLine(4, int(py), w - 4, int(py))
            if self.label:
                p.setPen(theme.DIM_TEXT)
                f = QFont(p.font())
                f.setPointSize(8)
                p.setFont(f)
                p.drawText(QRectF(0, h - label_h, w, label_h), Qt.AlignCenter, self.label)
        finally:
            p.end()

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        self.clicked.emit()


class InputPanel(QWidget):
    """Waveform and spectrum of the live input, the input meter with clip lamp, the device picker."""

    device_chosen = Signal(object)  # the device index (or None for the current source)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QGridLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.devices = QComboBox()
        self.devices.setToolTip("audio input device: picking one restarts the engine on it (outputs pause briefly)")
        self.devices.activated.connect(self._picked)
        self.source_label = QLabel("")
        self.source_label.setStyleSheet(f"color: {theme.DIM_TEXT.name()}; font-size: 10pt;")
        self.wave = pg.PlotWidget()
        self.wave.setMouseEnabled(False, False)
        self.wave.hideButtons()
        self.wave.setYRange(-1, 1, padding=0)
        self.wave.setXRange(-2, 0, padding=0)
        self.wave.getPlotItem().hideAxis("left")
        self.wave_curve = self.wave.plot(pen=pg.mkPen(theme.ACCENT, width=1))
        self.spec = pg.PlotWidget()
        self.spec.setMouseEnabled(False, False)
        self.spec.hideButtons()
        self.spec.setLogMode(x=True, y=False)
        self.spec.setYRange(-110, 0, padding=0)
        self.spec.setXRange(math.log10(30), math.log10(20000), padding=0)
        self.spec.getPlotItem().hideAxis("left")
        self.spec.getPlotItem().getAxis("bottom").setTicks(
            [[(math.log10(f), t) for f, t in ((50, "50"), (100, "100"), (250, "250"), (500, "500"), (1000, "1k"),
                                             (2500, "2.5k"), (5000, "5k"), (10000, "10k"))]])
        self.wave.setMinimumHeight(70)
        self.spec.setMinimumHeight(70)
        for w in (self.wave, self.spec):
            w.setFocusPolicy(Qt.NoFocus)
        self.spec_curve = self.spec.plot(pen=pg.mkPen(theme.WARN, width=2))
        self.meter = LevelMeter("dBFS")
        self.meter.setToolTip("input level (RMS bar, peak line); the red lamp latches on clipping — click to reset")
        self.level_label = QLabel("-∞ dB")
        lay.addWidget(self.devices, 0, 0, 1, 2)
        lay.addWidget(self.source_label, 1, 0, 1, 2)
        lay.addWidget(self.wave, 2, 0)
        lay.addWidget(self.meter, 2, 1, 2, 1)
        lay.addWidget(self.spec, 3, 0)
        lay.addWidget(self.level_label, 4, 0, 1, 2)
        lay.setRowStretch(2, 1)
        lay.setRowStretch(3, 1)
        self._device_ids: list[Any] = []

    def set_devices(self, devices: list[tuple[Any, str]], current_label: str) -> None:
        """Fill the picker: ``devices`` are (index, description); the first entry is the current source."""
        self.devices.blockSignals(True)
        self.devices.clear()
        self._device_ids = [None]
        self.devices.addItem(f"● {current_label}" if current_label else "● current source")
        for idx, text in devices:
            self._device_ids.append(idx)
            self.devices.addItem(text)
        self.devices.setCurrentIndex(0)
        self.devices.setEnabled(bool(devices))
        if not devices:
            self.devices.setToolTip("no audio input devices found (PortAudio lists none); playing the current source")
        self.devices.blockSignals(False)
        self.source_label.setText(current_label)

    def _picked(self, row: int) -> None:
        if 0 < row < len(self._device_ids):
            self.device_chosen.emit(self._device_ids[row])

    def refresh(self, audio: AudioMonitor) -> None:
        t, lo, hi = audio.waveform(2.0, 600)
        x = np.repeat(t, 2)
        y = np.empty(2 * len(t), np.float32)
        y[0::2], y[1::2] = lo, hi
        self.wave_curve.setData(x, y)
        if self.spec.isVisible():
            f, db = audio.spectrum(bands=240)
            self.spec_curve.setData(f, db)
        rms, peak, clip = audio.meter()
        self.meter.set_level(rms, peak, clip)
        self.level_label.setText(f"RMS {rms:6.1f} dBFS  peak {peak:6.1f}" + ("   CLIP" if clip else ""))


class BeatIndicator(QWidget):
    """One lamp per beat of the bar: the current beat lights and fades over the beat (a pulse on
    every predicted beat); the downbeat lamp is pink, the others cyan. A bar-phase strip below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.beats_per_bar = 4
        self.phase = 0.0
        self.beat = 0  # 1..N, 0 = none
        self.setMinimumSize(160, 50)

    def set_position(self, phase: float, beat: int, beats_per_bar: int) -> None:
        self.phase, self.beat, self.beats_per_bar = phase, beat, max(1, beats_per_bar)
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), theme.BACKGROUND)
            n = self.beats_per_bar
            w, h = self.width(), self.height()
            gap = 8.0
            bw = (w - gap * (n + 1)) / n
            bh = h - 22
            pulse = math.exp(-4.0 * self.phase)
            for i in range(n):
                base = theme.DOWNBEAT if i == 0 else theme.BEAT
                rect = QRectF(gap + i * (bw + gap), 4, bw, bh)
                if self.beat == i + 1:
                    c = QColor(base)
                    c.setAlphaF(0.25 + 0.75 * pulse)
                    p.fillRect(rect, c)
                p.setPen(QPen(base, 2))
                p.drawRect(rect)
            if self.beat:
                bar = ((self.beat - 1) + self.phase) / n
                p.fillRect(QRectF(gap, h - 12, (w - 2 * gap) * bar, 8), theme.ACCENT)
            p.setPen(theme.GRID)
            p.drawRect(QRectF(gap, h - 12, w - 2 * gap, 8))
        finally:
            p.end()


class _ScrollingEvents(QWidget):
    """A view of the last ``seconds`` of the event history, "now" at the right edge."""

    def __init__(self, seconds: float, min_height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.history: EventHistory | None = None
        self.now = 0
        self.setMinimumSize(200, min_height)

    def set_data(self, history: EventHistory, now: int) -> None:
        self.history, self.now = history, now
        self.update()


class OnsetTimeline(_ScrollingEvents):
    """The last seconds of events: beat lines (downbeats bold), one row of onset ticks per band
    (kick, snare, hi-hat, other) and per stem; time runs right to left, "now" at the right edge."""

    ROWS = (("kick", "onset"), ("snare", "onset"), ("hihat", "onset"), ("", "onset"),
            ("drums", "stem"), ("bass", "stem"), ("vocals", "stem"), ("other", "stem"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(6.0, 100, parent)

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), theme.BACKGROUND)
            w, h = self.width(), self.height()
            label_w = 54.0
            rows = len(self.ROWS)
            rh = h / rows
            f = QFont(p.font())
            f.setPointSize(8)
            p.setFont(f)
            for r, (name, _kind) in enumerate(self.ROWS):
                p.setPen(theme.DIM_TEXT)
                p.drawText(QRectF(2, r * rh, label_w - 4, rh), Qt.AlignVCenter | Qt.AlignLeft, name or "onset")
                p.setPen(theme.GRID)
                p.drawLine(int(label_w), int((r + 1) * rh), w, int((r + 1) * rh))
            hist = self.history
            if hist is None:
                return
            sr = hist.sample_rate
            span = self.seconds * sr
            x0, x1 = label_w, float(w)

            def xpos(t: int) -> float:
                return x1 - (self.now - t) / span * (x1 - x0)

            for t, pos in hist.beats:
                if self.now - span <= t <= self.now + sr:
                    x = xpos(t)
                    if x > x1:
                        continue
                    p.setPen(QPen(theme.DOWNBEAT if pos == 1 else theme.GRID, 2 if pos == 1 else 1))
                    p.drawLine(int(x), 0, int(x), h)
            index = {("onset", n): i for i, (n, k) in enumerate(self.ROWS) if k == "onset"}
            stems = {n: i for i, (n, k) in enumerate(self.ROWS) if k == "stem"}
            for t, label, stem, strength in hist.onsets:
                if t < self.now - span or t > self.now:
                    continue
                x = xpos(t)
                row = stems.get(stem) if stem != "mix" else index.get(("onset", label), index[("onset", "")])
                if row is None:
                    continue
                colour = theme.STEM_COLOURS.get(stem) if stem != "mix" else theme.ONSET_COLOURS.get(label)
                p.setPen(QPen(colour or theme.TEXT, 3))
                s = min(1.0, max(0.3, strength))
                y0 = row * rh + rh * (1 - s) / 2
                p.drawLine(int(x), int(y0), int(x), int(y0 + rh * s))
        finally:
            p.end()


class PianoRoll(_ScrollingEvents):
    """Scrolling notes from transcription: pitch up, time right to left, velocity as brightness."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(8.0, 60, parent)

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), theme.BACKGROUND)
            w, h = self.width(), self.height()
            hist = self.history
            notes = [] if hist is None else [n for n in hist.notes
                                             if (n.end is None or n.end >= self.now - self.seconds * hist.sample_rate)]
            if not notes:
                p.setPen(theme.DIM_TEXT)
                p.drawText(self.rect(), Qt.AlignCenter, "no notes (transcription off or silent)")
                return
            lo = min(n.pitch for n in notes) - 2
            hi = max(n.pitch for n in notes) + 2
            lo, hi = min(lo, 48), max(hi, 72)
            rows = hi - lo + 1
            rh = h / rows
            for k in range(rows):  # black keys darker
                if (lo + k) % 12 in (1, 3, 6, 8, 10):
                    p.fillRect(QRectF(0, h - (k + 1) * rh, w, rh), QColor(18, 18, 22))
            span = self.seconds * hist.sample_rate
            for n in notes:
                end = self.now if n.end is None else n.end
                xa = w - (self.now - n.start) / span * w
                xb = w - (self.now - end) / span * w
                y = h - (n.pitch - lo + 1) * rh
                c = QColor(theme.OK)
                c.setAlphaF(0.35 + 0.65 * min(1.0, n.velocity if n.velocity <= 1 else n.velocity / 127.0))
                p.fillRect(QRectF(max(0.0, xa), y, max(2.0, xb - max(0.0, xa)), max(2.0, rh - 1)), c)
        finally:
            p.end()


class AnalysisPanel(QWidget):
    """Tempo and confidence, the beat/bar pulse, section, onset ticks, stem meters, piano roll."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QGridLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.tempo = QLabel("--- BPM")
        self.tempo.setObjectName("big")
        self.tempo.setToolTip("tempo from the beat tracker")
        self.confidence = QLabel("confidence —")
        self.mode = QLabel("auto")
        self.section = QLabel("")
        self.section.setObjectName("section")
        self.section.setToolTip("the current section from structure analysis (build-up, drop, breakdown …)")
        self.beat = BeatIndicator()
        self.beat.setToolTip("beat in bar: the lit lamp pulses on each predicted beat; pink = downbeat")
        self.timeline = OnsetTimeline()
        self.timeline.setToolTip("onset ticks per band and per stem; vertical lines are beats (bold = downbeat)")
        self.stems = QWidget()
        sl = QHBoxLayout(self.stems)
        sl.setContentsMargins(0, 0, 0, 0)
        self.stem_meters = {s: LevelMeter(s, floor_db=-40.0) for s in ("drums", "bass", "vocals", "other")}
        for m in self.stem_meters.values():
            m.setToolTip("stem activity (onsets per stem, decaying) — lit as soon as separation produces stems")
            sl.addWidget(m)
        self.roll = PianoRoll()
        self.roll.setToolTip("notes from transcription (pitch up, time scrolling left)")
        lay.addWidget(self.tempo, 0, 0)
        lay.addWidget(self.confidence, 0, 1)
        lay.addWidget(self.mode, 0, 2)
        lay.addWidget(self.beat, 1, 0, 1, 3)
        lay.addWidget(self.section, 2, 0, 1, 3)
        lay.addWidget(self.timeline, 3, 0, 1, 2)
        lay.addWidget(self.stems, 3, 2)
        lay.addWidget(self.roll, 4, 0, 1, 3)
        lay.setRowStretch(3, 2)
        lay.setRowStretch(4, 1)

    def refresh(self, st: dict[str, float], history: EventHistory, now: int, beats_per_bar: int, mode: str) -> None:
        bpm = st.get("bpm", 0.0)
        conf = st.get("confidence", 0.0)
        self.tempo.setText(f"{bpm:5.1f} BPM" if bpm > 0 else "--- BPM")
        col = theme.OK if conf >= 0.6 else theme.WARN if conf >= 0.3 else theme.BAD
        self.confidence.setText(f"confidence {conf:.2f}")
        set_colour(self.confidence, col)
        self.mode.setText("MANUAL" if mode == "manual" else "auto")
        set_colour(self.mode, theme.WARN if mode == "manual" else theme.DIM_TEXT)
        pos = history.beat_position(now, bpm, beats_per_bar)
        if pos is None and bpm > 0:
            pos = (float(st.get("beat_phase", 0.0)), int(st.get("beat_in_bar", 0)))
        self.beat.set_position(pos[0] if pos else 0.0, pos[1] if pos else 0, beats_per_bar)
        self.section.setText(history.current_section(now).replace("_", " ").upper())
        self.timeline.set_data(history, now)
        for s, m in self.stem_meters.items():
            a = history.stem_activity.get(s, 0.0)
            db = 20 * math.log10(max(a, 1e-4))
            m.set_level(db, db)
        if self.roll.isVisible():
            self.roll.set_data(history, now)


class ControlPanel(QWidget):
    """Blackout, grand master, tap, nudge, resync, beat mode, freeze, reload, look buttons.

    Buttons never take keyboard focus, so the window's shortcuts (space = tap …) always work.
    ``post(command, value)`` is called for every action.
    """

    SHORTCUTS = {
        "tap": "Space", "blackout": "B", "freeze": "F", "resync": "R", "beat_mode": "M", "reload": "Ctrl+R",
        "nudge_back": ",", "nudge_fwd": ".", "master_up": "Up", "master_down": "Down",
    }
    NUDGE_S = 0.010

    def __init__(self, post: Callable[[str, Any], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._post = post
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        left = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}

        def button(key: str, text: str, tip: str, checkable: bool = False) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(key)
            b.setCheckable(checkable)
            b.setFocusPolicy(Qt.NoFocus)
            b.setToolTip(f"{tip}  [{self.SHORTCUTS[key]}]")
            b.setMinimumHeight(36)
            self.buttons[key] = b
            return b

        button("blackout", "BLACKOUT", "all intensities to zero (outputs keep sending)", True).toggled.connect(
            lambda on: self._post("blackout", bool(on)))
        button("tap", "TAP", "tap tempo: tap on the beat (2+ taps set tempo and phase)").clicked.connect(
            lambda: self._post("tap", None))
        button("nudge_back", "◀ nudge", f"move the beat grid {int(self.NUDGE_S * 1000)} ms earlier").clicked.connect(
            lambda: self._post("nudge", -self.NUDGE_S))
        button("nudge_fwd", "nudge ▶", f"move the beat grid {int(self.NUDGE_S * 1000)} ms later").clicked.connect(
            lambda: self._post("nudge", self.NUDGE_S))
        button("resync", "RESYNC 1", "the beat nearest now is the downbeat").clicked.connect(
            lambda: self._post("resync", None))
        button("beat_mode", "MANUAL beat", "manual: hold the tapped grid, ignore the audio; off: follow the audio",
               True).toggled.connect(lambda on: self._post("beat_mode", "manual" if on else "auto"))
        button("freeze", "FREEZE", "keep sending the current frame", True).toggled.connect(
            lambda on: self._post("freeze", bool(on)))
        button("reload", "reload show", "re-read the show file now (errors keep the last good show)").clicked.connect(
            lambda: self._post("reload", None))
        order = ["blackout", "freeze", "tap", "beat_mode", "nudge_back", "nudge_fwd", "resync", "reload"]
        for i, k in enumerate(order):
            left.addWidget(self.buttons[k], i // 2, i % 2)
        lay.addLayout(left, 2)

        master = QVBoxLayout()
        self.master = QSlider(Qt.Vertical)
        self.master.setRange(0, 100)
        self.master.setValue(100)
        self.master.setFocusPolicy(Qt.NoFocus)
        self.master.setToolTip(f"grand master  [{self.SHORTCUTS['master_up']}/{self.SHORTCUTS['master_down']}: ±5%]")
        self.master.valueChanged.connect(lambda v: self._post("master", v / 100.0))
        self.master_label = QLabel("100%")
        self.master_label.setAlignment(Qt.AlignCenter)
        self.master.valueChanged.connect(lambda v: self.master_label.setText(f"{v}%"))
        master.addWidget(QLabel("master"))
        master.addWidget(self.master, 1)
        master.addWidget(self.master_label)
        lay.addLayout(master)

        looks = QVBoxLayout()
        self.layer = QComboBox()
        self.layer.setFocusPolicy(Qt.NoFocus)
        self.layer.setToolTip("the layer the look buttons switch")
        looks.addWidget(self.layer)
        self.look_grid = QGridLayout()
        looks.addLayout(self.look_grid)
        looks.addStretch(1)
        lay.addLayout(looks, 3)
        self.look_buttons: dict[str, QPushButton] = {}

    def set_show(self, model: Any) -> None:
        """Build the look buttons and the layer list from the show (after a reload too)."""
        current = self.layer.currentText()
        self.layer.clear()
        for layer in getattr(model, "layers", []) or []:
            self.layer.addItem(layer.name)
        if current:
            i = self.layer.findText(current)
            if i >= 0:
                self.layer.setCurrentIndex(i)
        for b in self.look_buttons.values():
            self.look_grid.removeWidget(b)
            b.deleteLater()
        self.look_buttons = {}
        for i, name in enumerate(getattr(model, "looks", {}) or {}):
            b = QPushButton(name)
            b.setFocusPolicy(Qt.NoFocus)
            b.setMinimumHeight(34)
            key = f"  [{i + 1}]" if i < 9 else ""
            b.setToolTip(f"switch the selected layer to look '{name}'{key}")
            b.clicked.connect(lambda _=False, n=name: self.choose_look(n))
            self.look_grid.addWidget(b, i // 3, i % 3)
            self.look_buttons[name] = b

    def choose_look(self, name: str) -> None:
        layer = self.layer.currentText() or None
        self._post("look", (name, layer) if layer else name)

    def look_by_number(self, k: int) -> None:
        names = list(self.look_buttons)
        if 0 <= k < len(names):
            self.choose_look(names[k])

    def bump_master(self, delta: int) -> None:
        self.master.setValue(max(0, min(100, self.master.value() + delta)))


class HealthPanel(QWidget):
    """CPU, per-stage cost, xruns, buffer fill, output rate and errors, latency estimate."""

    FIELDS = [
        ("cpu", "CPU engine / UI", "% of one core: the analysis+show process, and the window's own process "
                                   "(with the thread engine the window shares its process with the engine)"),
        ("analysis", "analysis", "analysis CPU seconds per audio second, and how far analysis lags the input"),
        ("show", "show", "show frames per second and the mean cost of one frame; late frames"),
        ("xruns", "xruns / lost", "input overflows/underflows reported by the audio device; frames lost to ring overflow"),
        ("fill", "buffer fill", "unread share of the input ring"),
        ("output", "outputs", "output frames per second, packets sent, send errors"),
        ("latency", "sound→light", "estimate: input latency + analysis lag + half a show frame + half an output "
                                   "period + the rig's latency_ms"),
        ("show_file", "show", "show generation (hot reloads) and reload errors"),
    ]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QGridLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        self.values: dict[str, QLabel] = {}
        for r, (key, name, tip) in enumerate(self.FIELDS):
            n = QLabel(name)
            n.setStyleSheet(f"color: {theme.DIM_TEXT.name()};")
            n.setToolTip(tip)
            v = QLabel("—")
            v.setToolTip(tip)
            lay.addWidget(n, r, 0)
            lay.addWidget(v, r, 1)
            self.values[key] = v
        lay.setRowStretch(len(self.FIELDS), 1)

    def set(self, key: str, text: str, level: int = 0) -> None:
        """Set a value; ``level`` 0 fine, 1 attention, 2 trouble."""
        lab = self.values[key]
        lab.setText(text)
        set_colour(lab, (theme.TEXT, theme.WARN, theme.BAD)[level])
