"""The "Compare with engine" view, for testers: the real engine on the same keys beside the
model, with a live PSNR readout.

The engine is a second bridge, for this view only: a CompareWorker on its own QThread owns
an EngineTwin (app/engine_twin.py), fed every frame packet of the world worker, and sends
back the engine's frame and its PSNR against the model's. It runs only while the view is
open and never draws the world. It needs the `train` extra (vizdoom, and OpenCV for the
metrics) and a scene seed that names its engine origin (model/play/origin.py).
"""
from __future__ import annotations

import importlib.util
import logging
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from app.frame_view import FrameView
from app.world_thread import OwnedThread
from model.play.errors import UserError
from model.play.origin import has_origin, read_origin
from model.play.world import FPS

log = logging.getLogger(__name__)
ENGINE_MODULES = ("vizdoom", "cv2")          # the train extra's engine and metrics
NO_ENGINE = "Needs the engine: install the train extra (pip install -e '.[train]')"
NO_ORIGIN = "This scene seed was not made by the engine: it names no map and no actions from the map's start"


def compare_unavailable(seed_path) -> str | None:
    """Why the view cannot open for this seed (one line), or None if it can."""
    if any(importlib.util.find_spec(name) is None for name in ENGINE_MODULES):
        return NO_ENGINE
    return None if has_origin(seed_path) else NO_ORIGIN


@dataclass(frozen=True)
class ComparePacket:
    """The engine's frame for one model frame. FrameView shows it as it shows a FramePacket."""
    frame: object                    # (H, W, 3) uint8: the engine, at the model's frame size
    index: int                       # the session's frame number
    kind: str                        # the model packet's kind
    psnr: float                      # engine vs model, dB (100: identical)
    latest: int = 0
    event_t: float | None = None


class PsnrReadout:
    """The readout's numbers, without Qt: this frame, the last second, and since the reset."""

    def __init__(self):
        self.recent: deque[float] = deque(maxlen=FPS)
        self.total, self.frames = 0.0, 0

    def add(self, packet: ComparePacket) -> None:
        if packet.kind in ("reset", "rewind"):
            self.recent.clear()
            self.total, self.frames = 0.0, 0
        if packet.kind == "step":
            self.recent.append(packet.psnr)
            self.total, self.frames = self.total + packet.psnr, self.frames + 1

    def text(self, packet: ComparePacket) -> str:
        now = f"PSNR {packet.psnr:.1f} dB"
        if not self.frames:
            return f"{now} · frame {packet.index}"
        mean_1s = sum(self.recent) / len(self.recent)
        return f"{now} · {mean_1s:.1f} over 1 s · {self.total / self.frames:.1f} over {self.frames} steps"


class CompareWorker(QObject):
    """Owns the engine, in its own thread; slots never raise (errors leave as `message`)."""
    frame_ready = Signal(object)             # ComparePacket
    message = Signal(str, str)

    def __init__(self):
        super().__init__()
        self._twin = None
        self._ended_said = False

    @Slot(object)
    def open_seed(self, seed_path) -> None:
        """Open the engine at the origin a seed file names (closing any other engine)."""
        from app.engine_twin import EngineTwin
        self._close()
        try:
            origin = read_origin(seed_path)
            if origin is None:
                raise UserError(f"{seed_path}: names no engine origin (a map and the actions from its start)")
            twin = EngineTwin(origin)
            twin.open()
            self._twin = twin
        except UserError as exc:
            self.message.emit("error", str(exc))
        except Exception as exc:             # a broken install must not take the player down
            log.exception("engine did not start")
            self.message.emit("error", f"The engine did not start ({type(exc).__name__}: {exc})")

    @Slot(object)
    def follow(self, packet) -> None:
        if self._twin is None:
            return
        try:
            frame = self._twin.follow(packet)
        except Exception as exc:
            log.exception("engine step failed")
            self._close()
            self.message.emit("error", f"The engine stopped ({type(exc).__name__}: {exc})")
            return
        if packet.kind == "reset":
            self._ended_said = False
        if frame is None:
            if self._twin.ended and not self._ended_said:
                self._ended_said = True
                self.message.emit("info", "The engine's episode ended (an exit): it stopped following")
            return
        from model.train.metrics import psnr
        self.frame_ready.emit(ComparePacket(frame, packet.index, packet.kind, psnr(frame, packet.frame),
                                            latest=packet.latest))

    @Slot()
    def shutdown(self) -> None:
        self._close()
        self.moveToThread(QCoreApplication.instance().thread())

    def _close(self) -> None:
        if self._twin is not None:
            self._twin.close()
            self._twin = None


class CompareThread(OwnedThread, QObject):
    """The GUI side of the engine worker: owns its QThread; `follow` and `open_seed` are queued."""
    frame_ready = Signal(object)             # ComparePacket, re-emitted in the GUI thread
    message = Signal(str, str)
    follow = Signal(object)                  # a FramePacket of the world worker
    open_seed = Signal(object)               # the scene seed's path
    _shutdown = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("reverie-engine")
        self.worker = CompareWorker()
        self.worker.moveToThread(self.thread)
        self.follow.connect(self.worker.follow)
        self.open_seed.connect(self.worker.open_seed)
        self._shutdown.connect(self.worker.shutdown, Qt.BlockingQueuedConnection)
        self.worker.frame_ready.connect(self.frame_ready)
        self.worker.message.connect(self.message)



class CompareDock(QDockWidget):
    """The view: the engine's frame (dropped, not queued, when paints fall behind) and the readout.
    `start(seed_path)` opens the engine in its own thread, `stop()` closes it; packets reach the
    engine only in between."""
    message = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Compare with engine", parent)
        self.setObjectName("compare")
        self.setFeatures(QDockWidget.DockWidgetMovable)     # closed from the View menu, which stops the engine
        self.view = FrameView()
        self.view.hud_visible = False
        self.view.setMinimumSize(256, 192)
        self.view.setFocusPolicy(Qt.NoFocus)                # keys stay with the player
        self.readout = QLabel("")
        self.note = QLabel("The engine runs only in this view; the player's world is the model's alone.")
        self.note.setWordWrap(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        for widget in (self.view, self.readout, self.note):
            layout.addWidget(widget)
        self.setWidget(body)
        self.stats = PsnrReadout()
        self.engine: CompareThread | None = None

    @property
    def running(self) -> bool:
        return self.engine is not None

    def start(self, seed_path) -> None:
        self.stop()
        self.stats = PsnrReadout()
        self.view.placeholder = "Starting the engine…"
        self.engine = CompareThread(self)
        self.engine.frame_ready.connect(self.show_packet)
        self.engine.message.connect(self.message)
        self.engine.start()
        self.engine.open_seed.emit(seed_path)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine.deleteLater()
            self.engine = None

    @Slot(object)
    def follow(self, packet) -> None:
        """Every world packet, while the engine runs (it must see every action, in order)."""
        if self.engine is not None:
            self.engine.follow.emit(packet)

    @Slot(object)
    def show_packet(self, packet: ComparePacket) -> None:
        self.stats.add(packet)
        self.readout.setText(self.stats.text(packet))
        self.view.show_packet(packet)
