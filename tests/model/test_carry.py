"""Carrying what the camera saw into new views: whole-pixel warps that never blur, clipped
depth taken as far, and the per-pixel trust that lets the memory replace painted pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.nets.geometry import CAMERA
from model.nets.geonets import recall
from model.play.geo_session import SHADE_SEEN, Kept
from model.play.memory import advance_pose, relative_motion
from model.play.runtime import open_world
from model.train.metrics import sharpness


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32))


def test_a_recalled_view_only_copies_pixels_of_the_kept_frame():
    """Nearest-pixel warp: every output value is one of the kept frame's, so any number of
    warps adds no blur (bilinear would average neighbours)."""
    frame = _scene()
    warped, valid = recall(frame, torch.full((1, 96, 128), 120.0), torch.tensor([[7.3, 11.0, -4.0, 0.5]]))
    source = set(np.round(frame.numpy().ravel(), 6))
    assert valid.mean() > 0.5
    assert set(np.round(warped.numpy().ravel(), 6)) <= source


def test_the_shown_colours_read_between_pixels_where_the_carried_ones_are_whole():
    """The recall graph's third output is the same warp read bicubic: at rest it is the kept
    frame itself, under a sub-pixel motion it holds values no kept pixel has (while the
    carried colours still only copy), and it is the same picture."""
    frame = torch.from_numpy(np.kron(np.random.default_rng(4).uniform(-1, 1, (1, 3, 24, 32)),
                                     np.ones((1, 1, 4, 4))).astype(np.float32))   # 4x4 blocks: smooth enough to read between
    kept = torch.cat([frame, torch.ones(1, 1, 96, 128)], dim=1)
    depth = torch.full((1, 96, 128), 120.0)
    _, _, still = recall(kept, depth, torch.zeros(1, 4), smooth=True)
    np.testing.assert_allclose(still[:, :3].numpy(), frame.numpy(), atol=1e-5)
    warped, valid, shown = recall(kept, depth, torch.tensor([[0.4, 1.3, 0.7, 0.0]]), smooth=True)
    inside = valid[0, 0].numpy() > 0.5
    source = set(np.round(frame.numpy().ravel(), 6))
    between = ~np.isin(np.round(shown[0, :3].numpy(), 6), list(source))[:, inside]
    assert between.mean() > 0.2
    assert set(np.round(warped[:, :3].numpy().ravel(), 6)) <= source
    assert np.abs(shown[0, :3].numpy() - warped[0, :3].numpy())[:, inside].mean() < 0.1


def test_the_view_shows_the_anchor_read_between_pixels_and_carries_it_whole(geo_pack):
    """A step from an anchor seen a little off the camera: the frame returned (shown) differs
    from the frame carried on only where the anchor covers, by a little, and a snapshot gives
    back the frame shown."""
    _, session = _session(geo_pack)
    session.step(np.zeros(8, np.uint8))
    depth = np.full((96, 128), 150.0, np.float32)
    session._anchor = Kept(session._frame, session._trust, depth, advance_pose(session.pose, [0.6, -1.7, 2.3, 0.0]),
                           session.frame_index, depth)
    snap = session.snapshot()
    shown = session.step(np.zeros(8, np.uint8)).astype(int)
    carried = session._frame.astype(int)
    differ = (shown != carried).any(axis=2)
    assert differ.mean() > 0.2
    assert np.abs(shown - carried).mean() < 12
    assert not differ[session._painted].any()                         # painted pixels are the same in both
    again = session.snapshot()
    session.restore(snap)
    assert (session.restore(again) == shown).all()


def test_clipped_depth_counts_as_far_so_walking_past_the_clip_keeps_the_view():
    """Walk 600 units (past the 504-unit far clip) toward a view of clipped depth: taken as
    far, it grows a little; taken at the clip it would fold into a few pixels."""
    frame = _scene(1)
    clipped = torch.full((1, 96, 128), CAMERA.far)
    warped, valid = recall(frame, clipped, torch.tensor([[0.0, 600.0, 0.0, 0.0]]))
    assert valid.mean() > 0.9
    assert len(np.unique(warped.numpy()[0, 0])) > 0.3 * 96 * 128


def _session(geo_pack):
    world = open_world(str(geo_pack))
    session = world.session(backend="cpu", steps=1)
    session.reset(world.load_seed("alpha"), rng_seed=0)
    return world, session


def _layer(colour, trust, seen):
    """A warped layer as the session composites it: colour, trust, seen depth, colour as shown."""
    return np.concatenate([colour, trust, seen, colour], axis=1)


def test_trusted_memory_replaces_painted_pixels_and_not_seen_ones(geo_pack):
    """The anchor's left half was seen, its right half painted; a trusted keyframe covers all.
    Carried pixels take SHADE_SEEN of the painter's smoothed change."""
    _, session = _session(geo_pack)
    hw = (1, 1, 96, 128)
    seen = np.full(hw, 100.0, np.float32)                                 # the depth each colour was seen at
    anchor = _layer(np.full((1, 3, 96, 128), 0.5, np.float32), np.zeros(hw, np.float32), seen)
    anchor[:, 3, :, :64] = 1.0
    memory = _layer(np.full((1, 3, 96, 128), -0.5, np.float32), np.ones(hw, np.float32), 2 * seen)
    for painter in (0.5, 0.0):
        x0 = np.full((1, 3, 96, 128), painter, np.float32)
        frame, _, trust, kept_seen = session._composite(x0, anchor, np.ones(hw, np.float32), memory, np.ones(hw, np.float32))
        np.testing.assert_allclose(frame[0, :, 10:-10, 10:54], 0.5 + SHADE_SEEN * (painter - 0.5), atol=1e-6)
        np.testing.assert_allclose(frame[0, :, 10:-10, 74:-10], -0.5 + SHADE_SEEN * (painter + 0.5), atol=1e-6)
        assert trust.all()
        assert session.memory_share == pytest.approx(0.5) and session.painted_share == 0
        assert (kept_seen[:, :64] == 100.0).all() and (kept_seen[:, 64:] == 200.0).all()   # each pixel's own


