"""The GUI side of the engine: owns the QThread and the worker, and sends it commands.

    engine = Engine(EngineConfig(world="freedoom"), input_state)
    engine.frame_ready.connect(view.show_packet)
    engine.start()            # the world loads in the worker thread; the window is already up
    engine.toggle_pause()     # every command is a queued signal to the worker
    engine.stop()             # shuts the worker down, quits and joins the thread

The engine re-emits the worker's signals from the GUI thread (its own thread), so every
slot connected to `engine.<signal>` runs in the GUI thread, plain callables included.
Tests pass `autotick=False` and drive the worker with `engine.tick()` (one queued tick).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QThread, Signal

from app.worker import EngineConfig, EngineWorker


class Engine(QObject):
    frame_ready = Signal(object)          # app.worker.FramePacket
    world_loaded = Signal(object)         # app.worker.WorldInfo
    session_started = Signal(object)      # app.worker.SessionInfo
    paused_changed = Signal(bool)
    steps_changed = Signal(int)
    recording_changed = Signal(object)    # app.worker.RecordingStatus, or None when stopped
    message = Signal(str, str)            # level, one line
    _command = Signal(str, object)
    _tick = Signal()
    _shutdown = Signal()

    def __init__(self, config: EngineConfig, input_state, clock=time.perf_counter, autotick: bool = True,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("reverie-engine")
        self.worker = EngineWorker(config, input_state, clock=clock, autotick=autotick)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self._command.connect(self.worker.command)
        self._tick.connect(self.worker.tick)
        self._shutdown.connect(self.worker.shutdown, Qt.BlockingQueuedConnection)
        for name in ("frame_ready", "world_loaded", "session_started", "paused_changed", "steps_changed",
                     "recording_changed", "message"):
            getattr(self.worker, name).connect(getattr(self, name))     # queued into this thread

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Finalize any recording, stop the timer, quit and join the thread. Idempotent."""
        if self.thread.isRunning():
            self._shutdown.emit()
            self.thread.quit()
            self.thread.wait()

    def send(self, name: str, *args) -> None:
        self._command.emit(name, args)

    def tick(self) -> None:
        self._tick.emit()

    # -- commands (each a queued call of the worker's do_<name>) -------------------------
    def toggle_pause(self) -> None:
        self.send("toggle_pause")

    def set_paused(self, paused: bool) -> None:
        self.send("set_paused", paused)

    def reset(self) -> None:
        self.send("reset")

    def new_scene(self, seed: str | None, rng_seed: int | None) -> None:
        self.send("new_scene", seed, rng_seed)

    def scrub(self, held: bool) -> None:
        self.send("scrub", held)

    def seek(self, index: int) -> None:
        self.send("seek", index)

    def commit_rewind(self) -> None:
        self.send("commit_rewind")

    def rewind_by(self, frames: int) -> None:
        self.send("rewind_by", frames)

    def set_steps(self, steps: int) -> None:
        self.send("set_steps", steps)

    def set_backend(self, backend: str) -> None:
        self.send("set_backend", backend)

    def open_world(self, world: str) -> None:
        self.send("open_world", world)

    def start_recording(self, path: str) -> None:
        self.send("start_recording", path)

    def stop_recording(self) -> None:
        self.send("stop_recording")
