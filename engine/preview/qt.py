"""Qt without a window: the offscreen platform, one application object, QImage ↔ numpy."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def ensure_qt() -> Any:
    """The process's QApplication, created on the offscreen platform when there is no display.

    QPainter needs an application object for fonts; a QApplication (not a bare
    QGuiApplication) so that widgets created later in the same process still work.
    """
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        from engine.preview import PreviewError

        raise PreviewError("drawing a preview needs PySide6: pip install 'beamsync[ui,preview]'") from None

    app = QApplication.instance()
    if app is None:
        app = QApplication(["beamsync-preview"])
    return app


def image_to_rgb(image: Any) -> np.ndarray:
    """A QImage as an (h, w, 3) uint8 RGB array (a copy)."""
    from PySide6.QtGui import QImage

    img = image if image.format() == QImage.Format_RGB888 else image.convertToFormat(QImage.Format_RGB888)
    h, w, stride = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
