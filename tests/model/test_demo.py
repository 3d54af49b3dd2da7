"""Demo videos: smooth upscaling, the held-buttons overlay, guided tours, and replay."""
from __future__ import annotations

import json
import shutil

import numpy as np

import main
from model.play.demo import HOLD_FRAMES, TOUR, default_tour, tour_for
from model.play.overlay import BAR_W, BOX_H, BOX_ON, BOX_W, GAP, MARGIN, draw_buttons
from model.play.pack import load_pack
from model.play.session_log import SessionLog
from model.play.video import read_video, upscale
from model.play.world import BUTTONS, FPS, action_from_names


def run_cli(capsys, *argv):
    code = main.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def box_centre(i: int, frame_hw, unit: int) -> tuple[int, int]:
    """Pixel at the middle of button i's box's top padding (never a glyph pixel)."""
    h, w = frame_hw
    left = (w - BAR_W * unit) // 2 + i * (BOX_W + GAP) * unit
    top = h - (BOX_H + MARGIN) * unit
    return top + unit // 2, left + (BOX_W * unit) // 2


def test_upscale_nearest_and_smooth():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:, 2:] = 200                                         # a hard vertical edge
    nearest, smooth = upscale(frame, 4), upscale(frame, 4, smooth=True)
    assert nearest.shape == smooth.shape == (16, 16, 3)
    assert set(np.unique(nearest)) == {0, 200}
    row = smooth[5, :, 0]
    assert row[0] == 0 and row[-1] == 200 and np.all(np.diff(row.astype(int)) >= 0)
    assert len(np.unique(row)) > 4                             # a ramp across the edge, not a step
    flat = np.full((6, 8, 3), 77, np.uint8)
    assert np.array_equal(upscale(flat, 3, smooth=True), np.full((18, 24, 3), 77, np.uint8))
    assert upscale(frame, 1, smooth=True) is frame


def test_overlay_lights_the_held_buttons_only():
    frame = np.full((96 * 2, 128 * 2, 3), 90, np.uint8)
    action = action_from_names({"MOVE_FORWARD", "ATTACK"})
    out = draw_buttons(frame, action, unit=2)
    assert out.shape == frame.shape and np.array_equal(frame, np.full_like(frame, 90))   # input untouched
    lit = np.rint(90 * (1 - BOX_ON[1]) + np.array(BOX_ON[0]) * BOX_ON[1])
    for i, name in enumerate(BUTTONS):
        y, x = box_centre(i, frame.shape[:2], unit=2)
        if name in ("MOVE_FORWARD", "ATTACK"):
            assert np.array_equal(out[y, x], lit), name
        else:
            assert out[y, x].max() < 60, name                  # dimmed, not lit
    assert np.array_equal(out[:100], frame[:100])              # the picture above the bar is untouched
    glyph_f = out[box_centre(0, frame.shape[:2], 2)[0] + 4:][:14]
    assert (glyph_f.max(axis=-1) < 40).any()                   # the dark 'F' drawn on the lit box
    small = np.zeros((20, 30, 3), np.uint8)
    assert np.array_equal(draw_buttons(small, action), small)  # too small for a bar: left alone


def test_render_mp4_with_scale_smooth_and_overlay(tiny_pack, tmp_path, capsys):
    acts = tmp_path / "hold.json"
    acts.write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[0, 0, 0, 0, 0, 1, 0, 0]] * 30}))
    code, err = run_cli(capsys, "render", "--world", tiny_pack, "--seed", "alpha", "--actions", acts,
                        "--out", tmp_path / "o.mp4", "--scale", 3, "--smooth", "--overlay")
    assert code == 0, err
    assert "render o.mp4: 30/30 (100%)" in err                 # progress shown
    video = read_video(tmp_path / "o.mp4")
    assert video.shape == (30, 288, 384, 3)
    y, x = box_centre(BUTTONS.index("TURN_RIGHT"), (288, 384), 3)
    assert np.abs(video[:, y, x].astype(int) - BOX_ON[0]).max() < 40     # amber through H.264
    y, x = box_centre(BUTTONS.index("TURN_LEFT"), (288, 384), 3)
    assert video[:, y, x].max() < 80
    code, err = run_cli(capsys, "render", "--world", tiny_pack, "--actions", acts, "--out", tmp_path / "o.npz",
                        "--overlay")
    assert code == 2 and "--overlay draws into MP4 video only" in err


