"""One video frame: the virtual stage above an information strip.

The stage is drawn by the monitor UI's :class:`engine.ui.stage.StageRenderer` (one renderer,
two targets: the live window and this offline preview), with a floor glow added where beams
land. The strip under it scrolls with the music: waveform, beat and downbeat ticks, section
marks, and a line with the time, tempo and each layer's current look.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.preview.plot import SECTION_COLOURS, AnalysisLanes
from engine.preview.record import StageState

STRIP_SECONDS = 8.0  # seconds of music across the strip, "now" in the middle


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (w, h); both even (H.264 in yuv420p needs even sizes) and 64..7680."""
    from engine.preview import PreviewError

    try:
        w_s, h_s = text.lower().split("x")
        w, h = int(w_s), int(h_s)
    except ValueError:
        raise PreviewError(f"--size {text!r}: expected WIDTHxHEIGHT, for example 1280x720") from None
    if not (64 <= w <= 7680 and 64 <= h <= 4320):
        raise PreviewError(f"--size {text}: width 64..7680 and height 64..4320 pixels")
    if w % 2 or h % 2:
        raise PreviewError(f"--size {text}: width and height must be even (the video codec needs it)")
    return w, h


class FrameRenderer:
    """Draws :class:`StageState` s for one patch into ``size`` images (QImage or RGB arrays).

    ``samples`` (mono, at ``sample_rate``) feed the strip's waveform. The strip's beats and
    sections come from each state's event log (what the engine knew at that frame), or from
    fixed ``lanes`` when given.
    """

    def __init__(self, patch: Any, size: tuple[int, int], *, samples: np.ndarray | None = None,
                 sample_rate: int = 48000, lanes: AnalysisLanes | None = None, projection: str = "stage") -> None:
        from engine.preview.qt import ensure_qt

        ensure_qt()  # first: a clear error when PySide6 is missing
        from PySide6.QtCore import QRectF

        from engine.ui.stage import StageRenderer

        self.size = (int(size[0]), int(size[1]))
        w, h = self.size
        self.strip_h = max(48, int(round(h * 0.2)))
        #: Where the stage is drawn (the rest, below it, is the strip).
        self.stage_rect = QRectF(0, 0, w, h - self.strip_h)
        self.strip_rect = QRectF(0, h - self.strip_h, w, self.strip_h)
        self.stage = StageRenderer(patch, projection, labels=w >= 800)
        self.patch = patch
        self.lanes = lanes
        self.sample_rate = sample_rate
        self._seen = 0  # events of the current run's log already taken
        self._log: Any = None
        self._beats: list[tuple[float, int]] = []
        self._sections: list[tuple[float, str]] = []
        # Per-column waveform peaks at the strip's resolution, computed once for the whole file.
        self._col_dt = STRIP_SECONDS / max(1, w)
        self._wave = None
        if samples is not None and len(samples):
            hop = max(1, int(round(self._col_dt * sample_rate)))
            x = np.abs(np.asarray(samples, np.float32).reshape(-1))
            n = len(x) // hop
            peaks = x[: n * hop].reshape(n, hop).max(axis=1) if n else np.zeros(0, np.float32)
            top = float(peaks.max()) if len(peaks) else 0.0
            self._wave = peaks / top if top > 0 else peaks
            self._col_dt = hop / sample_rate
        self._glow_data = self._glow_geometry()
        self._floor_xf = self._floor_transform()
        self._text_h = max(14, int(self.strip_h * 0.3))
        self._wave_h = self.strip_h - self._text_h
        self._wave_img = self._wave_image() if self._wave is not None and len(self._wave) else None

    # -- floor glow ------------------------------------------------------------------------
    def _glow_geometry(self) -> dict[str, np.ndarray]:
        """Per fixture: does it light the floor, and how wide is its spot per metre of throw."""
        st = self.stage
        lights = ~st.has_cells
        half = np.radians(np.clip(st.beam_angles, 2.0, 120.0)) / 2.0
        return {"lights": lights, "tan_half": np.tan(half)}

    def _floor_transform(self) -> Any:
        """The affine map from floor metres (x, y at z = 0) to stage pixels: both projections
        are linear, so a round spot on the floor is an ellipse that Qt draws directly."""
        from PySide6.QtGui import QTransform

        pts = self.stage.pixel_positions(self.stage_rect, np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        o, ex, ey = pts[0], pts[1] - pts[0], pts[2] - pts[0]
        return QTransform(float(ex[0]), float(ex[1]), float(ey[0]), float(ey[1]), float(o[0]), float(o[1]))

    def _paint_glow(self, painter: Any, state: StageState) -> None:
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtGui import QBrush, QColor, QPainter, QRadialGradient

        from engine.ui.stage import MAX_BEAM_M, display_colours

        st = self.stage
        v = state.view
        n = min(st.n, len(v.intensity))
        if n == 0:
            return
        dim = 0.0 if state.blackout else state.dimmer
        inten = np.nan_to_num(np.asarray(v.intensity[:n], np.float64), nan=0.0)
        level = inten * dim
        lights = self._glow_data["lights"][:n] & (level > 0.02) & (st.positions[:n, 2] > 0.05)
        if not lights.any():
            return
        colour = np.nan_to_num(np.asarray(v.color[:n], np.float64).reshape(n, 3), nan=1.0)
        disp = display_colours(inten, colour, dim)
        painter.save()
        painter.setClipRect(self.stage_rect)
        painter.setRenderHint(QPainter.Antialiasing, False)  # the gradient fades to nothing at the rim
        painter.setCompositionMode(QPainter.CompositionMode_Plus)
        painter.setTransform(self._floor_xf)
        painter.setPen(Qt.NoPen)
        for i in np.flatnonzero(lights):
            pos = st.positions[i]
            if st.moving[i] or not (math.isnan(v.pan[i]) and math.isnan(v.tilt[i])):
                d = st.beam_direction(float(v.pan[i]), float(v.tilt[i]), float(st.rotations[i]))
            else:
                d = (0.0, 0.0, -1.0)  # a fixed light hangs pointing down
            if d[2] > -0.1:
                continue  # aimed at the horizon: no spot on the floor
            throw = min(MAX_BEAM_M * 2, pos[2] / -d[2])
            sx, sy = pos[0] + d[0] * throw, pos[1] + d[1] * throw
            zoom = float(v.zoom[i]) if not math.isnan(v.zoom[i]) else 0.5
            radius = max(0.25, throw * self._glow_data["tan_half"][i] * (0.4 + 1.2 * min(1.0, max(0.0, zoom))))
            centre = QPointF(float(sx), float(sy))
            grad = QRadialGradient(centre, float(radius))
            grad.setColorAt(0.0, QColor(int(disp[i, 0]), int(disp[i, 1]), int(disp[i, 2]), int(min(255, 60 + 150 * level[i]))))
            grad.setColorAt(1.0, QColor(0, 0, 0, 0))
            painter.setBrush(QBrush(grad))
            painter.drawEllipse(centre, float(radius), float(radius))
        painter.restore()

    def _wave_image(self) -> Any:
        """The whole file's waveform as one image, a column per strip pixel (blitted per frame)."""
        from engine.preview.timeline import _rgb_image

        assert self._wave is not None
        h = max(2, int(self._wave_h))
        half = self._wave * (h / 2 - 2)
        y = np.abs(np.arange(h) + 0.5 - h / 2)[:, None]
        on = y <= np.maximum(half[None, :], 0.0)
        img = np.zeros((h, len(self._wave), 3), np.uint8)
        img[:] = (18, 18, 22)
        img[on] = (90, 110, 130)
        return _rgb_image(img)

    # -- strip -----------------------------------------------------------------------------
    def _paint_strip(self, painter: Any, state: StageState) -> None:
        from PySide6.QtCore import QPointF, QRectF, Qt
        from PySide6.QtGui import QColor, QFont, QPen

        from engine.ui import theme

        r = self.strip_rect
        w = int(r.width())
        painter.fillRect(r, QColor(18, 18, 22))
        text_h = self._text_h
        wave_top, wave_h = r.top() + text_h, float(self._wave_h)
        mid_y = wave_top + wave_h / 2
        t = state.time
        t0 = t - STRIP_SECONDS / 2

        def x_of(times: np.ndarray) -> np.ndarray:
            return (np.asarray(times, np.float64) - t0) / STRIP_SECONDS * w

        if self._wave_img is not None:
            first = int(math.floor(t0 / self._col_dt))
            count = int(round(STRIP_SECONDS / self._col_dt))
            lo, hi = max(0, first), min(len(self._wave), first + count)
            if hi > lo:
                x0 = (lo * self._col_dt - t0) / STRIP_SECONDS * w
                width = (hi - lo) * self._col_dt / STRIP_SECONDS * w
                painter.drawImage(QRectF(x0, wave_top, width, wave_h), self._wave_img,
                                  QRectF(lo, 0, hi - lo, self._wave_img.height()))
        beats, positions, sections = self._known(state)
        sel = (beats >= t0) & (beats <= t0 + STRIP_SECONDS)
        for bt, pos in zip(beats[sel], positions[sel]):
            x = float(x_of(bt))
            down = pos == 1
            painter.setPen(QPen(theme.DOWNBEAT if down else theme.BEAT, 2.0 if down else 1.0))
            frac = 1.0 if down else 0.45
            painter.drawLine(QPointF(x, mid_y - frac * wave_h / 2), QPointF(x, mid_y + frac * wave_h / 2))
        label_end = -1e9
        row = 0
        for st, kind in sections:
            if not t0 <= st <= t0 + STRIP_SECONDS or kind == "phrase":
                continue
            x = float(x_of(st))
            rgb = SECTION_COLOURS.get(kind, (200, 200, 200))
            painter.setPen(QPen(QColor(*rgb), 2.0))
            painter.drawLine(QPointF(x, wave_top), QPointF(x, wave_top + wave_h))
            text = kind.replace("_", " ")
            # marks close together: their names go one under the other
            row = row + 1 if x < label_end else 0
            label_end = max(label_end if row else -1e9, x + 3 + painter.fontMetrics().horizontalAdvance(text))
            painter.drawText(QRectF(x + 3, wave_top + 14 * row, 160, 14), Qt.AlignLeft | Qt.AlignTop, text)
        painter.setPen(QPen(QColor(255, 255, 255), 1.0))
        painter.drawLine(QPointF(w / 2, wave_top), QPointF(w / 2, wave_top + wave_h))  # now
        font = QFont(painter.font())
        font.setPixelSize(max(9, min(16, int(text_h * 0.7))))
        painter.setFont(font)
        painter.setPen(theme.TEXT)
        minutes, seconds = divmod(max(0.0, t), 60.0)
        looks = "  ".join(f"{k}: {v or '—'}" for k, v in state.looks.items())
        head = f"{int(minutes)}:{seconds:04.1f}   {state.bpm:5.1f} BPM   {looks}"
        if state.blackout:
            head += "   BLACKOUT"
        painter.drawText(QRectF(6, r.top(), w - 12, text_h), Qt.AlignLeft | Qt.AlignVCenter, head)

    def _known(self, state: StageState) -> tuple[np.ndarray, np.ndarray, list[tuple[float, str]]]:
        """Beat times, beat positions and sections to draw for ``state``."""
        if self.lanes is not None:
            return self.lanes.beats, self.lanes.positions, self.lanes.sections
        log = state.events
        if log is not self._log:  # a new run: start over
            self._log, self._seen = log, 0
            self._beats, self._sections = [], []
        sr = float(self.sample_rate)
        for e in log[self._seen:]:
            if e.name == "beat":
                self._beats.append((e.time / sr, int((e.data or {}).get("position", 0) or 0)))
            elif e.name == "section":
                d = e.data or {}
                self._sections.append((e.time / sr, str(d.get("kind") or d.get("section") or "")))
        self._seen = len(log)
        b = np.asarray(self._beats, np.float64).reshape(-1, 2)
        return b[:, 0], b[:, 1].astype(np.int64), self._sections

    def _strobe_gated(self, state: StageState) -> StageState:
        """The state with strobing fixtures (and their cells) on or off at the frame's time, as
        the light would be: on for the first half of each strobe period, like the DMX
        renderer's emulated strobe (a video cannot show rates above half its frame rate)."""
        from dataclasses import replace

        from engine.fixtures.render import EMULATED_STROBE_DUTY

        v = state.view
        hz = np.nan_to_num(np.asarray(v.strobe, np.float64), nan=0.0)
        if not np.any(hz > 0):
            return state
        off = (hz > 0) & (np.mod(hz * state.time, 1.0) >= EMULATED_STROBE_DUTY)
        if not off.any():
            return state
        inten = np.where(off, 0.0, v.intensity).astype(np.float32)
        cells = v.cell_intensity
        parent = self.stage.cell_fixture
        if len(cells) and len(parent) == len(cells):
            # a cell the show set keeps its value unless its fixture is in an off phase
            cells = np.where(off[parent] & ~np.isnan(cells), 0.0, cells).astype(np.float32)
        return replace(state, view=replace(v, intensity=inten, cell_intensity=cells))

    # -- frames ----------------------------------------------------------------------------
    def render(self, state: StageState) -> Any:
        """The frame for ``state`` as a QImage (RGB888)."""
        from PySide6.QtGui import QImage, QPainter

        from engine.ui import theme

        w, h = self.size
        state = self._strobe_gated(state)
        img = QImage(w, h, QImage.Format_RGB888)
        img.fill(theme.BACKGROUND)
        p = QPainter(img)
        try:
            self.stage.paint(p, self.stage_rect, state.view, dimmer=state.dimmer, blackout=state.blackout)
            self._paint_glow(p, state)
            self._paint_strip(p, state)
        finally:
            p.end()
        return img

    def render_rgb(self, state: StageState) -> np.ndarray:
        """The frame for ``state`` as an (h, w, 3) uint8 array."""
        from engine.preview.qt import image_to_rgb

        return image_to_rgb(self.render(state))
