"""A dark theme for a stage: black backgrounds, large light figures, saturated status colours.

Low-light venues need dark surfaces (no glare at the desk), big type (read from a step
away) and a handful of unambiguous signal colours: green = fine, amber = attention,
red = trouble or blackout.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = QColor(12, 12, 14)
PANEL = QColor(22, 22, 26)
GRID = QColor(48, 48, 56)
TEXT = QColor(225, 225, 230)
DIM_TEXT = QColor(140, 140, 150)
ACCENT = QColor(0, 200, 255)
OK = QColor(40, 210, 90)
WARN = QColor(255, 176, 0)
BAD = QColor(255, 48, 48)
DOWNBEAT = QColor(255, 64, 160)
BEAT = QColor(0, 200, 255)

#: Colours of the onset rows (kick, snare, hi-hat, other) and of the stems.
ONSET_COLOURS = {"kick": QColor(255, 90, 60), "snare": QColor(255, 210, 60), "hihat": QColor(120, 230, 255),
                 "": QColor(200, 200, 200)}
STEM_COLOURS = {"mix": QColor(200, 200, 200), "drums": QColor(255, 90, 60), "bass": QColor(170, 90, 255),
                "vocals": QColor(60, 220, 120), "other": QColor(0, 170, 255)}

STYLESHEET = f"""
QWidget {{ background: {PANEL.name()}; color: {TEXT.name()}; font-size: 13pt; }}
QMainWindow, QMainWindow::separator {{ background: {BACKGROUND.name()}; }}
QDockWidget::title {{ background: {BACKGROUND.name()}; padding: 4px; color: {DIM_TEXT.name()}; }}
QPushButton {{ background: #2a2a32; border: 1px solid #444; border-radius: 4px; padding: 6px 10px; }}
QPushButton:hover {{ border-color: {ACCENT.name()}; }}
QPushButton:checked {{ background: #0a5f7a; border-color: {ACCENT.name()}; }}
QPushButton#blackout:checked {{ background: {BAD.name()}; color: black; font-weight: bold; }}
QPushButton#freeze:checked {{ background: {WARN.name()}; color: black; font-weight: bold; }}
QComboBox, QSpinBox {{ background: #2a2a32; border: 1px solid #444; padding: 3px; }}
QSlider::groove:vertical {{ background: #2a2a32; width: 14px; border-radius: 4px; }}
QSlider::handle:vertical {{ background: {ACCENT.name()}; height: 22px; margin: 0 -8px; border-radius: 4px; }}
QLabel#banner {{ background: {BAD.name()}; color: black; font-weight: bold; padding: 6px; }}
QLabel#big {{ font-size: 30pt; font-weight: bold; }}
QLabel#section {{ font-size: 20pt; font-weight: bold; color: {WARN.name()}; }}
QToolTip {{ background: #000; color: {TEXT.name()}; border: 1px solid {ACCENT.name()}; }}
"""


def apply(app: QApplication) -> None:
    """Give ``app`` the dark stage palette and style sheet (once: re-applying a style sheet
    re-polishes every live widget, which is slow and has crashed Qt while others were torn down)."""
    if app.property("beamsync_theme"):
        return
    app.setProperty("beamsync_theme", True)
    pal = QPalette()
    pal.setColor(QPalette.Window, BACKGROUND)
    pal.setColor(QPalette.WindowText, TEXT)
    pal.setColor(QPalette.Base, PANEL)
    pal.setColor(QPalette.AlternateBase, BACKGROUND)
    pal.setColor(QPalette.Text, TEXT)
    pal.setColor(QPalette.Button, PANEL)
    pal.setColor(QPalette.ButtonText, TEXT)
    pal.setColor(QPalette.Highlight, ACCENT)
    pal.setColor(QPalette.HighlightedText, BACKGROUND)
    pal.setColor(QPalette.ToolTipBase, BACKGROUND)
    pal.setColor(QPalette.ToolTipText, TEXT)
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
    font = QFont(app.font())
    font.setPointSize(13)
    app.setFont(font)
