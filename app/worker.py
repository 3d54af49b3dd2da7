"""The world worker: a QObject on its own QThread that owns the world session.

It alone calls into model.play.runtime, through the scene it plays (app/scene.py, no Qt:
seed, rewind timeline, action log). A precise single-shot QTimer is re-armed after every
tick against absolute due times on a monotonic clock, so ticks do not drift; a slow step
moves the next due time up to "now" instead of queueing missed ticks, so it never causes
a burst of catch-up steps. Frames leave as signals; commands
arrive as one queued signal (`command(method, args)`, a method of this class); errors
leave as `message`.
"""
from __future__ import annotations

import functools
import logging
import secrets
import time

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot

from app.live_recording import LiveRecording
from app.packets import WorldConfig, WorldInfo
from app.scene import Scene
from model.play.errors import UserError
from model.play.world import FPS

log = logging.getLogger(__name__)
PERIOD_S = 1.0 / FPS


def next_due(due: float, now: float, period: float = PERIOD_S) -> float:
    """When the next tick is due: one period after the last due time, never in the past."""
    return max(due + period, now)


def _guarded(method):
    """Worker slots never raise: a UserError becomes a message, anything else a message and a pause."""
    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except UserError as exc:
            self.last_error = str(exc)
        except Exception as exc:  # the thread must survive any bug in a step
            log.exception("world worker error")
            self._paused = True
            self.paused_changed.emit(True)
            self.last_error = f"Engine error ({type(exc).__name__}: {exc}); paused"
        self.message.emit("error", self.last_error)
    return wrapper


