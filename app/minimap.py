"""The map: a small top-down view of where the camera has been, drawn over the frame's corner.

The automap of a world that has no engine: the trail and the keyframes come from the model's
own poses and memory (app/trail.py, fed by the frame packets), north up, centred on the camera,
zoomed out to fit everything seen. Clicks and keys pass through it to the view below.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.theme import ACCENT
from app.trail import PoseTrail

MAP_SIZE = 200            # pixels, square
MARGIN = 12               # from the view's corner, as the HUD's
MIN_RADIUS = 96.0         # map units from the camera to the edge, at the closest zoom
TRAIL_COLOUR, KEYFRAME_COLOUR, CAMERA_COLOUR = "#8fd18a", "#f2c14e", ACCENT


class MinimapView(QWidget):
    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.trail = PoseTrail()
        self.setFixedSize(MAP_SIZE, MAP_SIZE)
        self.setFocusPolicy(Qt.NoFocus)
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        parent.installEventFilter(self)          # stay in the corner as the view resizes
        self._place()

    @Slot(object)
    def show_packet(self, packet) -> None:
        """Every packet feeds the trail (hidden or not); a visible map is repainted (coalesced)."""
        self.trail.on_packet(packet)
        if self.isVisible():
            self.update()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Resize:
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        self.move(parent.width() - MAP_SIZE - MARGIN, parent.height() - MAP_SIZE - MARGIN)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(QRectF(0, 0, MAP_SIZE, MAP_SIZE), 8, 8)
        pose = self.trail.pose
        if pose is None:
            p.setPen(QColor(255, 255, 255, 160))
            p.drawText(self.rect(), Qt.AlignCenter, "no map")
        else:
            self._draw(p, pose)
        p.end()

    def _draw(self, p: QPainter, pose) -> None:
        points, keyframes = self.trail.points, self.trail.keyframes
        to_px = map_transform(pose, np.concatenate([points, keyframes]), MAP_SIZE / 2 - 10)
        p.setClipRect(QRectF(4, 4, MAP_SIZE - 8, MAP_SIZE - 8))
        if len(points) > 1:
            p.setPen(QPen(QColor(TRAIL_COLOUR), 1.5))
            p.setBrush(Qt.NoBrush)
            p.drawPolyline(QPolygonF([QPointF(x, y) for x, y in thin(to_px(points))]))
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(KEYFRAME_COLOUR))
        for x, y in to_px(keyframes):
            p.drawRect(QRectF(x - 2, y - 2, 4, 4))
        _draw_camera(p, to_px(np.array([pose[:2]]))[0], pose[2])


def map_transform(pose, points: np.ndarray, radius_px: float):
    """(x, y) map units -> (N, 2) pixels: north up, the camera at the centre, everything within
    `radius_px` (never closer than MIN_RADIUS map units to the edge)."""
    cx, cy = pose[0], pose[1]
    reach = float(np.max(np.hypot(points[:, 0] - cx, points[:, 1] - cy))) if len(points) else 0.0
    scale = radius_px / max(MIN_RADIUS, reach)
    half = MAP_SIZE / 2

    def to_px(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.stack([half + (xy[:, 0] - cx) * scale, half - (xy[:, 1] - cy) * scale], axis=1)
    return to_px


def thin(px: np.ndarray) -> np.ndarray:
    """Drop points that land on the pixel of the point before: a long trail drawn in a small
    square repeats pixels, and each QPointF costs Python time at every paint."""
    if len(px) < 3:
        return px
    cells = np.rint(px)
    keep = np.ones(len(px), bool)
    keep[1:] = np.any(cells[1:] != cells[:-1], axis=1)
    keep[-1] = True
    return px[keep]


def _draw_camera(p: QPainter, at, yaw_degrees: float) -> None:
    """A triangle pointing along the heading (yaw counter-clockwise from +x; screen y is down)."""
    a = math.radians(yaw_degrees)
    forward, side = np.array([math.cos(a), -math.sin(a)]), np.array([math.sin(a), math.cos(a)])
    tip, left, right = at + 9 * forward, at - 5 * forward + 5 * side, at - 5 * forward - 5 * side
    p.setPen(QPen(QColor("#000000"), 1))
    p.setBrush(QColor(CAMERA_COLOUR))
    p.drawPolygon(QPolygonF([QPointF(*tip), QPointF(*left), QPointF(*right)]))
