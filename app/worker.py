"""The engine: a worker QObject on its own QThread that owns the world session.

It alone calls into model.play.runtime / model.timeline. A precise single-shot QTimer is
re-armed after every tick against absolute due times on a monotonic clock, so ticks do
not drift; a slow step moves the next due time up to "now" instead of queueing missed
ticks, so it never causes a burst of catch-up steps. Frames leave as signals; commands
arrive as one queued signal (`command(name, args)`); errors leave as `message`.
"""
from __future__ import annotations

import functools
import logging
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot

from app.audio import FRAME_SAMPLES, RATE, Synth
from app.recording import ActionLog, Recorder, RecordingError, SeedRef
from model.play.errors import UserError
from model.play.world import FPS

log = logging.getLogger(__name__)
PERIOD_S = 1.0 / FPS
SCRUB_FRAMES_PER_TICK = 2           # holding rewind runs time backwards at 2x


def next_due(due: float, now: float, period: float = PERIOD_S) -> float:
    """When the next tick is due: one period after the last due time, never in the past."""
    return max(due + period, now)


@dataclass(frozen=True)
class EngineConfig:
    world: str | None = None
    seed: str | None = None              # asked for (command line): an error if it fails
    fallback_seed: str | None = None     # remembered (settings): quietly skipped if it fails
    backend: str = "auto"
    steps: int | None = None
    rng_seed: int | None = None
    record: str | None = None            # start recording to this file at once
    audio_in_recordings: bool = True


@dataclass(frozen=True)
class FramePacket:
    frame: object                        # (H, W, 3) uint8
    index: int                           # the session's frame number
    earliest: int                        # oldest frame rewind can reach
    latest: int                          # newest frame (differs from index while scrubbing)
    kind: str                            # "step", "reset", "scrub" or "rewind"
    action: object = None
    timings: object = None               # model.runtime.StepTimings of the step
    steps: int = 0
    steps_used: int = 0
    backend: str = ""
    event_t: float | None = None         # earliest input event this frame is the first to see
    tick_ms: float = 0.0


@dataclass(frozen=True)
class WorldInfo:
    id: str
    title: str
    root: Path
    seeds: tuple[tuple[str, Path], ...]  # (name, .npz path) of the pack's scene seeds


@dataclass(frozen=True)
class SessionInfo:
    world_id: str
    seed_name: str
    seed_path: Path | None
    pack_seed: bool                      # True: the pack's own (remembered by name)
    rng_seed: int
    backend: str
    steps: int


@dataclass(frozen=True)
class RecordingStatus:
    path: Path
    seconds: float                       # recorded so far (sent once a second)


def _guarded(method):
    """Worker slots never raise: a UserError becomes a message, anything else a message and a pause."""
    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except UserError as exc:
            self.message.emit("error", str(exc))
        except Exception as exc:  # the thread must survive any bug in a step
            log.exception("engine error")
            self._paused = True
            self.paused_changed.emit(True)
            self.message.emit("error", f"Engine error ({type(exc).__name__}: {exc}); paused")
    return wrapper