class WorldWorker(QObject):
    frame_ready = Signal(object)          # FramePacket
    world_loaded = Signal(object)         # WorldInfo
    session_started = Signal(object)      # SessionInfo
    paused_changed = Signal(bool)
    steps_changed = Signal(int)
    recording_changed = Signal(object)    # RecordingStatus (active) or None (stopped)
    message = Signal(str, str)            # level ("error" / "info"), one line
    world_failed = Signal(str)            # no world could be opened at the start: why

    def __init__(self, config: WorldConfig, input_state, clock=time.perf_counter, autotick: bool = True):
        super().__init__()
        self.last_error = ""                  # the last error message sent
        self.config, self.input, self._clock, self._autotick = config, input_state, clock, autotick
        self._timer: QTimer | None = None
        self._due = 0.0
        self._closed = False
        self._paused = False
        self._world = self._session = None
        self._scene: Scene | None = None
        self._recording = LiveRecording(self.message.emit, self.recording_changed.emit, config.audio_in_recordings)

    # -- lifecycle (worker thread) ------------------------------------------------------
    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.tick)
        if self._open(self.config.world, self.config.backend, self.config.steps):
            self._first_scene()
        else:
            self.world_failed.emit(self.last_error)     # said where the frame would be
        if self.config.record and self._session is not None:
            self.start_recording(self.config.record)
        self._due = self._clock()
        if self._autotick:
            self._timer.start(0)

    @_guarded
    def _open(self, world_id, backend: str, steps: int | None) -> bool:
        """Load a world pack and make a session; on failure (a message) the old world stays."""
        # Imported here: ONNX Runtime loads in this thread, after the window is up.
        from model.play.runtime import open_world
        world = open_world(world_id)
        session = self._new_session(world, backend, steps)
        self._stop_recording("world changed")
        self._world, self._session, self._scene = world, session, None
        seeds = tuple((p.stem, p) for p in world.pack.seed_paths())
        self.world_loaded.emit(WorldInfo(world.id, world.pack.title, world.pack.root, seeds))
        return True

    def _new_session(self, world, backend: str, steps: int | None):
        """A session on `backend`; a GPU backend that cannot start falls back to the CPU, saying so."""
        sampler = {"steps": steps} if steps else {}
        try:
            return world.session(backend=backend, **sampler)
        except UserError as exc:
            if backend in ("auto", "cpu"):             # already the CPU: nothing to fall back to
                raise
            session = world.session(backend="cpu", **sampler)
            self.message.emit("error", f"{exc}: running on the CPU instead")
            return session

    @_guarded
    def _first_scene(self) -> None:
        cfg = self.config
        for seed, quiet in ((cfg.seed, False), (cfg.fallback_seed, True)):
            if seed is not None:
                try:
                    return self._start_scene(self._world.load_seed(seed), cfg.rng_seed)
                except UserError as exc:
                    if not quiet:
                        self.message.emit("error", str(exc))
        if not self._world.seed_names():
            self.message.emit("info", f"{self._world.pack.title} has no scene seeds yet: "
                                      "open an image or drop one on the window to start")
            return
        self._guarded_scene(None, cfg.rng_seed)

    @_guarded
    def _guarded_scene(self, seed_ref, rng_seed) -> None:
        self._start_scene(self._world.load_seed(seed_ref), rng_seed)

    @Slot()
    def shutdown(self) -> None:
        """Called blocking from the GUI thread before it quits and joins this thread."""
        self._closed = True
        if self._timer is not None:
            self._timer.stop()
        self._stop_recording(None)
        self._session = self._scene = None
        self.moveToThread(QCoreApplication.instance().thread())

    @Slot(object, object)
    def command(self, method, args: tuple) -> None:
        """Run `method` (one of this class's commands, sent by WorldThread) in this thread."""
        if not self._closed:
            _guarded(method)(self, *args)

    # -- the tick -----------------------------------------------------------------------
    @Slot()
    def tick(self) -> None:
        if self._closed:
            return
        try:
            self._tick_body()
        finally:
            if self._autotick and not self._closed:
                now = self._clock()
                self._due = next_due(self._due, now)
                self._timer.start(max(0, round((self._due - now) * 1000)))

    @_guarded
    def _tick_body(self) -> None:
        if self._scene is None:
            return
        if self._scene.timeline.scrub_index is not None:
            self._emit_scrub(self._scene.timeline.scrub_tick())
            return
        if self._paused:
            self.input.take()                         # input seen while paused is not latency
            return
        t0 = time.perf_counter()
        sample = self.input.take()
        try:
            frame = self._scene.step(sample.action)
        except Exception:
            if not self._scene.undo_failed_step():     # the state is unknown: the recording ends here
                self._stop_recording("the model failed")
            raise
        if self._recording.active:
            self._recording.add(frame, sample.action)
        self._emit(frame, "step", sample.action, sample.event_t, (time.perf_counter() - t0) * 1e3)

    def _emit(self, frame, kind: str, action=None, event_t=None, tick_ms: float = 0.0, index=None) -> None:
        self.frame_ready.emit(self._scene.packet(frame, kind, action, event_t, tick_ms, index))

    # -- scenes -------------------------------------------------------------------------
    def _start_scene(self, seed, rng_seed: int | None) -> None:
        rng = secrets.randbelow(2 ** 31) if rng_seed is None else int(rng_seed)
        if seed.note:                                   # a tiny seed, stretched
            self.message.emit("info", seed.note)
        self._stop_recording("new scene")
        self._scene = Scene(self._world, self._session, seed, rng)
        self.session_started.emit(self._scene.info())
        self._emit(self._scene.frame, "reset")

    # -- commands (sent by WorldThread as method references) -------------------------
    def new_scene(self, seed_ref: str | None, rng_seed: int | None) -> None:
        if self._world is None:
            raise UserError("no world is loaded")
        self._start_scene(self._world.load_seed(seed_ref), rng_seed)   # a bad seed keeps the old scene

    def reset(self) -> None:
        if self._scene is not None:
            self._emit(self._scene.reset(), "reset")

    def open_world(self, world_id: str) -> None:
        # A session's backend name is also the choice that opens it again (cuda-onnx included).
        backend = self._session.backend_name if self._session is not None else self.config.backend
        if self._open(world_id, backend, None) and self._world.seed_names():
            self._start_scene(self._world.load_seed(None), self.config.rng_seed)

    def set_backend(self, backend: str) -> None:
        if self._world is None:
            return
        session = self._new_session(self._world, backend, self._session.steps)   # UserError: keep the old
        self._session = session
        if self._scene is not None:
            self._start_scene(self._scene.seed, self._scene.rng_seed)
            self.message.emit("info", f"Backend {session.backend_name}: scene restarted from its seed")

    def set_steps(self, steps: int) -> None:
        steps = int(steps)
        if self._session is None or steps == self._session.steps:
            return
        if self._scene is not None:
            self._scene.set_steps(steps)
        else:
            self._session.steps = steps
        self.steps_changed.emit(steps)

    def set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)
        self.paused_changed.emit(self._paused)

    def toggle_pause(self) -> None:
        self.set_paused(not self._paused)

    # -- rewind (the scrub state is the timeline's) -------------------------------------
    def scrub(self, held: bool) -> None:
        """Rewind key down: time runs backwards each tick; up: branch a new future there."""
        if self._scene is None:
            return
        timeline = self._scene.timeline
        timeline.scrub_held = bool(held)
        if not held:
            self.commit_rewind()
        elif timeline.scrub_index is None:
            self._emit_scrub(timeline.scrub_to(self._session.frame_index))

    def seek(self, index: int) -> None:
        """Timeline slider dragged: show a recent frame without stepping the model."""
        if self._scene is not None:
            self._emit_scrub(self._scene.timeline.scrub_to(int(index)))

    def rewind_by(self, frames: int) -> None:
        if self._scene is not None:
            self._scene.timeline.scrub_back(int(frames))
            self.commit_rewind()

    def commit_rewind(self) -> None:
        frame = self._scene.end_scrub() if self._scene is not None else None
        if frame is not None:
            self._emit(frame, "rewind")

    def _emit_scrub(self, shown) -> None:
        if shown is not None:
            index, frame = shown
            self._emit(frame, "scrub", index=index)

    # -- recording ----------------------------------------------------------------------
    def start_recording(self, path: str) -> None:
        if self._scene is None:
            self.message.emit("error", "Nothing to record yet: start a scene first")
            return
        self._recording.start(path, self._scene)

    def stop_recording(self) -> None:
        self._stop_recording(None)

    def _stop_recording(self, reason: str | None) -> None:
        self._recording.stop(reason, closing=self._closed)
