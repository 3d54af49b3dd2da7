"""A dark theme: Fusion with a dark palette and a little stylesheet for toolbar and panels."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#e0493e"            # record red, also the highlight colour
BG, PANEL, TEXT, MUTED = "#17181b", "#202226", "#e6e6e6", "#8a8f98"

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BG}; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid #2c2f35; spacing: 4px; padding: 3px 6px; }}
QToolBar QToolButton {{ border-radius: 6px; padding: 4px; }}
QToolBar QToolButton:hover {{ background: #2e3137; }}
QToolBar QToolButton:checked {{ background: #3a3d44; }}
QToolBar QLabel {{ color: {MUTED}; padding: 0 2px 0 8px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid #2c2f35; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; }}
QDockWidget {{ color: {TEXT}; font-weight: 600; }}
QDockWidget::title {{ background: {PANEL}; padding: 6px 8px; }}
QListWidget {{ background: {BG}; border: none; }}
QListWidget::item {{ color: {TEXT}; border-radius: 6px; padding: 4px; }}
QListWidget::item:hover {{ background: #26292e; }}
QListWidget::item:selected {{ background: #33363d; }}
QLabel#sectionTitle {{ color: {MUTED}; font-size: 11px; font-weight: 600; padding: 8px 2px 2px 2px; }}
QLabel#notice {{ background: #5a1f1b; color: #ffd9d4; padding: 6px 10px; }}
QLabel#notice[level="info"] {{ background: #1f3a5a; color: #d4e7ff; }}
QLabel#recBadge {{ color: {ACCENT}; font-weight: 700; }}
QComboBox, QLineEdit, QSpinBox {{ background: #2a2d33; border: 1px solid #383b42; border-radius: 5px;
    padding: 3px 6px; color: {TEXT}; }}
QPushButton {{ background: #2d3036; border: 1px solid #3a3d44; border-radius: 6px; padding: 5px 12px; color: {TEXT}; }}
QPushButton:hover {{ background: #363940; }}
QSlider::groove:horizontal {{ height: 4px; background: #33363d; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
"""


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: "#1c1d21",
        QPalette.AlternateBase: PANEL, QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT,
        QPalette.Text: TEXT, QPalette.Button: PANEL, QPalette.ButtonText: TEXT,
        QPalette.BrightText: "#ffffff", QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#ffffff",
        QPalette.Link: "#6aa9ff", QPalette.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor("#5c6068"))
    return p


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
