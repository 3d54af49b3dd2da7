"""Rewind and scrubbing, without Qt: a deterministic stand-in session keeps these fast."""
from dataclasses import dataclass

import numpy as np
import pytest

from model.play.timeline import SCRUB_FRAMES_PER_TICK, Timeline


@dataclass(frozen=True)
class Snap:
    frame_index: int
    state: int
    steps: int


class StandInSession:
    """Each frame is a function of the rng seed, every action so far and the steps used."""

    def __init__(self):
        self.frame_index, self.state, self.steps = -1, 0, 2

    @property
    def frame(self) -> np.ndarray:
        return np.array([self.frame_index, self.state])

    def reset(self, seed, rng_seed: int) -> np.ndarray:
        self.frame_index, self.state = len(seed) - 1, rng_seed
        return self.frame

    def step(self, action) -> np.ndarray:
        self.state = (self.state * 31 + int(np.asarray(action) @ (1 << np.arange(8))) * self.steps) % 1_000_003
        self.frame_index += 1
        return self.frame

    def snapshot(self) -> Snap:
        return Snap(self.frame_index, self.state, self.steps)

    def restore(self, snap: Snap) -> np.ndarray:
        self.frame_index, self.state = snap.frame_index, snap.state
        return self.frame


ACTIONS = [np.array([(i >> b) & 1 for b in range(8)], np.uint8) for i in range(40)]


@pytest.fixture
def played():
    """A timeline 40 steps into a scene whose seed has 3 frames (so it starts at frame 2)."""
    timeline = Timeline(StandInSession(), seconds=1.0, every=5)       # keeps 25 frames back
    timeline.reset(seed=[None] * 3, rng_seed=7)
    frames = [timeline.step(a) for a in ACTIONS]
    return timeline, frames


def test_reset_forgets_the_past_and_any_scrub(played):
    timeline, _ = played
    timeline.scrub_to(30)
    timeline.scrub_held = True
    frame = timeline.reset(seed=[None], rng_seed=1)
    assert (timeline.scrub_index, timeline.scrub_held) == (None, False)
    assert timeline.earliest == timeline.session.frame_index == 0
    assert np.array_equal(frame, timeline.session.frame)


def test_scrub_shows_kept_frames_clamped_to_what_rewind_reaches(played):
    timeline, frames = played
    latest = timeline.session.frame_index
    assert timeline.earliest == latest - 25
    index, frame = timeline.scrub_to(latest - 10)
    assert index == latest - 10 and np.array_equal(frame, frames[-11])
    assert timeline.scrub_to(-100)[0] == timeline.earliest
    assert timeline.scrub_to(latest + 9)[0] == latest
    assert timeline.session.frame_index == latest            # scrubbing never steps the model


def test_holding_scrub_runs_backwards_and_stops_at_the_earliest(played):
    timeline, _ = played
    latest = timeline.session.frame_index
    timeline.scrub_to(latest)
    assert timeline.scrub_tick() is None                     # not held: the frame stays
    timeline.scrub_held = True
    assert timeline.scrub_tick()[0] == latest - SCRUB_FRAMES_PER_TICK
    for _ in range(30):
        timeline.scrub_tick()
    assert timeline.scrub_index == timeline.earliest


def test_end_scrub_branches_from_the_frame_shown_exactly(played):
    timeline, frames = played
    latest = timeline.session.frame_index
    assert timeline.end_scrub() is None                      # not scrubbing: nothing to do
    timeline.scrub_to(latest - 12)
    frame = timeline.end_scrub()
    assert np.array_equal(frame, frames[-13]) and timeline.session.frame_index == latest - 12
    assert timeline.scrub_index is None
    again = [timeline.step(a) for a in ACTIONS[-12:]]       # the same actions give the same future
    assert all(np.array_equal(a, b) for a, b in zip(again, frames[-12:]))


def test_scrub_back_aims_a_rewind_by_frames_clamped(played):
    timeline, _ = played
    latest = timeline.session.frame_index
    timeline.scrub_back(5)
    assert timeline.scrub_index == latest - 5
    timeline.scrub_back(10_000)
    assert timeline.scrub_index == timeline.earliest
    timeline.end_scrub()
    assert timeline.session.frame_index == latest - 25
