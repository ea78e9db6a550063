"""The virtual stage and the DMX grid: pure drawing from (patch, FixtureView) onto a QPainter.

:class:`StageRenderer` needs no running engine: it draws any
:class:`~engine.live.telemetry.FixtureView` (live telemetry, a recorded frame, an offline
render) for a :class:`~engine.fixtures.patch.Patch`, so the offline preview can reuse it.

Stage coordinates (see :mod:`engine.fixtures.patch`): metres, ``x`` left→right seen from the
audience, ``y`` upstage, ``z`` up. The default ``"stage"`` projection is a cabinet oblique view
from the audience (x across, z up, depth drawn receding up and to the right) so rows of
fixtures at the same height but different depth stay apart; ``"plan"`` is the view from above
(audience at the bottom).

Beams: a fixture with pan/tilt draws a translucent cone to the floor. Convention for the
drawing: pan 0 / tilt 0 points straight down (a hung moving head at the centre of its range);
tilt swings the beam off vertical, positive towards upstage with pan 0, negative towards the
audience; pan turns that direction about the vertical axis (plus the fixture's rotation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.ui import theme

_OBLIQUE_ANGLE = math.radians(35.0)
_OBLIQUE_DEPTH = 0.5
MAX_BEAM_M = 9.0


def linear_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Linear-light RGB 0..1 → display sRGB 0..1 (the piecewise sRGB transfer curve)."""
    x = np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def display_colours(intensity: np.ndarray, colour: np.ndarray, dimmer: float = 1.0) -> np.ndarray:
    """Display colours (n, 3) 0..255 of lights: colour × intensity × dimmer, NaN as the renderer's
    defaults (intensity 0, colour white)."""
    i = np.clip(np.nan_to_num(np.asarray(intensity, np.float64), nan=0.0), 0.0, 1.0) * dimmer
    c = np.nan_to_num(np.asarray(colour, np.float64).reshape(-1, 3), nan=1.0)
    return np.round(255.0 * linear_to_srgb(c * i[:, None])).astype(np.int32)


def _has(profile_mode: Any, attribute: str) -> bool:
    try:
        return bool(profile_mode.find(attribute))
    except Exception:
        return False


