"""Rewind: go back up to N seconds and branch a new future from there.

Snapshots of the session are kept once a second (each is a copy of the ring buffer),
and the actions since the oldest one. Rewinding to any frame restores the snapshot at
or before it and re-steps the logged actions: sessions are deterministic, so the state
reached is exactly the one the player saw.

Scrubbing (the rewind key held, or the timeline slider dragged) shows kept frames without
stepping the model; letting go rewinds to the frame shown and branches from there.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from model.play.world import FPS

SCRUB_FRAMES_PER_TICK = 2           # holding rewind runs time backwards at 2x


class Timeline:
    def __init__(self, session, seconds: float = 10.0, every: int = FPS):
        self.session = session
        self.every = every
        self.horizon = int(seconds * FPS)
        self._snapshots: deque = deque()         # snapshots, oldest first
        self._steps: deque = deque()             # (frame_index_before, action, steps)
        self._frames: deque = deque(maxlen=self.horizon + 1)   # (frame_index, frame) for scrubbing
        self.scrub_index: int | None = None      # the frame shown while scrubbing; None: playing
        self.scrub_held = False                  # the rewind key is down: scrub back every tick

    def reset(self, seed, rng_seed: int) -> np.ndarray:
        """Start the session from a scene seed, with nothing before it to rewind to."""
        frame = self.session.reset(seed, rng_seed)
        self._snapshots.clear()
        self._steps.clear()
        self._frames.clear()
        self._snapshots.append(self.session.snapshot())
        self._frames.append((self.session.frame_index, frame))
        self.scrub_index, self.scrub_held = None, False
        return frame

    @property
    def earliest(self) -> int:
        return max(self._snapshots[0].frame_index, self.session.frame_index - self.horizon)

    def step(self, action: np.ndarray) -> np.ndarray:
        before, steps = self.session.frame_index, self.session.steps
        frame = self.session.step(action)
        # Logged only once it succeeded: a step that raised must not be replayed by a rewind.
        self._steps.append((before, np.asarray(action, np.uint8).copy(), steps))
        self._frames.append((self.session.frame_index, frame))
        if self.session.frame_index % self.every == 0:
            self._snapshots.append(self.session.snapshot())
            self._trim()
        return frame

    def _trim(self) -> None:
        oldest_wanted = self.session.frame_index - self.horizon
        while len(self._snapshots) > 1 and self._snapshots[1].frame_index <= oldest_wanted:
            self._snapshots.popleft()
        while self._steps and self._steps[0][0] < self._snapshots[0].frame_index:
            self._steps.popleft()

    def frame_at(self, frame_index: int) -> np.ndarray | None:
        """A recently shown frame, for scrubbing without stepping the model."""
        for index, frame in self._frames:
            if index == frame_index:
                return frame
        return None

    def clamp(self, frame_index: int) -> int:
        """The nearest frame a rewind can reach."""
        return min(max(frame_index, self.earliest), self.session.frame_index)

    def rewind_to(self, frame_index: int) -> np.ndarray:
        """Restore the exact state at `frame_index` (clamped to what is kept)."""
        target = self.clamp(frame_index)
        snap = max((s for s in self._snapshots if s.frame_index <= target), key=lambda s: s.frame_index)
        replay = [(a, st) for (i, a, st) in self._steps if snap.frame_index <= i < target]
        self.session.restore(snap)
        steps_now = self.session.steps
        for action, steps in replay:
            self.session.steps = steps
            self.session.step(action)
        self.session.steps = steps_now
        # Forget the abandoned future.
        while self._snapshots and self._snapshots[-1].frame_index > target:
            self._snapshots.pop()
        while self._steps and self._steps[-1][0] >= target:
            self._steps.pop()
        while self._frames and self._frames[-1][0] > target:
            self._frames.pop()
        return self.session.frame

    # -- scrubbing ----------------------------------------------------------------------
    def scrub_to(self, frame_index: int) -> tuple[int, np.ndarray] | None:
        """Show the kept frame nearest `frame_index`: (its index, the frame), or None if not kept."""
        index = self.clamp(frame_index)
        frame = self.frame_at(index)
        if frame is None:
            return None
        self.scrub_index = index
        return index, frame

    def scrub_tick(self) -> tuple[int, np.ndarray] | None:
        """While the rewind key is held, run time backwards by one tick's worth of frames."""
        if self.scrub_index is None or not self.scrub_held:
            return None
        return self.scrub_to(self.scrub_index - SCRUB_FRAMES_PER_TICK)

    def scrub_back(self, frames: int) -> None:
        """Aim the next end_scrub() `frames` frames back (clamped), shown or not."""
        self.scrub_index = self.clamp(self.session.frame_index - frames)

    def end_scrub(self) -> np.ndarray | None:
        """Branch a new future at the frame scrubbed to: its frame, or None if not scrubbing."""
        target, self.scrub_index, self.scrub_held = self.scrub_index, None, False
        if target is None:
            return None
        return self.rewind_to(target) if target != self.session.frame_index else self.session.frame
