"""The scene being played, without Qt: its seed, its rewind timeline and its action log.

The world worker starts a new Scene for every new seed, backend or world, so a recording
never holds another scene's past. It runs in the worker's thread only.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np

from app.packets import FramePacket, MapState, SessionInfo
from app.recording import ActionLog
from model.play.timeline import Timeline

log = logging.getLogger(__name__)


class Scene:
    def __init__(self, world, session, seed, rng_seed: int):
        self.world, self.session, self.seed, self.rng_seed = world, session, seed, rng_seed
        self.timeline = Timeline(session)
        self.log = ActionLog()                        # every frame's action since the reset, and the events
        self.sampler = asdict(session.settings)       # as at the reset: what a recording replays with
        self.frame = self.timeline.reset(seed, rng_seed)

    @property
    def pack_seed(self) -> bool:
        """The seed is the pack's own (a recording names it; a file seed is copied beside it)."""
        return self.seed.path is not None and self.seed.path in self.world.pack.seed_paths()

    def info(self) -> SessionInfo:
        s = self.session
        return SessionInfo(self.world.id, self.seed.name, self.seed.path, self.pack_seed, self.rng_seed,
                           s.backend_name, s.steps, geometry=MapState.of(s) is not None)

    def packet(self, frame, kind: str, action=None, event_t=None, tick_ms: float = 0.0, index=None) -> FramePacket:
        s = self.session
        return FramePacket(frame=frame, index=s.frame_index if index is None else index,
                           earliest=self.timeline.earliest, latest=s.frame_index, kind=kind, action=action,
                           timings=s.timings if kind == "step" else None, steps=s.steps,
                           steps_used=s.last_steps_used, backend=s.backend_name, event_t=event_t, tick_ms=tick_ms,
                           geo=MapState.of(s))

    def reset(self) -> np.ndarray:
        self.log.event("reset")
        return self.timeline.reset(self.seed, self.rng_seed)

    def set_steps(self, steps: int) -> None:
        """Denoising steps from the next frame on, logged so that a replay changes them there too."""
        self.session.steps = steps
        self.log.event("steps", value=steps)

    def step(self, action: np.ndarray) -> np.ndarray:
        """One frame, logged once it succeeded; a step that raises is undone (`undo_failed_step`)."""
        frame = self.timeline.step(action)
        self.log.add(action)
        return frame

    def undo_failed_step(self) -> bool:
        """Put the session back exactly as it was before the step that raised; False if it cannot.

        The step may have written the ring buffer and drawn noise before failing; a rewind
        to the current frame re-steps from a snapshot, so what follows (and a recording's
        replay) is what it would have been without the fault."""
        try:
            self.timeline.rewind_to(self.session.frame_index)
            return True
        except Exception:  # the fault persists: the state is unknown
            log.exception("could not restore the session after a failed step")
            return False

    def end_scrub(self) -> np.ndarray | None:
        """Branch from the frame scrubbed to (logged as a rewind if it moved); None if not scrubbing."""
        before = self.session.frame_index
        frame = self.timeline.end_scrub()
        if frame is not None and self.session.frame_index != before:
            self.log.event("rewind", to=self.session.frame_index)
        return frame
