"""Small widgets around the frame: the rewind timeline and the notice bar."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from model.play.world import FPS

NOTICE_MS = 8000
SLIDER_EVERY = 5                    # frames between slider updates while playing live


class TimelineBar(QWidget):
    """The last 10 s: drag back to scrub (frames shown, model idle); release to branch from there."""
    seek = Signal(int)
    released = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setFocusPolicy(Qt.NoFocus)
        self.slider.setRange(0, 0)
        self.slider.sliderMoved.connect(self.seek)
        self.slider.sliderReleased.connect(self.released)
        self.label = QLabel("live")
        self.label.setMinimumWidth(56)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        hint = QLabel("⟲ rewind")
        hint.setToolTip("Drag back up to 10 s, or hold Backspace; play on to branch a new future")
        layout.addWidget(hint)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)

    def show_packet(self, packet) -> None:
        live = packet.kind == "step" and packet.index == packet.latest
        if live and packet.index % SLIDER_EVERY and self.label.text() == "live":
            return                             # repainting the slider every frame costs the model time
        if self.slider.isSliderDown():
            self.label.setText(f"{(self.slider.value() - packet.latest) / FPS:+.1f} s")
            return
        self.slider.blockSignals(True)
        self.slider.setRange(packet.earliest, packet.latest)
        self.slider.setValue(packet.index)
        self.slider.blockSignals(False)
        behind = packet.latest - packet.index
        self.label.setText("live" if behind == 0 else f"{-behind / FPS:+.1f} s")


class NoticeBar(QLabel):
    """A one-line message above the frame (errors in red), gone after a few seconds or on click."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.hide()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(NOTICE_MS)
        self.timer.timeout.connect(self.hide)

    def notify(self, level: str, text: str) -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(text)
        self.show()
        self.timer.start()

    def mousePressEvent(self, _event) -> None:
        self.hide()
        self.timer.stop()
