"""The live frame, scaled to the widget with its aspect kept, and the HUD drawn over it.

Frames arrive faster or slower than paints; only the latest is kept (`show_packet`
replaces it and asks for an update, which Qt coalesces), and only a painted frame is
ever turned into a QImage, so a slow paint drops frames instead of queueing them.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.hud import HudStats
from app.keys import mouse_name
from app.theme import ACCENT
from model.play.world import FPS

HUD_REFRESH_S = 0.25                # HUD numbers are redrawn 4x a second: readable, and cheaper


def to_qimage(frame: np.ndarray) -> QImage:
    """RGB32 (an owned copy): Qt scales it 2-3x faster than RGB888 when painting."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, 3 * w, QImage.Format_RGB888).convertToFormat(QImage.Format_RGB32)


def from_qimage(image: QImage) -> np.ndarray:
    """An (H, W, 3) uint8 copy of a QImage: a window grab, for Pillow to write."""
    image = image.convertToFormat(QImage.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return rows[:, :3 * w].reshape(h, w, 3).copy()          # rows are padded to 4 bytes


def fit_rect(width: int, height: int, frame_w: int, frame_h: int) -> QRectF:
    """The largest rectangle of the frame's aspect centred in width x height."""
    scale = min(width / frame_w, height / frame_h)
    w, h = frame_w * scale, frame_h * scale
    return QRectF((width - w) / 2, (height - h) / 2, w, h)


class FrameView(QWidget):
    # Emitted at the end of paintEvent (packet, paint ms, key-to-frame latency ms or None):
    # slots must not paint or close widgets directly (defer with a 0 ms single-shot).
    painted = Signal(object, float, object)
    mouse_button = Signal(str, bool)           # "Mouse1", pressed

    def __init__(self, parent: QWidget | None = None, clock=time.perf_counter):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 240)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self.clock = clock
        self.stats = HudStats()
        self.smooth = False
        self.hud_visible = True
        self.paused = False
        self.recording_s: float | None = None
        self.placeholder = "Loading world…"
        self._pending = None                   # newest packet not painted yet
        self._pending_event_t = None           # earliest key event among dropped packets
        self._packet = None                    # packet on screen
        self._image: QImage | None = None
        self._hud: QImage | None = None        # the HUD, rendered at most every HUD_REFRESH_S
        self._hud_t = -1.0

    @Slot(object)
    def show_packet(self, packet) -> None:
        self.stats.on_arrival(self.clock())
        event_t = packet.event_t
        if self._pending is not None:
            self.stats.dropped += 1
            event_t = self._pending_event_t if self._pending_event_t is not None else event_t
        self._pending, self._pending_event_t = packet, event_t
        self.update()

    @Slot(str)
    def show_failure(self, text: str) -> None:
        """No world opened: say why where the frame would be, until one does."""
        self.placeholder = f"No world is open\n\n{text}"
        self.update()

    def current_frame(self) -> np.ndarray | None:
        packet = self._pending or self._packet
        return None if packet is None else packet.frame

    @property
    def packet(self):
        return self._packet

    def paintEvent(self, _event) -> None:
        t0 = self.clock()
        fresh, event_t = self._pending, self._pending_event_t
        if fresh is not None:
            self._packet, self._pending, self._pending_event_t = fresh, None, None
            self._image = to_qimage(fresh.frame)
        p = QPainter(self)
        if self._image is not None:
            target = fit_rect(self.width(), self.height(), self._image.width(), self._image.height())
            _fill_around(p, self.width(), self.height(), target)
            p.setRenderHint(QPainter.SmoothPixmapTransform, self.smooth)
            p.drawImage(target, self._image)
        else:
            p.fillRect(self.rect(), QColor("#000000"))
            self._draw_center(p, self.placeholder, 15)
        self._draw_overlays(p, t0)
        p.end()
        if fresh is not None:
            now = self.clock()
            paint_ms = (now - t0) * 1e3
            self.painted.emit(fresh, paint_ms, self.stats.on_paint(now, paint_ms, event_t))

    def _draw_overlays(self, p: QPainter, now: float) -> None:
        packet = self._packet
        if packet is not None and packet.kind == "scrub":
            self._draw_center(p, f"◀◀  {(packet.index - packet.latest) / FPS:+.1f} s", 22)
        elif self.paused and packet is not None:
            self._draw_center(p, "❚❚  PAUSED", 22)
        if self.hud_visible:
            if self._hud is None or now - self._hud_t >= HUD_REFRESH_S:
                self._hud, self._hud_t = self._render_hud(), now
            p.drawImage(12, 12, self._hud)
        if self.recording_s is not None:
            self._draw_rec(p)

    def _render_hud(self) -> QImage:
        lines = self.stats.lines(self._packet)
        font = QFont("monospace")
        font.setStyleHint(QFont.Monospace)
        font.setPixelSize(13)
        metrics = QFontMetrics(font)
        w = max(metrics.horizontalAdvance(s) for s in lines) + 20
        h = metrics.height() * len(lines) + 14
        image = QImage(w, h, QImage.Format_ARGB32_Premultiplied)
        image.fill(Qt.transparent)
        p = QPainter(image)
        p.setFont(font)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(QRectF(0, 0, w, h), 8, 8)
        p.setPen(QColor("#d8f5d0"))
        for i, line in enumerate(lines):
            p.drawText(10, 7 + metrics.ascent() + i * metrics.height(), line)
        p.end()
        return image

    def set_hud_visible(self, on: bool) -> None:
        self.hud_visible, self._hud = bool(on), None
        self.update()

    def _draw_rec(self, p: QPainter) -> None:
        s = int(self.recording_s or 0)
        text = f"REC {s // 60}:{s % 60:02d}"
        font = QFont()
        font.setPixelSize(14)
        font.setBold(True)
        p.setFont(font)
        w = p.fontMetrics().horizontalAdvance(text) + 40
        box = QRectF(self.width() - w - 12, 12, w, 28)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, 8, 8)
        p.setBrush(QColor(ACCENT))
        p.drawEllipse(QRectF(box.left() + 11, box.top() + 9, 10, 10))
        p.setPen(QColor("#ffffff"))
        p.drawText(box.adjusted(28, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, text)

    def _draw_center(self, p: QPainter, text: str, size: int) -> None:
        font = QFont()
        font.setPixelSize(size)
        font.setBold(True)
        p.setFont(font)
        p.setPen(QColor(255, 255, 255, 220))
        p.drawText(self.rect().adjusted(24, 0, -24, 0), Qt.AlignCenter | Qt.TextWordWrap, text)

    def mousePressEvent(self, event) -> None:
        self.setFocus()
        name = mouse_name(event.button())
        if name:
            self.mouse_button.emit(name, True)

    def mouseReleaseEvent(self, event) -> None:
        name = mouse_name(event.button())
        if name:
            self.mouse_button.emit(name, False)


def _fill_around(p: QPainter, width: int, height: int, target: QRectF) -> None:
    """Black bars around the frame only: the frame itself is drawn over its own area."""
    black = QColor("#000000")
    p.fillRect(QRectF(0, 0, width, target.top()), black)
    p.fillRect(QRectF(0, target.bottom(), width, height - target.bottom()), black)
    p.fillRect(QRectF(0, target.top(), target.left(), target.height()), black)
    p.fillRect(QRectF(target.right(), target.top(), width - target.right(), target.height()), black)
