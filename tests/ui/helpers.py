"""Image helpers for the UI tests: QImage → numpy, colour checks."""

from __future__ import annotations

import numpy as np


def to_array(image) -> np.ndarray:
    """A QImage or QPixmap as an (h, w, 3) uint8 RGB array."""
    from PySide6.QtGui import QImage

    img = image.toImage() if hasattr(image, "toImage") else image
    img = img.convertToFormat(QImage.Format_RGB32)
    h, w = img.height(), img.width()
    raw = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, img.bytesPerLine() // 4, 4)
    return raw[:, :w, 2::-1].copy()  # BGRA in memory on little-endian → RGB


def distinct_colours(arr: np.ndarray) -> int:
    flat = arr.reshape(-1, 3).astype(np.int32)
    return len(np.unique(flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2]))


def saturated_pixels(arr: np.ndarray, min_chroma: int = 80, min_value: int = 80) -> int:
    """Pixels with a strong colour (max − min channel ≥ ``min_chroma``): lit coloured fixtures."""
    a = arr.astype(np.int32)
    mx, mn = a.max(axis=2), a.min(axis=2)
    return int(np.count_nonzero((mx - mn >= min_chroma) & (mx >= min_value)))