class StageRenderer:
    """Draws every fixture of ``patch`` at its position with its colour, intensity, beam and cells.

    ``projection`` is ``"stage"`` (oblique front view) or ``"plan"`` (from above). The layout
    (projected positions) is computed once per patch; :meth:`paint` only reads the view.
    """

    def __init__(self, patch: Any, projection: str = "stage", labels: bool = True) -> None:
        if projection not in ("stage", "plan"):
            raise ValueError(f"projection must be 'stage' or 'plan', not {projection!r}")
        self.patch = patch
        self.projection = projection
        self.labels = labels
        fx = patch.fixtures
        self.n = len(fx)
        self.positions = np.asarray(patch.positions, np.float64).reshape(self.n, 3)
        self.cell_positions = np.asarray(patch.cell_positions, np.float64).reshape(-1, 3)
        self.names = [f.name for f in fx]
        self.rotations = np.array([f.rotation for f in fx], np.float64)
        self.moving = np.array([_has(f.mode, "pan") or _has(f.mode, "tilt") for f in fx], bool)
        self.beam_angles = np.array(
            [float(np.mean(f.profile.physical.beam_angle)) if f.profile.physical.beam_angle else 15.0 for f in fx],
            np.float64)
        self.has_cells = np.array([f.cells > 0 for f in fx], bool)
        self.cell_pitch = np.array([f.profile.physical.cell_pitch for f in fx], np.float64)
        self.cell_fixture = np.asarray(patch.cell_fixture, np.int64)
        # The scene's bounds in projected metres: fixtures, cells and the floor under them.
        pts = [self.positions, self.cell_positions]
        floor = self.positions.copy()
        floor[:, 2] = 0.0
        pts.append(floor)
        allp = np.concatenate([p for p in pts if len(p)]) if self.n else np.zeros((1, 3))
        uv = self.project(allp)
        lo, hi = uv.min(axis=0) - 1.0, uv.max(axis=0) + 1.0
        self.bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        self._floor = (allp[:, 0].min() - 1.0, allp[:, 0].max() + 1.0, allp[:, 1].min() - 0.5, allp[:, 1].max() + 0.5)

    # -- geometry ------------------------------------------------------------------------
    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Stage metres (k, 3) → projected metres (k, 2), v pointing up."""
        p = np.asarray(xyz, np.float64).reshape(-1, 3)
        if self.projection == "plan":
            return p[:, :2].copy()
        k = _OBLIQUE_DEPTH
        return np.stack([p[:, 0] + k * p[:, 1] * math.cos(_OBLIQUE_ANGLE),
                         p[:, 2] + k * p[:, 1] * math.sin(_OBLIQUE_ANGLE)], axis=1)

    def _transform(self, rect: QRectF) -> tuple[float, float, float]:
        x0, y0, x1, y1 = self.bounds
        w, h = max(1e-6, x1 - x0), max(1e-6, y1 - y0)
        scale = min(rect.width() / w, rect.height() / h)
        ox = rect.left() + (rect.width() - scale * w) / 2.0 - scale * x0
        oy = rect.top() + (rect.height() - scale * h) / 2.0 + scale * y1
        return scale, ox, oy

    @staticmethod
    def beam_direction(pan: float, tilt: float, rotation: float = 0.0) -> np.ndarray:
        """Unit vector of a beam (stage axes) for pan/tilt degrees (convention in the module doc)."""
        t = math.radians(0.0 if math.isnan(tilt) else tilt)
        p = math.radians((0.0 if math.isnan(pan) else pan) + rotation)
        return np.array([math.sin(t) * math.sin(p), math.sin(t) * math.cos(p), -math.cos(t)])

    # -- drawing ---------------------------------------------------------------------------
    def paint(self, painter: QPainter, rect: QRectF, view: Any, *, dimmer: float = 1.0,
              blackout: bool = False) -> None:
        """Draw the stage for ``view`` into ``rect``. ``dimmer`` (grand master) and ``blackout``
        scale what is drawn the way they scale the output (the view holds pre-master values)."""
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.fillRect(rect, theme.BACKGROUND)
        scale, ox, oy = self._transform(rect)

        def to_px(uv: np.ndarray) -> np.ndarray:
            return np.stack([ox + scale * uv[:, 0], oy - scale * uv[:, 1]], axis=1)

        # floor outline
        fx0, fx1, fy0, fy1 = self._floor
        corners = np.array([[fx0, fy0, 0], [fx1, fy0, 0], [fx1, fy1, 0], [fx0, fy1, 0]], np.float64)
        poly = QPolygonF([QPointF(*p) for p in to_px(self.project(corners))])
        painter.setPen(QPen(theme.GRID, 1.0))
        painter.setBrush(QBrush(QColor(20, 20, 24)))
        painter.drawPolygon(poly)

        n = min(self.n, len(view.intensity))
        dim = 0.0 if blackout else float(dimmer)
        inten = np.zeros(self.n)
        inten[:n] = np.nan_to_num(np.asarray(view.intensity[:n], np.float64), nan=0.0)
        colour = np.ones((self.n, 3))
        if n:
            colour[:n] = np.nan_to_num(np.asarray(view.color[:n], np.float64), nan=1.0)
        disp = display_colours(inten, colour, dim)
        pan = np.full(self.n, np.nan)
        tilt = np.full(self.n, np.nan)
        zoom = np.full(self.n, np.nan)
        strobe = np.zeros(self.n)
        pan[:n], tilt[:n], zoom[:n] = view.pan[:n], view.tilt[:n], view.zoom[:n]
        strobe[:n] = np.nan_to_num(np.asarray(view.strobe[:n], np.float64), nan=0.0)
        px = to_px(self.project(self.positions)) if self.n else np.zeros((0, 2))

        # beams first (under the fixtures)
        painter.setPen(Qt.NoPen)
        for i in range(self.n):
            if not self.moving[i] and math.isnan(pan[i]) and math.isnan(tilt[i]):
                continue
            level = inten[i] * dim
            if level <= 0.02:
                continue
            d = self.beam_direction(pan[i], tilt[i], self.rotations[i])
            z = self.positions[i, 2]
            length = MAX_BEAM_M if d[2] > -1e-3 else min(MAX_BEAM_M, z / -d[2])
            end = self.positions[i] + d * max(0.5, length)
            e = to_px(self.project(end[None, :]))[0]
            z01 = 0.5 if math.isnan(zoom[i]) else min(1.0, max(0.0, zoom[i]))
            half = math.radians(self.beam_angles[i] * (0.4 + 1.2 * z01)) / 2.0
            spread = max(2.0, scale * max(0.5, length) * math.tan(half))
            sx, sy = px[i]
            dx, dy = e[0] - sx, e[1] - sy
            norm = math.hypot(dx, dy) or 1.0
            nx, ny = -dy / norm * spread, dx / norm * spread
            c = QColor(int(disp[i, 0]), int(disp[i, 1]), int(disp[i, 2]), int(40 + 90 * min(1.0, level)))
            painter.setBrush(QBrush(c))
            painter.drawPolygon(QPolygonF([QPointF(sx, sy), QPointF(e[0] + nx, e[1] + ny), QPointF(e[0] - nx, e[1] - ny)]))

        # pixel cells
        nc = len(self.cell_fixture)
        if nc:
            vc = min(nc, len(view.cell_intensity))
            ci = np.full(nc, np.nan)
            cc = np.full((nc, 3), np.nan)
            ci[:vc] = view.cell_intensity[:vc]
            cc[:vc] = view.cell_color[:vc]
            # a cell the show did not set takes its fixture's value (as the DMX renderer does)
            parent = self.cell_fixture
            ci = np.where(np.isnan(ci), inten[parent], ci)
            cc = np.where(np.isnan(cc), colour[parent], cc)
            cdisp = display_colours(ci, cc, dim)
            cpx = to_px(self.project(self.cell_positions))
            side = np.maximum(5.0, scale * self.cell_pitch[parent] * 0.9)
            painter.setPen(QPen(theme.GRID, 0.5))
            for k in range(nc):
                s = side[k]
                painter.setBrush(QColor(int(cdisp[k, 0]), int(cdisp[k, 1]), int(cdisp[k, 2])))
                painter.drawRect(QRectF(cpx[k, 0] - s / 2, cpx[k, 1] - s / 2, s, s))

        # fixture bodies
        radius = max(4.0, min(22.0, 0.22 * scale))
        font = QFont(painter.font())
        font.setPointSizeF(max(6.0, min(10.0, radius * 0.6)))
        painter.setFont(font)
        for i in range(self.n):
            if self.has_cells[i]:
                continue
            x, y = px[i]
            painter.setPen(QPen(QColor(110, 110, 120), 1.5))
            painter.setBrush(QColor(int(disp[i, 0]), int(disp[i, 1]), int(disp[i, 2])))
            painter.drawEllipse(QPointF(x, y), radius, radius)
            if strobe[i] > 0 and inten[i] * dim > 0.02:
                pen = QPen(QColor(255, 255, 255), 2.0, Qt.DashLine)
                painter.setPen(pen)
                painter.setBrush(Qt.NoBrush)
                painter.drawEllipse(QPointF(x, y), radius + 4, radius + 4)
        if self.labels and scale >= 40:
            painter.setPen(theme.DIM_TEXT)
            metrics = painter.fontMetrics()
            taken: list[QRectF] = []
            for i in range(self.n):  # a name only where it overlaps no other name or fixture
                x, y = px[i]
                off = radius + 2 if not self.has_cells[i] else scale * 0.12
                w = metrics.horizontalAdvance(self.names[i]) + 4
                box = QRectF(x - w / 2, y + off, w, metrics.height())
                bodies = np.hypot(px[:, 0] - box.center().x(), px[:, 1] - box.center().y()) < radius + box.height() / 2
                if any(box.intersects(t) for t in taken) or np.count_nonzero(bodies):
                    continue
                taken.append(box)
                painter.drawText(box, Qt.AlignHCenter | Qt.AlignTop, self.names[i])
        if blackout:
            painter.setPen(theme.BAD)
            big = QFont(painter.font())
            big.setPointSize(28)
            big.setBold(True)
            painter.setFont(big)
            painter.drawText(rect, Qt.AlignCenter, "BLACKOUT")
        painter.restore()

    def pixel_positions(self, rect: QRectF, xyz: np.ndarray | None = None) -> np.ndarray:
        """Where stage points (default: every fixture) are drawn in ``rect``, as (k, 2) pixels."""
        scale, ox, oy = self._transform(rect)
        uv = self.project(self.positions if xyz is None else xyz)
        return np.stack([ox + scale * uv[:, 0], oy - scale * uv[:, 1]], axis=1)

    def fixture_at(self, rect: QRectF, x: float, y: float) -> int | None:
        """Index of the fixture drawn nearest to pixel (x, y) within 20 px (tooltips)."""
        if not self.n:
            return None
        px = self.pixel_positions(rect)
        d = np.hypot(px[:, 0] - x, px[:, 1] - y)
        i = int(np.argmin(d))
        return i if d[i] <= 20 else None


def render_stage_image(patch: Any, view: Any, size: tuple[int, int] = (960, 540), *, projection: str = "stage",
                       dimmer: float = 1.0, blackout: bool = False) -> QImage:
    """The stage for one FixtureView as a QImage (offline previews, thumbnails, tests)."""
    img = QImage(size[0], size[1], QImage.Format_RGB32)
    img.fill(theme.BACKGROUND)
    p = QPainter(img)
    try:
        StageRenderer(patch, projection).paint(p, QRectF(0, 0, size[0], size[1]), view, dimmer=dimmer, blackout=blackout)
    finally:
        p.end()
    return img


class StageView(QWidget):
    """A widget around :class:`StageRenderer`: call :meth:`set_view` with each new FixtureView."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer: StageRenderer | None = None
        self.view: Any = None
        self.dimmer = 1.0
        self.blackout = False
        self.projection = "stage"
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(True)

    def set_patch(self, patch: Any) -> None:
        self.renderer = StageRenderer(patch, self.projection) if patch is not None else None
        self.update()

    def set_projection(self, projection: str) -> None:
        self.projection = projection
        if self.renderer is not None:
            self.renderer = StageRenderer(self.renderer.patch, projection)
        self.update()

    def set_view(self, view: Any, dimmer: float = 1.0, blackout: bool = False) -> None:
        self.view, self.dimmer, self.blackout = view, dimmer, blackout
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(720, 420)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        try:
            rect = QRectF(self.rect())
            if self.renderer is None or self.view is None:
                p.fillRect(rect, theme.BACKGROUND)
                p.setPen(theme.DIM_TEXT)
                p.drawText(rect, Qt.AlignCenter, "waiting for the show…")
                return
            self.renderer.paint(p, rect, self.view, dimmer=self.dimmer, blackout=self.blackout)
        finally:
            p.end()

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if self.renderer is None or self.view is None:
            return
        pos = event.position()
        i = self.renderer.fixture_at(QRectF(self.rect()), pos.x(), pos.y())
        if i is None:
            self.setToolTip("")
            return
        f = self.renderer.patch.fixtures[i]
        v = self.view

        def val(arr: np.ndarray, fmt: str) -> str:
            return "—" if i >= len(arr) or np.isnan(arr[i]) else fmt.format(float(arr[i]))

        self.setToolTip(
            f"{f.name} ({f.profile.name}) U{f.universe}.{f.address}\n"
            f"intensity {val(v.intensity, '{:.2f}')}  pan {val(v.pan, '{:.0f}°')}  tilt {val(v.tilt, '{:.0f}°')}"
            f"  zoom {val(v.zoom, '{:.2f}')}  strobe {val(v.strobe, '{:.1f} Hz')}")