def test_nothing_to_recall_leaves_the_anchor_and_marks_uncovered_pixels_painted(geo_pack):
    _, session = _session(geo_pack)
    hw = (1, 1, 96, 128)
    anchor = _layer(_scene(2).numpy(), np.ones(hw, np.float32), np.full(hw, 80.0, np.float32))
    keep = np.ones(hw, np.float32)
    keep[..., -8:] = 0                                  # the right edge: uncovered
    frame, _, trust, seen = session._composite(anchor[:, :3].copy(), anchor, keep, np.zeros_like(anchor),
                                            np.zeros(hw, np.float32))
    np.testing.assert_allclose(frame, anchor[:, :3], atol=1e-5)   # the painter agrees: detail kept exactly
    assert not trust[:, -8:].any() and trust[:, :-8].all()
    assert not seen[:, -8:].any() and (seen[:, :-8] == 80.0).all()   # painted pixels are never relit
    assert session.painted_share == pytest.approx(8 / 128)


def test_a_still_camera_keeps_the_seed_sharp(geo_pack):
    """Without carrying, the painter's regression blurs the view a little every step."""
    world, session = _session(geo_pack)
    seed = world.load_seed("alpha").frames[-1]
    session._motions[:] = 0
    frames = [session.step(np.zeros(8, np.uint8)) for _ in range(40)]
    assert sharpness(frames[-1]) > 0.5 * sharpness(seed)


def test_the_anchor_moves_on_once_the_camera_turns_away(geo_pack):
    _, session = _session(geo_pack)
    session.step(np.zeros(8, np.uint8))
    depth = np.full((96, 128), 100.0, np.float32)
    session._anchor = Kept(session._frame, session._trust, depth, advance_pose(session.pose, [-90.0, 0, 0, 0]),
                           session.frame_index, depth)
    assert session._anchor_spent(1.0)                    # 90 degrees off: spent
    session._anchor = Kept(session._frame, session._trust, depth, session.pose, session.frame_index, depth)
    assert not session._anchor_spent(1.0) and session._anchor_spent(0.5)   # covering too little: spent


def test_training_rollouts_smooth_and_move_as_play_does():
    """The painter's rollouts in training (model.train.geotrain.Carry) use play's filter and
    play's pose arithmetic."""
    from model.play.filters import box_mean
    from model.train.geotrain import Carry, box_mean_torch
    x = _scene(3)
    np.testing.assert_allclose(box_mean_torch(x, 3).numpy(), box_mean(x.numpy(), 3, axes=(2, 3)), atol=1e-5)
    carry = Carry(x, torch.full((1, 96, 128), 100.0), torch.zeros(1, 1, 96, 128))
    pose, rng = np.zeros(4), np.random.default_rng(4)
    for _ in range(4):
        motion = np.array([rng.uniform(-5, 5), rng.uniform(-10, 10), rng.uniform(-5, 5), 0.3])
        pose = advance_pose(pose, motion)
        carry.move(torch.tensor(motion, dtype=torch.float32)[None])
    x_, y_, z_, yaw_ = carry.pose[0].numpy()
    np.testing.assert_allclose([yaw_, x_, -y_, z_], relative_motion(np.zeros(4), pose), atol=1e-4)


