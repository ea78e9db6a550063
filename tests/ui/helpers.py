"""Helpers for the UI tests: a copy of the club show on a free port, QImage → numpy, colour checks."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def copy_club_show(folder: Path, port: int) -> Path:
    """shows/club-edm.yaml and its rig in ``folder``, sending sACN to 127.0.0.1:``port``."""
    shutil.copytree(REPO / "shows" / "rigs", folder / "rigs", dirs_exist_ok=True)
    rig = folder / "rigs" / "club-rig.yaml"
    text = rig.read_text()
    assert "destinations: [127.0.0.1]" in text
    rig.write_text(text.replace("destinations: [127.0.0.1]", f"destinations: [127.0.0.1]\n    port: {port}", 1))
    show = folder / "show.yaml"
    show.write_text((REPO / "shows" / "club-edm.yaml").read_text())
    return show


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