class DmxGrid(QWidget):
    """One universe as a 32 × 16 grid of its 512 slots: value and a fill proportional to it.

    Slots used by a fixture get a tinted border (alternating per fixture), so a VJ sees where
    each fixture sits; hovering names the fixture and the slot.
    """

    COLS = 32

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values = np.zeros(512, np.uint8)
        self.universe = 0
        self.owner = np.full(512, -1, np.int64)
        self.names: list[str] = []
        self._cache: QPixmap | None = None
        self._cache_key: tuple = ()
        self.setMinimumSize(320, 140)
        self.setMouseTracking(True)

    def set_patch(self, patch: Any, universe: int) -> None:
        self.universe = universe
        self.owner[:] = -1
        self.names = []
        if patch is not None:
            for f in patch.fixtures:
                if f.universe == universe:
                    self.owner[f.address - 1 : f.address - 1 + f.footprint] = len(self.names)
                    self.names.append(f.name)
        self._cache = None
        self.update()

    def set_values(self, values: np.ndarray | None) -> None:
        if values is None:
            self.values[:] = 0
        else:
            self.values[:] = values[:512]
        self.update()

    def _cell(self) -> tuple[float, float]:
        rows = 512 // self.COLS
        return self.width() / self.COLS, self.height() / rows

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        try:
            p.drawPixmap(0, 0, self._grid())
            cw, ch = self._cell()
            font = QFont(p.font())
            font.setPointSizeF(max(5.0, min(10.0, ch * 0.42, cw * 0.3)))
            p.setFont(font)
            show_text = cw >= 16 and ch >= 11
            for s in np.flatnonzero(self.values):
                r, c = divmod(int(s), self.COLS)
                rect = QRectF(c * cw + 1, r * ch + 1, cw - 2, ch - 2)
                v = int(self.values[s])
                if v:
                    p.fillRect(QRectF(rect.left(), rect.bottom() - rect.height() * v / 255.0, rect.width(),
                                      rect.height() * v / 255.0), QColor(40 + v * 3 // 4, 40 + v * 3 // 4, 50 + v * 3 // 4))
                if show_text and v:  # a dark empty cell reads as 0; text only where there is a value
                    p.setPen(QColor(0, 0, 0) if v > 150 else theme.TEXT)
                    p.drawText(rect, Qt.AlignCenter, str(v))
        finally:
            p.end()

    def _grid(self) -> QPixmap:
        """The cell outlines (tinted per fixture), drawn once per size and patch."""
        key = (self.width(), self.height(), self.universe, len(self.names))
        if self._cache_key != key or self._cache is None:
            pix = QPixmap(max(1, self.width()), max(1, self.height()))
            pix.fill(theme.BACKGROUND)
            p = QPainter(pix)
            try:
                cw, ch = self._cell()
                tints = (QColor(0, 140, 200), QColor(200, 90, 0))
                p.setBrush(Qt.NoBrush)
                for s in range(512):
                    r, c = divmod(s, self.COLS)
                    o = int(self.owner[s])
                    p.setPen(QPen(tints[o % 2] if o >= 0 else theme.GRID, 1.0))
                    p.drawRect(QRectF(c * cw + 1, r * ch + 1, cw - 2, ch - 2))
            finally:
                p.end()
            self._cache, self._cache_key = pix, key
        return self._cache

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        cw, ch = self._cell()
        pos = event.position()
        s = int(pos.y() // ch) * self.COLS + int(pos.x() // cw)
        if 0 <= s < 512:
            o = int(self.owner[s])
            who = f" — {self.names[o]}" if o >= 0 else ""
            self.setToolTip(f"universe {self.universe} slot {s + 1} = {int(self.values[s])}{who}")
