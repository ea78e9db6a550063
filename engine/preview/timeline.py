"""The timeline picture: a whole song in one image.

Analysis lanes (level, bands or stems, beats/downbeats, onsets, sections, notes, tempo), the
looks each layer ran, then one lane per fixture group with a thin row per fixture showing its
light over time (colour × intensity, mean per pixel column). For a quick look at a show and for
bug reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.preview.plot import LABEL_W, LANE_GAP, AnalysisLanes, LanePainter, lanes_height, save_image
from engine.preview.record import Recording


def group_lanes(fixture_names: list[str], groups: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Groups to draw, in the show's order: a group whose fixtures all belong to smaller groups
    is left out (``pars`` when ``left_pars`` and ``right_pars`` are there), so the finest
    grouping shows; fixtures in no group get a lane ``other``."""
    items = [(name, np.asarray(idx, np.int64)) for name, idx in groups.items() if len(idx)]
    keep = []
    for name, idx in items:
        smaller = [set(j.tolist()) for other, j in items if other != name and len(j) < len(idx)]
        covered = set().union(*smaller) if smaller else set()
        if not set(idx.tolist()) <= covered:
            keep.append((name, idx))
    grouped = set().union(*(set(i.tolist()) for _, i in keep)) if keep else set()
    rest = np.array([i for i in range(len(fixture_names)) if i not in grouped], np.int64)
    if len(rest):
        keep.append(("other", rest))
    return keep


def _row_height(count: int) -> int:
    return int(max(3, min(12, 72 // max(1, count))))


def _rgb_image(rgb: np.ndarray) -> Any:
    """An (h, w, 3) uint8 array as a QImage (a copy)."""
    from PySide6.QtGui import QImage

    a = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = a.shape
    return QImage(a.tobytes(), w, h, 3 * w, QImage.Format_RGB888).copy()


def render_timeline(recording: Recording, path: str | Path, *, lanes: AnalysisLanes | None = None,
                    width: int = 1800, title: str = "") -> list[tuple[str, int, int]]:
    """Draw ``recording`` to ``path`` (PNG). Returns the lanes drawn as (name, top, height) in
    pixels; fixture-group lanes are named ``group:NAME``."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter

    from engine.preview.qt import ensure_qt
    from engine.ui import theme
    from engine.ui.stage import linear_to_srgb

    ensure_qt()
    rec = recording
    if lanes is None:
        lanes = AnalysisLanes.from_events(rec.events, rec.sample_rate, rec.end)
    glanes = group_lanes(rec.fixture_names, rec.groups)
    layers = sorted({k for _, looks in rec.looks for k in looks})
    head = 26
    height = head + lanes_height(lanes) + (22 + LANE_GAP) * len(layers)
    height += sum(_row_height(len(idx)) * len(idx) + LANE_GAP + 2 for _, idx in glanes) + 8
    img = QImage(int(width), int(height), QImage.Format_RGB32)
    img.fill(theme.BACKGROUND)
    p = QPainter(img)
    try:
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setPen(theme.TEXT)
        p.drawText(QRectF(8, 0, width - 16, head), Qt.AlignLeft | Qt.AlignVCenter,
                   title or f"timeline {rec.start:.1f}–{rec.end:.1f} s")
        lp = LanePainter(p, int(width), rec.start, rec.end)
        lp.y = head
        lp.time_axis()
        lp.analysis(lanes)
        # The looks each layer ran: a coloured span per look, named where it fits.
        palette = [(0, 150, 200), (200, 90, 0), (60, 170, 90), (170, 80, 200), (200, 170, 40), (200, 60, 90)]
        look_names = sorted({v for _, looks in rec.looks for v in looks.values() if v})
        for layer in layers:
            top, h = lp.begin_lane(f"layer {layer}", 22)
            spans = [(t, looks.get(layer)) for t, looks in rec.looks]
            for k, (t, look) in enumerate(spans):
                t_next = spans[k + 1][0] if k + 1 < len(spans) else rec.end
                if not look or t_next <= t:
                    continue
                x0, x1 = float(lp.x(t)), float(lp.x(t_next))
                rgb = palette[look_names.index(look) % len(palette)]
                p.fillRect(QRectF(x0, top + 2, max(1.0, x1 - x0), h - 4), QColor(*rgb, 150))
                if x1 - x0 > 30:
                    p.setPen(theme.TEXT)
                    p.drawText(QRectF(x0 + 3, top, x1 - x0 - 6, h), Qt.AlignLeft | Qt.AlignVCenter, look)
        # Fixture groups: mean light per pixel column and fixture, drawn as an image.
        cols = lp.plot_w
        if len(rec.times):
            col_of = np.clip(((rec.times - rec.start) / max(1e-9, rec.end - rec.start) * cols).astype(np.int64), 0, cols - 1)
            counts = np.bincount(col_of, minlength=cols).astype(np.float64)
        for name, idx in glanes:
            rh = _row_height(len(idx))
            top, h = lp.begin_lane(name, rh * len(idx) + 2)
            lp.lanes[-1] = (f"group:{name}", top, h)
            if not len(rec.times):
                continue
            sums = np.zeros((cols, len(idx), 3))
            np.add.at(sums, col_of, rec.lit[:, idx, :].astype(np.float64))
            have = counts > 0
            mean = np.zeros_like(sums)
            mean[have] = sums[have] / counts[have, None, None]
            # columns without a sample (a very wide picture) repeat the one before
            fill = np.maximum.accumulate(np.where(have, np.arange(cols), 0))
            mean = mean[fill]
            rgb = np.round(255 * linear_to_srgb(mean)).astype(np.uint8)  # (cols, k, 3)
            rows = np.repeat(rgb.transpose(1, 0, 2), rh, axis=0)  # (k*rh, cols, 3)
            p.drawImage(QPointF(LABEL_W, top + 1), _rgb_image(rows))
    finally:
        p.end()
    save_image(img, path)
    return lp.lanes