def test_a_recorded_geometry_session_replays_bit_exact_with_memory_on(geo_pack, tmp_path):
    """Turn away and back (so keyframes are kept and recalled) while walking: replay of the
    session file gives the render's frames bit for bit."""
    from model.play.pack import load_pack
    from model.play.session_log import SessionLog
    import main
    actions = np.zeros((120, 8), np.uint8)
    actions[:40, 4] = 1
    actions[40:80, 5] = 1
    actions[::3, 0] = 1
    np.savez(tmp_path / "a.npz", actions=actions)
    log = SessionLog(world=str(geo_pack), models=load_pack(geo_pack).model_hashes(), seed={"name": "alpha"},
                     rng_seed=5, sampler={"steps": 1, "memory": True}, backend="cpu", actions=actions.tolist())
    log.save(tmp_path / "s.json")
    assert main.main(["replay", str(tmp_path / "s.json"), "--out", str(tmp_path / "r.npz")]) == 0
    assert main.main(["render", "--world", str(geo_pack), "--seed", "alpha", "--actions", str(tmp_path / "a.npz"),
                      "--rng-seed", "5", "--denoise-steps", "1", "--backend", "cpu", "--out", str(tmp_path / "f.npz")]) == 0
    with np.load(tmp_path / "r.npz") as r, np.load(tmp_path / "f.npz") as f:
        assert r["frames"].shape == (120, 96, 128, 3)
        assert np.array_equal(r["frames"], f["frames"])


def test_the_motion_net_says_exactly_zero_where_its_rest_head_does():
    from model.nets.geonets import GEO_PRESETS, MotionNet
    net = MotionNet(GEO_PRESETS["tiny"]).eval()
    with torch.no_grad():
        net.rest[2].weight.zero_()
        net.rest[2].bias.copy_(torch.tensor([-9.0, -9.0, 9.0]))       # dz at rest
        net.net[4].bias.fill_(0.5)
        args = torch.zeros(1, 8, 8), torch.zeros(1, 8, 4), torch.full((1, 96, 128), 100.0)
        move = net(*args)
        raw, logit, _ = net(*args, raw=True)
    assert move[0, 3] == 0 and (move[0, 1:3] == raw[0, 1:3]).all() and (raw[0, 1:3] != 0).all()
    assert (logit[0] == torch.tensor([-9.0, -9.0, 9.0])).all()


def test_the_motion_net_turns_by_exactly_one_of_the_turns_its_data_makes():
    from model.nets.geonets import GEO_PRESETS, MotionNet
    net = MotionNet(GEO_PRESETS["tiny"]).eval()
    turns = np.array([0.0] * 50 + [3.516] * 20 + [-3.516] * 20 + [1.758] * 5 + [-1.758] * 5 + [0.4])
    net.set_yaw_steps(turns)
    assert net.yaw_steps.tolist() == pytest.approx([-3.516, -1.758, 0.0, 1.758, 3.516])    # 0.4 is too rare
    assert net.yaw_class(torch.tensor([3.4, -1.7, 0.4])).tolist() == [4, 1, 2]
    with torch.no_grad():
        net.net[4].bias.zero_()
        net.net[4].bias[3 + 3] = 5.0                         # class 3: 1.758 degrees
        move = net(torch.zeros(2, 8, 8), torch.zeros(2, 8, 4), torch.full((2, 96, 128), 100.0))
    assert move[:, 0].tolist() == pytest.approx([1.758, 1.758], abs=1e-6)


def test_a_resting_camera_keeps_nearer_keyframes_than_a_moving_one():
    from model.play.memory import KeyframeMemory, REST_MOVE, NOVEL_MOVE
    frame, trust, depth = np.zeros((96, 128, 3), np.uint8), np.ones((96, 128), np.uint8), np.ones((96, 128), np.float32)
    step = (REST_MOVE + NOVEL_MOVE) / 2
    for resting, expected in ((False, 1), (True, 2)):
        memory = KeyframeMemory(8, (96, 128))
        memory.consider(frame, trust, depth, np.array([0.0, 0, 41, 0]), 0)
        memory.consider(frame, trust, depth, np.array([step, 0, 41, 0]), 1, resting=resting)
        assert memory.count == expected


def test_pixels_of_the_held_weapon_never_pass_for_the_world(geo_pack):
    """Kept frames show the weapon; warped, its pixels are neither covered nor a source of
    detail, so the sprite is not copied into the view."""
    _, session = _session(geo_pack)
    session.step(np.zeros(8, np.uint8))
    mask = np.zeros((1, 1, 96, 128), np.float32)
    mask[..., 70:, 50:80] = 1
    session._sprite = (mask, session._sprite[1])
    frame = np.full((96, 128, 3), 200, np.uint8)
    depth = np.full((96, 128), 200.0, np.float32)
    warped, cover, world = session._warp(frame, np.ones((96, 128), np.uint8), depth, np.zeros(4, np.float32), depth)
    assert not cover[0, 0, 70:, 50:80].any() and not world[0, 0, 70:, 50:80].any()
    assert cover[0, 0, 10:60, 10:-10].all() and (warped[0, 3, 10:60, 10:-10] == 1).all()
    assert (warped[0, 3] >= 0).all()                    # trust stays in 0..1
    assert (warped[0, 4, 10:60, 10:-10] == 200.0).all()  # seen depth rides along
