"""Spatial memory: poses, the recall of a keyframe into a new view, the budget, anchoring,
and exact snapshots inside a session."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.nets.geometry import CAMERA, pixel_grid
from model.nets.geonets import recall
from model.play.memory import (ANCHOR_RANGE, MIN_AGE, RECALL_MOVE, KeyframeMemory, advance_pose, pick_view,
                               relative_motion)
from model.play.runtime import open_world


def _colour(bearing):
    return torch.stack([torch.sin(9 * bearing), torch.cos(5 * bearing), bearing]) * 100 + 128


def test_relative_motion_undoes_advance_pose():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pose = np.array([*rng.uniform(-500, 500, 2), 41.0, rng.uniform(0, 360)])
        motion = np.array([rng.uniform(-10, 10), *rng.uniform(-20, 20, 2), rng.uniform(-2, 2)])
        np.testing.assert_allclose(relative_motion(pose, advance_pose(pose, motion)), motion, atol=1e-4)


def test_a_keyframe_recalled_from_a_known_pose_matches_the_projection():
    """A keyframe of a synthetic scene (colour by bearing), seen again after turning 90 degrees
    away and 80 back: the recalled view shows bearing b - 10 degrees at bearing b."""
    u, _ = pixel_grid(96, 128)
    frame = _colour(torch.atan((u - CAMERA.cx) / CAMERA.fx))            # (3, 96, 128)
    memory = KeyframeMemory(8, (96, 128))
    start = np.array([10.0, 20.0, 41.0, 0.0])
    trust = np.ones((96, 128), np.uint8)
    memory.consider(frame.permute(1, 2, 0).numpy().astype(np.uint8), trust, np.full((96, 128), 200.0), start, 0)
    assert memory.recall(advance_pose(start, [90.0, 0, 0, 0]), 40) is None       # turned away: nothing
    back = advance_pose(start, [10.0, 0, 0, 0])
    image, kept_trust, depth, seen, motion = memory.recall(back, 40)
    np.testing.assert_array_equal(kept_trust, trust)
    np.testing.assert_allclose(motion, [10.0, 0, 0, 0], atol=1e-4)
    warped, valid = recall(torch.from_numpy(image).permute(2, 0, 1)[None].float(),
                           torch.from_numpy(depth)[None], torch.from_numpy(motion)[None])
    expected = _colour(torch.atan((u - CAMERA.cx) / CAMERA.fx) - math.radians(10.0))
    inside = valid[0, 0].bool()
    assert inside[30:66].float().mean() > 0.8
    assert (warped[0] - expected).abs()[:, inside].mean() < 3.0              # uint8 rounding + nearest pixel


def test_recent_and_far_views_are_not_recalled():
    poses = np.array([[0.0, 0, 41, 0], [500.0, 0, 41, 0], [0.0, 0, 41, 120]])
    here = np.array([5.0, 0, 41, 5])
    assert pick_view(poses, np.array([100, 100, 100]), here) == 0
    assert pick_view(poses, np.array([MIN_AGE - 1, 100, 100]), here) is None     # the warp's job
    assert pick_view(poses[1:], np.array([100, 100]), here) is None              # too far, turned away


def test_memory_stays_within_its_budget_and_evicts_the_least_used():
    memory = KeyframeMemory(16, (96, 128))
    frame, depth = np.zeros((96, 128, 3), np.uint8), np.ones((96, 128), np.float32)
    trust = np.ones((96, 128), np.uint8)
    for i in range(3000):                                                     # a new place every frame
        memory.consider(frame, trust, depth, np.array([i * 100.0, 0, 41, 0]), i)
    assert memory.count == 16 and len(memory.images) == 16
    assert sum(a.nbytes for image in memory.images for a in image) <= memory.budget_bytes < 3 * 2**20
    assert sorted(memory.born) == list(range(2984, 3000))                     # the newest stay


def test_far_travel_moves_the_anchor_and_keeps_precision():
    memory = KeyframeMemory(8, (96, 128))
    frame, depth = np.zeros((96, 128, 3), np.uint8), np.ones((96, 128), np.float32)
    far = np.array([1e9 + 0.25, -3e8, 41.0, 30.0])
    memory.consider(frame, np.ones((96, 128), np.uint8), depth, far, 0)
    assert np.abs(memory.poses[0, :2]).max() < ANCHOR_RANGE
    *_, motion = memory.recall(far + np.array([0.5, 0.0, 0.0, 1.0]), 100)
    np.testing.assert_allclose(motion, [1.0, 0.5 * math.cos(math.radians(30)), 0.5 * math.sin(math.radians(30)), 0],
                               atol=1e-6)


def test_a_session_with_memory_rewinds_exactly_and_stays_bounded(geo_pack):
    world = open_world(str(geo_pack))
    session = world.session(backend="cpu", steps=1)
    session.reset(world.load_seed("alpha"), rng_seed=1)
    turn = np.zeros(8, np.uint8)
    turn[4] = 1
    rng = np.random.default_rng(2)
    for i in range(300):
        session.step(turn if i % 50 < 40 else rng.integers(0, 2, 8).astype(np.uint8))
    snap = session.snapshot()
    after = [session.step(turn) for _ in range(30)]
    session.restore(snap)
    np.testing.assert_array_equal(np.stack([session.step(turn) for _ in range(30)]), np.stack(after))
    assert 0 < session.memory.count <= session.memory.capacity


@pytest.mark.parametrize("memory", [True, False])
def test_memory_can_be_switched_off(geo_pack, memory):
    world = open_world(str(geo_pack))
    session = world.session(backend="cpu", steps=1, memory=memory)
    session.reset(world.load_seed("alpha"), rng_seed=1)
    for _ in range(20):
        session.step(np.zeros(8, np.uint8))
    assert (session.memory.count > 0) == memory


def test_a_keyframe_knows_how_far_the_camera_strayed_from_it():
    """Come back to a keyframe and recall says how far away the camera went in between (the
    session shows a place come back to as it was, model.play.geo_session); a keyframe stood
    at all along says it never strayed, and a snapshot keeps the count."""
    memory = KeyframeMemory(8, (96, 128))
    start = np.array([0.0, 0.0, 41.0, 0.0])
    memory.consider(np.zeros((96, 128, 3), np.uint8), np.ones((96, 128), np.uint8), np.full((96, 128), 200.0), start, 0)
    memory.recall(start, MIN_AGE)
    assert memory.recalled_strayed == 0.0
    snap = memory.snapshot()
    memory.recall(advance_pose(start, [0.0, 300.0, 0, 0]), MIN_AGE + 1)      # too far to recall, still counted
    memory.recall(advance_pose(start, [0.0, 10.0, 0, 0]), MIN_AGE + 2)
    assert memory.recalled_strayed == pytest.approx(300.0 / RECALL_MOVE)
    memory.restore(snap)
    memory.recall(start, MIN_AGE + 3)
    assert memory.recalled_strayed == 0.0