class EngineWorker(QObject):
    frame_ready = Signal(object)          # FramePacket
    world_loaded = Signal(object)         # WorldInfo
    session_started = Signal(object)      # SessionInfo
    paused_changed = Signal(bool)
    steps_changed = Signal(int)
    recording_changed = Signal(object)    # RecordingStatus (active) or None (stopped)
    message = Signal(str, str)            # level ("error" / "info"), one line

    def __init__(self, config: EngineConfig, input_state, clock=time.perf_counter, autotick: bool = True):
        super().__init__()
        self.config, self.input, self._clock, self._autotick = config, input_state, clock, autotick
        self._timer: QTimer | None = None
        self._due = 0.0
        self._closed = False
        self._paused = False
        self._world = self._session = self._timeline = self._seed = None
        self._rng_seed = 0
        self._sampler_at_reset: dict = {}
        self._log = ActionLog()
        self._recorder: Recorder | None = None
        self._synth: Synth | None = None
        self._scrub: int | None = None   # frame shown while scrubbing; None: playing
        self._scrub_held = False

    # -- lifecycle (worker thread) ------------------------------------------------------
    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.tick)
        self._open(self.config.world, self.config.backend, self.config.steps)
        if self._world is not None:
            self._first_scene()
        if self.config.record and self._session is not None:
            self.do_start_recording(self.config.record)
        self._due = self._clock()
        if self._autotick:
            self._timer.start(0)

    @_guarded
    def _open(self, world_id, backend: str, steps: int | None) -> bool:
        """Load a world pack and make a session; on failure (a message) the old world stays."""
        from model.play.runtime import open_world
        world = open_world(world_id)
        session = self._new_session(world, backend, steps)
        self._stop_recording("world changed")
        self._world, self._session, self._timeline, self._seed = world, session, None, None
        seeds = tuple((p.stem, p) for p in world.pack.seed_paths())
        self.world_loaded.emit(WorldInfo(world.id, world.pack.title, world.pack.root, seeds))
        return True

    def _new_session(self, world, backend: str, steps: int | None):
        """A session on `backend`; a GPU backend that cannot start falls back to the CPU, saying so."""
        sampler = {"steps": steps} if steps else {}
        try:
            return world.session(backend=backend, **sampler)
        except UserError as exc:
            if backend not in ("cuda", "torch"):
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
        self._session = self._timeline = None
        self.moveToThread(QCoreApplication.instance().thread())

    @Slot(str, object)
    def command(self, name: str, args: tuple) -> None:
        if not self._closed:
            _guarded(getattr(type(self), "do_" + name))(self, *args)

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
        if self._timeline is None:
            return
        if self._scrub is not None:
            if self._scrub_held:
                self._show_scrub(self._scrub - SCRUB_FRAMES_PER_TICK)
            return
        if self._paused:
            self.input.take()                         # input seen while paused is not latency
            return
        t0 = time.perf_counter()
        sample = self.input.take()
        try:
            frame = self._timeline.step(sample.action)
        except Exception:
            self._restore_after_failed_step()
            raise
        self._log.add(sample.action)
        if self._recorder is not None:
            self._record(frame, sample.action)
        self._emit(frame, "step", sample.action, sample.event_t, (time.perf_counter() - t0) * 1e3)

    def _restore_after_failed_step(self) -> None:
        """Put the session back exactly as it was before the step that raised.

        The step may have written the ring buffer and drawn noise before failing; a rewind
        to the current frame re-steps from a snapshot, so what follows (and a recording's
        replay) is what it would have been without the fault."""
        try:
            self._timeline.rewind_to(self._session.frame_index)
        except Exception:  # the fault persists: the state is unknown, so the recording ends here
            log.exception("could not restore the session after a failed step")
            self._stop_recording("the model failed")

    def _emit(self, frame, kind: str, action=None, event_t=None, tick_ms: float = 0.0, index=None) -> None:
        s = self._session
        self.frame_ready.emit(FramePacket(
            frame=frame, index=s.frame_index if index is None else index, earliest=self._timeline.earliest,
            latest=s.frame_index, kind=kind, action=action, timings=s.timings if kind == "step" else None,
            steps=s.steps, steps_used=s.last_steps_used, backend=s.backend_name, event_t=event_t,
            tick_ms=tick_ms))

    # -- scenes -------------------------------------------------------------------------
    def _start_scene(self, seed, rng_seed: int | None) -> None:
        rng = secrets.randbelow(2 ** 31) if rng_seed is None else int(rng_seed)
        self._stop_recording("new scene")
        from model.play.timeline import Timeline
        frame = self._session.reset(seed, rng)
        self._timeline = Timeline(self._session)
        self._timeline.start()
        self._seed, self._rng_seed, self._log = seed, rng, ActionLog()
        self._sampler_at_reset = asdict(self._session.settings)
        self._scrub = None
        self.session_started.emit(SessionInfo(self._world.id, seed.name, seed.path, self._is_pack_seed(seed),
                                              rng, self._session.backend_name, self._session.steps))
        self._emit(frame, "reset")

    def _is_pack_seed(self, seed) -> bool:
        return seed.path is not None and seed.path in self._world.pack.seed_paths()

    def do_new_scene(self, seed_ref: str | None, rng_seed: int | None) -> None:
        if self._world is None:
            raise UserError("no world is loaded")
        self._start_scene(self._world.load_seed(seed_ref), rng_seed)   # a bad seed keeps the old scene

    def do_reset(self) -> None:
        if self._seed is None:
            return
        self._scrub = None
        frame = self._session.reset(self._seed, self._rng_seed)
        self._timeline.start()
        self._log.event("reset")
        self._emit(frame, "reset")

    def do_open_world(self, world_id: str) -> None:
        backend = self._session.backend_name if self._session is not None else self.config.backend
        opened = self._open(world_id, "auto" if backend not in ("cpu", "cuda", "torch") else backend, None)
        if opened and self._world.seed_names():
            self._start_scene(self._world.load_seed(None), self.config.rng_seed)

    def do_set_backend(self, backend: str) -> None:
        if self._world is None:
            return
        session = self._new_session(self._world, backend, self._session.steps)   # UserError: keep the old
        self._session = session
        if self._seed is not None:
            self._start_scene(self._seed, self._rng_seed)
            self.message.emit("info", f"Backend {session.backend_name}: scene restarted from its seed")

    def do_set_steps(self, steps: int) -> None:
        if self._session is None or steps == self._session.steps:
            return
        self._session.steps = int(steps)
        self._log.event("steps", value=int(steps))
        self.steps_changed.emit(int(steps))

    def do_set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)
        self.paused_changed.emit(self._paused)

    def do_toggle_pause(self) -> None:
        self.do_set_paused(not self._paused)

    # -- rewind -------------------------------------------------------------------------
    def do_scrub(self, held: bool) -> None:
        """Rewind key down: time runs backwards each tick; up: branch a new future there."""
        if self._timeline is None:
            return
        self._scrub_held = bool(held)
        if held and self._scrub is None:
            self._show_scrub(self._session.frame_index)
        elif not held:
            self.do_commit_rewind()

    def do_seek(self, index: int) -> None:
        """Timeline slider dragged: show a recent frame without stepping the model."""
        if self._timeline is not None:
            self._show_scrub(int(index))

    def do_rewind_by(self, frames: int) -> None:
        if self._timeline is not None:
            self._scrub = self._clamped(self._session.frame_index - int(frames))
            self.do_commit_rewind()

    def _clamped(self, index: int) -> int:
        return min(max(index, self._timeline.earliest), self._session.frame_index)

    def _show_scrub(self, index: int) -> None:
        index = self._clamped(index)
        frame = self._timeline.frame_at(index)
        if frame is not None:
            self._scrub = index
            self._emit(frame, "scrub", index=index)

    def do_commit_rewind(self) -> None:
        target, self._scrub, self._scrub_held = self._scrub, None, False
        if target is None or self._timeline is None:
            return
        if target != self._session.frame_index:
            frame = self._timeline.rewind_to(target)
            self._log.event("rewind", to=self._session.frame_index)
        else:
            frame = self._session.frame
        self._emit(frame, "rewind")

    # -- recording ----------------------------------------------------------------------
    def do_start_recording(self, path: str) -> None:
        if self._recorder is not None or self._seed is None:
            if self._seed is None:
                self.message.emit("error", "Nothing to record yet: start a scene first")
            return
        seed = self._seed
        ref = SeedRef(name=seed.path.stem) if self._is_pack_seed(seed) else SeedRef(path=seed.path, sha256=seed.sha256)
        try:
            self._recorder = Recorder(Path(path), self._log, self._world_ref(), self._world.pack.model_hashes(),
                                      ref, self._rng_seed, self._sampler_at_reset, self._session.backend_name,
                                      audio_rate=RATE if self.config.audio_in_recordings else None)
        except RecordingError as exc:
            self.message.emit("error", str(exc))
            self.recording_changed.emit(None)
            return
        self._synth = Synth()
        self.recording_changed.emit(RecordingStatus(self._recorder.path, self._recorder.seconds))

    def do_stop_recording(self) -> None:
        self._stop_recording(None)

    def _world_ref(self) -> str:
        """The world id, or the pack's folder when the id alone would not find it again."""
        from model.play.pack import available_worlds
        root = available_worlds().get(self._world.id)
        same = root is not None and Path(root).resolve() == Path(self._world.pack.root).resolve()
        return self._world.id if same else str(Path(self._world.pack.root).resolve())

    def _record(self, frame, action) -> None:
        audio = self._synth.render(FRAME_SAMPLES, action) if self.config.audio_in_recordings else None
        try:
            self._recorder.add(frame, audio)
        except RecordingError as exc:
            self._recorder = None
            self.message.emit("error", str(exc))
            self.recording_changed.emit(None)
            return
        if self._recorder.frames % FPS == 0:
            self.recording_changed.emit(RecordingStatus(self._recorder.path, self._recorder.seconds))

    def _stop_recording(self, reason: str | None) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            summary = recorder.stop()
            self.message.emit("info", f"{summary} (stopped: {reason})" if reason else summary)
            if self._closed:
                print(f"reverie: {summary}", file=sys.stderr)
        except RecordingError as exc:
            self.message.emit("error", str(exc))
        self.recording_changed.emit(None)
