"""Analysis lanes: level, bands/stems, beats and downbeats, onsets, sections, notes, tempo.

One drawing, two sources: the events of an engine run (the timeline picture of ``render``) and
the JSON document of ``beamsync analyze`` (:func:`plot_analysis`, ``analyze --plot``). Lanes
without data are left out. Drawn with QPainter on a QImage, offscreen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from engine.features import FeatureEvent
from engine.preview import PreviewError

LABEL_W = 120  # px: the lane names' column
LANE_GAP = 4
BAND_COLOURS = {"low": (255, 110, 60), "mid": (255, 210, 70), "high": (120, 220, 255)}
SECTION_COLOURS = {"drop": (255, 60, 60), "buildup": (255, 176, 0), "breakdown": (90, 140, 255),
                   "breakdown_start": (90, 140, 255), "breakdown_end": (150, 190, 255), "silence": (110, 110, 120),
                   "music_start": (40, 210, 90), "track_change": (200, 90, 255), "phrase": (90, 90, 100)}


@dataclass
class AnalysisLanes:
    """What the lanes show, in seconds."""

    duration: float
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # beat times
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # 1 = downbeat
    onsets: list[tuple[float, str, str]] = field(default_factory=list)  # (time, stem, label)
    sections: list[tuple[float, str]] = field(default_factory=list)  # (time, kind)
    notes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (onset, offset, pitch)
    levels: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (times, 0..1)
    tempo: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0), np.zeros(0)))

    @classmethod
    def from_events(cls, events: Iterable[FeatureEvent], sample_rate: int, duration: float) -> "AnalysisLanes":
        """Lanes from an engine run's events (level events in dBFS become 0..1 as the show sees them)."""
        from engine.live.bus import RENAME, db_to_unit

        sr = float(sample_rate)
        beats: list[tuple[float, int]] = []
        onsets: list[tuple[float, str, str]] = []
        sections: list[tuple[float, str]] = []
        notes: list[tuple[float, float, float]] = []
        levels: dict[str, list[tuple[float, float]]] = {}
        tempo: list[tuple[float, float]] = []
        for e in events:
            d = e.data or {}
            t = e.time / sr
            if e.name == "beat":
                beats.append((t, int(d.get("position", 0) or 0)))
            elif e.name == "onset":
                onsets.append((t, str(d.get("stem") or "mix"), str(d.get("label") or "")))
            elif e.name == "section":
                sections.append((t, str(d.get("kind") or d.get("section") or "")))
            elif e.name == "note_off" and "onset" in d:
                notes.append((int(d["onset"]) / sr, t, float(d.get("pitch", 0))))
            elif e.name == "tempo":
                tempo.append((t, float(d.get("bpm", e.value) or e.value)))
            elif e.name == "level" or e.name.startswith("level."):
                name = RENAME.get(e.name, e.name)
                levels.setdefault(name, []).append((t, db_to_unit(float(e.value))))
        return cls._build(duration, beats, onsets, sections, notes, levels, tempo)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "AnalysisLanes":
        """Lanes from a ``beamsync analyze`` JSON document."""
        try:
            beats = [(float(b["time"]), int(b.get("position", 0))) for b in doc.get("beats", [])]
            onsets = [(float(o["time"]), str(o.get("stem", "mix")), str(o.get("label", ""))) for o in doc.get("onsets", [])]
            sections = [(float(s["time"]), str(s.get("kind", ""))) for s in doc.get("sections", [])]
            notes = [(float(n["onset"]), float(n["offset"]), float(n["pitch"])) for n in doc.get("notes", [])]
            tempo = [(float(t["time"]), float(t["bpm"])) for t in doc.get("tempo", [])]
            duration = float(doc["duration"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PreviewError(f"not an analyze document: {exc!r}") from None
        return cls._build(duration, beats, onsets, sections, notes, {}, tempo)

    @classmethod
    def _build(cls, duration: float, beats: list, onsets: list, sections: list, notes: list,
               levels: dict[str, list[tuple[float, float]]], tempo: list) -> "AnalysisLanes":
        b = np.asarray(beats, np.float64).reshape(-1, 2)
        lv = {k: (np.asarray(v)[:, 0], np.asarray(v)[:, 1]) for k, v in levels.items() if v}
        tp = np.asarray(tempo, np.float64).reshape(-1, 2)
        return cls(duration=float(duration), beats=b[:, 0], positions=b[:, 1].astype(np.int64), onsets=onsets,
                   sections=sections, notes=np.asarray(notes, np.float64).reshape(-1, 3), levels=lv,
                   tempo=(tp[:, 0], tp[:, 1]))

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.positions == 1]


def _qcolor(rgb: tuple[int, int, int], alpha: int = 255) -> Any:
    from PySide6.QtGui import QColor

    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha)


