"""The camera model: a pure yaw against the closed form, and the engine's own depth and pose
reprojecting frame t onto frame t+1 better than copying frame t."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.nets.geometry import CAMERA, motion_between, pixel_grid, reproject, yaw_warp_x

pytest.importorskip("vizdoom")


def _colour(bearing: torch.Tensor) -> torch.Tensor:
    """A synthetic scene: the colour of what lies at each bearing (radians, right positive)."""
    return torch.stack([torch.sin(9 * bearing), torch.cos(5 * bearing), bearing]) * 100 + 128


def test_a_pure_yaw_matches_the_closed_form():
    """Turning left by 3.52 degrees, whatever the depth: target column x shows what the old
    view had at bearing atan((x-cx)/fx) - dyaw, i.e. at x' = cx + fx tan(atan((x-cx)/fx) - dyaw)."""
    u, _ = pixel_grid(96, 128)
    image = _colour(torch.atan((u - CAMERA.cx) / CAMERA.fx))[None]
    depth = torch.rand(1, 96, 128) * 400 + 20
    dyaw = 3.52
    warped, valid = reproject(image, depth, torch.tensor([[dyaw, 0.0, 0.0, 0.0]]))
    expected = _colour(torch.atan((u - CAMERA.cx) / CAMERA.fx) - math.radians(dyaw))
    inside = valid[0, 0].bool()
    assert (warped[0] - expected).abs()[:, inside].max() < 1.0             # bilinear reads: within 1 level
    source_x = yaw_warp_x(u, -dyaw)                       # the closed form of the issue, per pixel
    seen = (source_x >= 0.5) & (source_x <= 127.5)
    rows = slice(20, 76)                        # away from the top and bottom, which turn in from outside too
    assert (inside[rows] != seen[rows]).sum() <= 56                        # the new left edge is unseen
    assert 6 <= (~inside[48]).sum() <= 10                                   # wider than 4 px: tan stretches


def test_the_view_turns_the_way_the_engine_does():
    """ANGLE grows counter-clockwise: turning left moves the picture right."""
    x = torch.tensor([64.0])
    assert yaw_warp_x(x + 10, 3.0) > x + 10
    assert math.isclose(float(yaw_warp_x(x, 0.0)), 64.0)


def test_motion_is_measured_in_the_source_camera():
    pose0 = torch.tensor([[0.0, 0.0, 0.0, 90.0]])                 # facing +y
    pose1 = torch.tensor([[2.0, 10.0, 0.0, 95.0]])                # 10 forward, 2 to the right
    m = motion_between(pose0, pose1, torch.tensor([41.0]), torch.tensor([42.0]))
    np.testing.assert_allclose(m.numpy(), [[5.0, 10.0, 2.0, 1.0]], atol=1e-5)


def test_engine_depth_and_pose_predict_the_next_frame(tmp_path):
    """Captured frames: the warp with the engine's depth and pose beats copy-last."""
    import argparse

    from model.train import capture
    from model.train.geometry_fit import load_pairs, report
    args = argparse.Namespace(out=str(tmp_path), frames=1500, maps="MAP01,MAP03", seed=5, workers=1,
                              policy="explorer", report=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(capture, "SHARD_FRAMES", 750)
        capture.run(args)
    figures = report(load_pairs(str(tmp_path), 300), CAMERA)
    for kind in ("turning", "walking"):
        assert figures[kind]["pairs"] >= 10
        assert figures[kind]["gain_db"] > 2.0, figures
