"""The GUI side of the world worker: owns the QThread and the worker, and sends it commands.

    world = WorldThread(WorldConfig(world="freedoom"), input_state)
    world.frame_ready.connect(view.show_packet)
    world.start()             # the world loads in the worker thread; the window is already up
    world.toggle_pause()      # every command is a queued call of the worker's method of that name
    world.stop()              # shuts the worker down, quits and joins the thread

It re-emits the worker's signals from the GUI thread (its own thread), so every slot
connected to `world.<signal>` runs in the GUI thread, plain callables included.
Tests pass `autotick=False` and drive the worker with `world.tick()` (one queued tick).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QThread, Signal

from app.packets import WorldConfig
from app.worker import WorldWorker


def _queued(method):
    """A WorldThread command: a queued call of `method` (a WorldWorker command) in the worker's thread."""
    def send(self, *args) -> None:
        self._command.emit(method, args)
    send.__name__ = send.__qualname__ = method.__name__
    send.__doc__ = method.__doc__
    return send


class OwnedThread:
    """Start, and stop: ask the worker to shut down (a blocking call into its thread: it
    finalizes what it owns), then quit and join the thread. Idempotent. The owner sets
    `thread` (a QThread) and `_shutdown` (a signal connected to the worker's shutdown)."""

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.isRunning():
            self._shutdown.emit()
            self.thread.quit()
            self.thread.wait()


class WorldThread(OwnedThread, QObject):
    frame_ready = Signal(object)          # app.packets.FramePacket
    world_loaded = Signal(object)         # app.packets.WorldInfo
    session_started = Signal(object)      # app.packets.SessionInfo
    paused_changed = Signal(bool)
    steps_changed = Signal(int)
    recording_changed = Signal(object)    # app.packets.RecordingStatus, or None when stopped
    message = Signal(str, str)            # level, one line
    world_failed = Signal(str)            # no world opened at the start: the error
    _command = Signal(object, object)     # (a WorldWorker method, its arguments)
    _tick = Signal()
    _shutdown = Signal()

    def __init__(self, config: WorldConfig, input_state, clock=time.perf_counter, autotick: bool = True,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("reverie-world")
        self.worker = WorldWorker(config, input_state, clock=clock, autotick=autotick)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self._command.connect(self.worker.command)
        self._tick.connect(self.worker.tick)
        self._shutdown.connect(self.worker.shutdown, Qt.BlockingQueuedConnection)
        for name in ("frame_ready", "world_loaded", "session_started", "paused_changed", "steps_changed",
                     "recording_changed", "message", "world_failed"):
            getattr(self.worker, name).connect(getattr(self, name))     # queued into this thread


    def tick(self) -> None:
        self._tick.emit()

    # -- commands: each queues the WorldWorker method of the same name with its arguments --
    toggle_pause = _queued(WorldWorker.toggle_pause)
    set_paused = _queued(WorldWorker.set_paused)                  # (paused)
    reset = _queued(WorldWorker.reset)
    new_scene = _queued(WorldWorker.new_scene)                    # (seed name or path or None, rng seed or None)
    scrub = _queued(WorldWorker.scrub)                            # (held)
    seek = _queued(WorldWorker.seek)                              # (frame index)
    commit_rewind = _queued(WorldWorker.commit_rewind)
    rewind_by = _queued(WorldWorker.rewind_by)                    # (frames)
    set_steps = _queued(WorldWorker.set_steps)                    # (steps)
    set_backend = _queued(WorldWorker.set_backend)                # (backend choice)
    open_world = _queued(WorldWorker.open_world)                  # (world id or pack folder)
    start_recording = _queued(WorldWorker.start_recording)        # (path of the .mp4)
    stop_recording = _queued(WorldWorker.stop_recording)