class LanePainter:
    """Draws lanes one under another over the time span ``t0..t1`` into ``width`` pixels."""

    def __init__(self, painter: Any, width: int, t0: float, t1: float) -> None:
        self.p = painter
        self.width = width
        self.t0, self.t1 = t0, max(t1, t0 + 1e-6)
        self.x0 = LABEL_W
        self.plot_w = max(1, width - LABEL_W - 8)
        self.y = 0
        #: (name, top, height) of every lane drawn, for tests and callers that add overlays.
        self.lanes: list[tuple[str, int, int]] = []

    def x(self, t: np.ndarray | float) -> Any:
        return self.x0 + (np.asarray(t, np.float64) - self.t0) / (self.t1 - self.t0) * self.plot_w

    def begin_lane(self, name: str, height: int) -> tuple[int, int]:
        from PySide6.QtCore import QRectF, Qt
        from PySide6.QtGui import QColor

        from engine.ui import theme

        top = self.y
        self.p.fillRect(QRectF(self.x0, top, self.plot_w, height), QColor(20, 20, 24))
        self.p.setPen(theme.DIM_TEXT)
        self.p.drawText(QRectF(4, top, LABEL_W - 8, height), Qt.AlignRight | Qt.AlignVCenter, name)
        self.lanes.append((name, top, height))
        self.y += height + LANE_GAP
        return top, height

    def time_axis(self, height: int = 18) -> None:
        from PySide6.QtCore import QPointF, QRectF, Qt

        from engine.ui import theme

        top = self.y
        span = self.t1 - self.t0
        step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 20), 600)
        self.p.setPen(theme.DIM_TEXT)
        t = np.ceil(self.t0 / step) * step
        while t <= self.t1 + 1e-9:
            x = float(self.x(t))
            self.p.drawLine(QPointF(x, top + height - 5), QPointF(x, top + height))
            label = f"{int(t // 60)}:{t % 60:04.1f}" if step < 1 else f"{int(t // 60)}:{int(round(t % 60)):02d}"
            self.p.drawText(QRectF(x - 40, top, 80, height - 5), Qt.AlignCenter, label)
            t += step
        self.y += height + LANE_GAP

    def curve(self, name: str, times: np.ndarray, values: np.ndarray, rgb: tuple[int, int, int],
              height: int = 36, fill: bool = True) -> None:
        """A 0..1 value over time as a filled envelope (max per pixel column)."""
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QPen, QPolygonF

        top, h = self.begin_lane(name, height)
        if len(times) == 0:
            return
        cols = np.clip(self.x(times).astype(np.int64) - self.x0, 0, self.plot_w - 1)
        peak = np.full(self.plot_w, np.nan)
        np.fmax.at(peak, cols, np.clip(np.asarray(values, np.float64), 0, 1))
        have = np.flatnonzero(~np.isnan(peak))
        if not len(have):
            return
        xs = np.arange(self.plot_w)
        v = np.interp(xs, have, peak[have], left=np.nan, right=np.nan)
        ok = ~np.isnan(v)
        xs, v = xs[ok], v[ok]
        pts = [QPointF(self.x0 + float(a), top + h - float(b) * (h - 2)) for a, b in zip(xs, v)]
        if fill:
            poly = QPolygonF([QPointF(self.x0 + float(xs[0]), top + h), *pts, QPointF(self.x0 + float(xs[-1]), top + h)])
            self.p.setPen(QPen(_qcolor(rgb), 1.0))
            self.p.setBrush(_qcolor(rgb, 110))
            self.p.drawPolygon(poly)
        else:
            self.p.setPen(QPen(_qcolor(rgb), 1.5))
            self.p.drawPolyline(QPolygonF(pts))

    def ticks(self, name: str, times: np.ndarray, rgbs: list[tuple[int, int, int]] | tuple[int, int, int],
              heights: np.ndarray | float = 1.0, height: int = 26) -> None:
        """Vertical ticks at ``times`` (heights 0..1 of the lane, colour per tick or one colour)."""
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QPen

        top, h = self.begin_lane(name, height)
        xs = self.x(times)
        hs = np.broadcast_to(np.asarray(heights, np.float64), xs.shape)
        inside = (xs >= self.x0) & (xs <= self.x0 + self.plot_w)
        for k in np.flatnonzero(inside):
            rgb = rgbs[k] if isinstance(rgbs, list) else rgbs
            self.p.setPen(QPen(_qcolor(rgb), 1.0))
            self.p.drawLine(QPointF(float(xs[k]), top + h), QPointF(float(xs[k]), top + h - float(hs[k]) * (h - 2)))

    def beats(self, lanes: AnalysisLanes, height: int = 26) -> None:
        down = lanes.positions == 1
        cols = [(255, 64, 160) if d else (0, 200, 255) for d in down]
        self.ticks("beats / downbeats", lanes.beats, cols, np.where(down, 1.0, 0.55), height)

    def onsets(self, lanes: AnalysisLanes, height: int = 26) -> None:
        from engine.ui import theme

        times = np.array([o[0] for o in lanes.onsets], np.float64)
        cols = []
        for _, stem, label in lanes.onsets:
            c = theme.ONSET_COLOURS.get(label) if label else theme.STEM_COLOURS.get(stem)
            c = c or theme.ONSET_COLOURS[""]
            cols.append((c.red(), c.green(), c.blue()))
        self.ticks("onsets", times, cols, 0.8, height)

    def sections(self, lanes: AnalysisLanes, height: int = 30) -> None:
        from PySide6.QtCore import QPointF, QRectF, Qt
        from PySide6.QtGui import QPen

        top, h = self.begin_lane("sections", height)
        rows = max(1, h // 14)
        ends = [-1e9] * rows  # where the last name in each text row ends
        metrics = self.p.fontMetrics()
        for t, kind in lanes.sections:
            x = float(self.x(t))
            if not self.x0 <= x <= self.x0 + self.plot_w:
                continue
            rgb = SECTION_COLOURS.get(kind, (200, 200, 200))
            self.p.setPen(QPen(_qcolor(rgb), 2.0))
            self.p.drawLine(QPointF(x, top), QPointF(x, top + h))
            if kind == "phrase":
                continue
            text = kind.replace("_", " ")
            # the first row free at x; names that would overlap every row are left out
            row = next((r for r in range(rows) if ends[r] < x), None)
            if row is None:
                continue
            ends[row] = x + 3 + metrics.horizontalAdvance(text) + 4
            self.p.drawText(QRectF(x + 3, top + 1 + 14 * row, 160, 14), Qt.AlignLeft | Qt.AlignVCenter, text)

    def notes(self, lanes: AnalysisLanes, height: int = 60) -> None:
        from PySide6.QtCore import QRectF

        top, h = self.begin_lane("notes", height)
        n = lanes.notes
        if not len(n):
            return
        lo, hi = float(n[:, 2].min()) - 1, float(n[:, 2].max()) + 1
        row = max(1.0, (h - 2) / max(1.0, hi - lo))
        self.p.setPen(_qcolor((0, 0, 0), 0))
        self.p.setBrush(_qcolor((60, 220, 120)))
        for on, off, pitch in n:
            x0, x1 = float(self.x(on)), float(self.x(off))
            y = top + h - 1 - (pitch - lo) * (h - 2) / max(1.0, hi - lo)
            self.p.drawRect(QRectF(x0, y - row / 2, max(1.0, x1 - x0), row))

    def tempo(self, lanes: AnalysisLanes, height: int = 36) -> None:
        from PySide6.QtCore import QRectF, Qt

        from engine.ui import theme

        times, bpm = lanes.tempo
        if len(bpm):
            lo, hi = float(bpm.min()) - 2, float(bpm.max()) + 2
            self.curve(f"tempo {lo + 2:.0f}–{hi - 2:.0f}", times, (bpm - lo) / (hi - lo), (200, 200, 200), height,
                       fill=False)
            _, top, h = self.lanes[-1]
            self.p.setPen(theme.DIM_TEXT)
            self.p.drawText(QRectF(self.x0 + 4, top, 200, h), Qt.AlignLeft | Qt.AlignTop, f"{float(np.median(bpm)):.1f} BPM")

    def analysis(self, lanes: AnalysisLanes) -> None:
        """Every analysis lane that has data, in a fixed order."""
        if "level" in lanes.levels:
            self.curve("level", *lanes.levels["level"], (200, 200, 200))
        for name, (t, v) in sorted(lanes.levels.items()):
            if name == "level":
                continue
            short = name.split(".", 1)[1] if "." in name else name
            rgb = BAND_COLOURS.get(short)
            if rgb is None:
                from engine.ui import theme

                c = theme.STEM_COLOURS.get(short, theme.STEM_COLOURS["mix"])
                rgb = (c.red(), c.green(), c.blue())
            self.curve(name, t, v, rgb, height=24)
        if len(lanes.beats):
            self.beats(lanes)
        if lanes.onsets:
            self.onsets(lanes)
        if lanes.sections:
            self.sections(lanes)
        if len(lanes.notes):
            self.notes(lanes)
        if len(lanes.tempo[1]):
            self.tempo(lanes)


def lanes_height(lanes: AnalysisLanes) -> int:
    """Pixels :meth:`LanePainter.analysis` uses (with the time axis)."""
    h = 18 + LANE_GAP
    if "level" in lanes.levels:
        h += 36 + LANE_GAP
    h += sum(24 + LANE_GAP for k in lanes.levels if k != "level")
    h += (26 + LANE_GAP) * (bool(len(lanes.beats)) + bool(lanes.onsets))
    h += (30 + LANE_GAP) * bool(lanes.sections) + (60 + LANE_GAP) * bool(len(lanes.notes))
    h += (36 + LANE_GAP) * bool(len(lanes.tempo[1]))
    return h


def save_image(image: Any, path: str | Path) -> None:
    """Save a QImage (format from the suffix), with a :class:`PreviewError` naming the file."""
    p = Path(path)
    if not p.parent.exists():
        raise PreviewError(f"{p}: folder {p.parent} does not exist")
    if not image.save(str(p)):
        raise PreviewError(f"{p}: cannot write the picture (unknown suffix or not writable)")


def plot_analysis(result: dict[str, Any], path: str | Path, width: int = 1600, title: str | None = None) -> list[str]:
    """Draw the analysis lanes of an ``analyze`` JSON document to ``path`` (PNG); returns the
    names of the lanes drawn."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter

    from engine.preview.qt import ensure_qt
    from engine.ui import theme

    ensure_qt()
    lanes = AnalysisLanes.from_json(result)
    head = 24
    img = QImage(int(width), head + lanes_height(lanes) + 8, QImage.Format_RGB32)
    img.fill(theme.BACKGROUND)
    p = QPainter(img)
    try:
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setPen(theme.TEXT)
        p.drawText(QRectF(8, 0, width - 16, head), Qt.AlignLeft | Qt.AlignVCenter,
                   title or f"analysis: {lanes.duration:.1f} s, {len(lanes.beats)} beats, {len(lanes.onsets)} onsets")
        lp = LanePainter(p, int(width), 0.0, lanes.duration)
        lp.y = head
        lp.time_axis()
        lp.analysis(lanes)
    finally:
        p.end()
    save_image(img, path)
    return [name for name, _, _ in lp.lanes]
