"""Toolbar icons drawn with QPainter (light glyphs for the dark theme, crisp at any size)."""
from __future__ import annotations

import math
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QIcon,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
)

from app.theme import ACCENT, TEXT

SIZE = 64


def _poly(p: QPainter, *points) -> None:
    p.drawPolygon(QPolygonF([QPointF(x, y) for x, y in points]))


def _play(p):
    _poly(p, (20, 14), (52, 32), (20, 50))


def _pause(p):
    p.drawRoundedRect(QRectF(17, 14, 11, 36), 2, 2)
    p.drawRoundedRect(QRectF(36, 14, 11, 36), 2, 2)


def _rewind(p):
    _poly(p, (32, 16), (32, 48), (8, 32))
    _poly(p, (56, 16), (56, 48), (32, 32))


def _reset(p):
    p.setBrush(Qt.NoBrush)
    p.setPen(QPen(QColor(TEXT), 6, Qt.SolidLine, Qt.RoundCap))
    p.drawArc(QRectF(14, 14, 36, 36), 110 * 16, 290 * 16)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor(TEXT))
    a = math.radians(110)
    x, y = 32 + 18 * math.cos(a), 32 - 18 * math.sin(a)
    _poly(p, (x - 11, y - 2), (x + 6, y - 11), (x + 5, y + 8))


def _record(p):
    p.setBrush(QColor(ACCENT))
    p.drawEllipse(QRectF(14, 14, 36, 36))


def _camera(p):
    p.drawRoundedRect(QRectF(8, 20, 48, 32), 6, 6)
    p.drawRect(QRectF(22, 14, 20, 8))
    p.setBrush(QColor("#202226"))
    p.drawEllipse(QRectF(22, 25, 20, 20))


def _gallery(p):
    for x in (10, 34):
        for y in (10, 34):
            p.drawRoundedRect(QRectF(x, y, 20, 20), 3, 3)


def _hud(p):
    for i, w in enumerate((40, 28, 34)):
        p.drawRoundedRect(QRectF(12, 14 + i * 14, w, 7), 3, 3)


def _speaker(p, muted=False):
    _poly(p, (8, 24), (20, 24), (34, 12), (34, 52), (20, 40), (8, 40))
    p.setBrush(Qt.NoBrush)
    p.setPen(QPen(QColor(TEXT), 5, Qt.SolidLine, Qt.RoundCap))
    if muted:
        p.drawLine(QPointF(42, 24), QPointF(56, 40))
        p.drawLine(QPointF(56, 24), QPointF(42, 40))
    else:
        p.drawArc(QRectF(28, 20, 20, 24), -50 * 16, 100 * 16)
        p.drawArc(QRectF(26, 12, 32, 40), -50 * 16, 100 * 16)


def _fullscreen(p):
    p.setBrush(Qt.NoBrush)
    p.setPen(QPen(QColor(TEXT), 5, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cx, cy = 32 - sx * 20, 32 - sy * 20
        path = QPainterPath(QPointF(cx, cy + sy * 12))
        path.lineTo(cx, cy)
        path.lineTo(cx + sx * 12, cy)
        p.drawPath(path)


def _open(p):
    p.drawRoundedRect(QRectF(8, 16, 22, 10), 3, 3)
    p.drawRoundedRect(QRectF(8, 22, 48, 28), 4, 4)


def _keyboard(p):
    p.drawRoundedRect(QRectF(6, 16, 52, 32), 5, 5)
    p.setBrush(QColor("#202226"))
    for row, y in enumerate((21, 30)):
        for i in range(6 - row):
            p.drawRect(QRectF(11 + i * 8 + row * 4, y, 5, 5))
    p.drawRect(QRectF(18, 39, 28, 5))


DRAW = {"play": _play, "pause": _pause, "rewind": _rewind, "reset": _reset, "record": _record,
        "camera": _camera, "gallery": _gallery, "hud": _hud, "sound": _speaker,
        "mute": lambda p: _speaker(p, muted=True), "fullscreen": _fullscreen, "open": _open,
        "keyboard": _keyboard}


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    pixmap = QPixmap(SIZE, SIZE)
    pixmap.fill(Qt.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor(TEXT))
    DRAW[name](p)
    p.end()
    return QIcon(pixmap)