def test_replay_equals_render_and_draws_the_recorded_buttons(tiny_pack, tmp_path, capsys):
    rng = np.random.default_rng(4)
    actions = rng.integers(0, 2, (40, 8)).astype(np.uint8)
    np.savez(tmp_path / "a.npz", actions=actions)
    session = SessionLog(world=str(tiny_pack), models=load_pack(tiny_pack).model_hashes(), seed={"name": "alpha"},
                         rng_seed=11, sampler={"steps": 2}, backend="cpu", actions=actions.tolist(), record_from=10)
    session.save(tmp_path / "s.json")
    assert run_cli(capsys, "replay", tmp_path / "s.json", "--out", tmp_path / "r.npz")[0] == 0
    assert run_cli(capsys, "render", "--world", tiny_pack, "--seed", "alpha", "--actions", tmp_path / "a.npz",
                   "--rng-seed", 11, "--backend", "cpu", "--out", tmp_path / "f.npz")[0] == 0
    with np.load(tmp_path / "r.npz") as r, np.load(tmp_path / "f.npz") as f:
        assert r["frames"].shape == (30, 96, 128, 3)
        assert np.array_equal(r["frames"], f["frames"][10:])   # the recorded part, bit for bit
    code, err = run_cli(capsys, "replay", tmp_path / "s.json", "--out", tmp_path / "r.mp4", "--overlay", "--scale", 2)
    assert code == 0, err
    video = read_video(tmp_path / "r.mp4")
    y, x = box_centre(0, (192, 256), 2)
    forward = video[:, y, x, 0].astype(int) > 180              # amber's red channel: forward held
    assert np.array_equal(forward, actions[10:, 0] == 1)


def test_tours_default_per_seed_and_pack_default(tiny_pack, tmp_path):
    tour = default_tour()
    assert len(tour) == round(sum(s * FPS for s, _ in TOUR)) and np.array_equal(tour, default_tour())
    assert {name for _, names in TOUR for name in names} == set(BUTTONS)      # the tour shows every button
    pack = load_pack(tiny_pack)
    assert tour_for(pack, "alpha")[1] == "built-in tour"
    copy = shutil.copytree(tiny_pack, tmp_path / "pack")
    (copy / "tours").mkdir()
    (copy / "tours" / "alpha.json").write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[1] + [0] * 7] * 5}))
    (copy / "tours" / "default.json").write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[0] * 8] * 3}))
    pack = load_pack(copy)
    actions, source = tour_for(pack, "alpha")
    assert source.endswith("alpha.json") and actions.shape == (5, 8)
    assert tour_for(pack, "beta")[0].shape == (3, 8)


def test_demo_command_tours_every_seed(tiny_pack, tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    code, err = run_cli(capsys, "demo", "--world", tiny_pack, "--out", out, "--frames", 20, "--scale", 2, "--overlay")
    assert code == 0, err
    assert "demo demo.mp4: 64/64 (100%)" in err
    video = read_video(out)
    assert video.shape == (2 * (HOLD_FRAMES + 20), 192, 256, 3)
    code, err = run_cli(capsys, "demo", "--world", tiny_pack, "--seed", "beta", "--out", out, "--frames", 5)
    assert code == 0 and len(read_video(out)) == HOLD_FRAMES + 5
    code, err = run_cli(capsys, "demo", "--world", tiny_pack, "--out", tmp_path / "d.npz")
    assert code == 2 and "demo writes an .mp4 video" in err


def test_demo_without_seeds_and_with_a_bad_tour(tiny_pack, tmp_path, capsys):
    copy = shutil.copytree(tiny_pack, tmp_path / "pack")
    (copy / "tours").mkdir()
    (copy / "tours" / "alpha.json").write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[0] * 9]}))
    code, err = run_cli(capsys, "demo", "--world", copy, "--seed", "alpha", "--out", tmp_path / "d.mp4")
    assert code == 2 and "alpha.json: actions must have shape [N, 8]" in err
    for seed in (copy / "seeds").iterdir():
        seed.unlink()
    code, err = run_cli(capsys, "demo", "--world", copy, "--out", tmp_path / "d.mp4")
    assert code == 2 and "world has no scene seeds" in err
