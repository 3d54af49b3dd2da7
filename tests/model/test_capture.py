"""Engine capture: the DESIGN.md section 2 settings, the shard contract, replay, determinism,
bad input, and the scene seeds in the freedoom pack."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

vzd = pytest.importorskip("vizdoom")

import main  # noqa: E402
from model.play.world import (  # noqa: E402
    BUTTONS,
    ENGINE_H,
    ENGINE_W,
    FRAME_H,
    FRAME_W,
    action_from_names,
)
from model.train import capture  # noqa: E402
from model.train.capture import GAME_VARIABLES, make_game, start_episode  # noqa: E402
from model.train.dataset import read_npz, shard_paths  # noqa: E402

SEEDS = Path(__file__).resolve().parents[2] / "assets" / "worlds" / "freedoom" / "seeds"


def _args(out, frames, maps="MAP01", seed=0, workers=1, policy="explorer"):
    return argparse.Namespace(out=str(out), frames=frames, maps=maps, seed=seed, workers=workers,
                              policy=policy, report=False)


SMALL = dict(maps="MAP01,MAP02", seed=34)        # seed 34: shard 0 holds two episodes


@pytest.fixture(scope="module")
def small_capture(tmp_path_factory):
    """Two 1000-frame shards (the shard size is patched), one on MAP01 and one on MAP02."""
    out = tmp_path_factory.mktemp("capture")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(capture, "SHARD_FRAMES", 1000)
        assert capture.run(_args(out, 2000, **SMALL)) == 0
    return out


def _steps(game, actions):
    for a in actions:
        game.make_action(np.asarray(a).tolist(), 1)


def test_make_game_uses_the_design_settings(monkeypatch):
    calls = []

    class Recorder(vzd.DoomGame):
        def __getattribute__(self, name):
            attr = super().__getattribute__(name)
            if name.startswith(("set_", "add_")):
                return lambda *a: (calls.append((name, a)), attr(*a))[1]
            return attr

    monkeypatch.setattr(vzd, "DoomGame", Recorder)
    game = make_game("MAP01", 0)
    try:
        settings = dict(calls)
        assert settings["set_render_hud"] == (False,) and settings["set_render_crosshair"] == (False,)
        assert settings["set_render_weapon"] == (True,)
        assert settings["set_screen_resolution"] == (vzd.ScreenResolution.RES_160X120,)
        assert settings["set_screen_format"] == (vzd.ScreenFormat.RGB24,)
        assert ("add_game_args", ("-nomonsters",)) in calls
        assert Path(settings["set_doom_game_path"][0]).name == "freedoom2.wad"
        assert game.get_game_args().split() == ["-nomonsters"]
        assert [b.name for b in game.get_available_buttons()] == list(BUTTONS)
        assert game.get_mode() == vzd.Mode.PLAYER and game.get_episode_timeout() == 0
        assert game.get_state().screen_buffer.shape == (ENGINE_H, ENGINE_W, 3)
        assert game.get_available_game_variables() == GAME_VARIABLES
    finally:
        game.close()


def test_depth_buffer_leaves_the_rgb_frame_unchanged():
    rng = np.random.default_rng(0)
    actions = (rng.random((120, 8)) < 0.4).astype(np.uint8)
    frames = []
    for depth in (False, True):
        game = make_game("MAP02", 11, depth=depth)
        seen = []
        for a in actions:
            seen.append(game.get_state().screen_buffer.copy())
            game.make_action(a.tolist(), 1)
        game.close()
        frames.append(np.stack(seen))
    np.testing.assert_array_equal(frames[0], frames[1])
    assert len(np.unique(frames[0].reshape(len(actions), -1), axis=0)) > 10      # it did move


def _episode_frames(game, actions):
    seen = []
    for a in actions:
        seen.append(game.get_state().screen_buffer.copy())
        game.make_action(np.asarray(a).tolist(), 1)
    return np.stack(seen)


def test_an_episode_does_not_depend_on_the_one_before():
    """The renderer keeps the weapon's bob across new_episode; start_episode lets it settle."""
    script = [np.zeros(8, np.uint8)] * 10 + [action_from_names({"MOVE_FORWARD"})] * 30
    fresh = make_game("MAP01", 1)
    expected = _episode_frames(fresh, script)
    fresh.close()
    game = make_game("MAP01", 2)
    _steps(game, [action_from_names({"MOVE_FORWARD"})] * 40)      # leave the weapon mid-bob
    start_episode(game, "MAP01", 1)
    try:
        np.testing.assert_array_equal(_episode_frames(game, script), expected)
    finally:
        game.close()


def test_button_order_forward_and_turn_left():
    game = make_game("MAP01", 0)
    try:
        _steps(game, [np.zeros(8, np.uint8)] * 10)        # the engine ignores the first tics
        x0, y0, angle0 = game.get_state().game_variables[:3]
        _steps(game, [action_from_names({"MOVE_FORWARD"})] * 10)
        x1, y1, angle1 = game.get_state().game_variables[:3]
        heading = np.radians(angle0)
        assert (x1 - x0) * np.cos(heading) + (y1 - y0) * np.sin(heading) > 30     # moved forward
        assert angle1 == angle0
        _steps(game, [action_from_names({"TURN_LEFT"})] * 10)
        angle2 = game.get_state().game_variables[2]
        assert 20 < (angle2 - angle1) % 360 < 60                                     # counter-clockwise
    finally:
        game.close()


def test_shard_format(small_capture):
    paths = shard_paths(small_capture)
    assert [p.name for p in paths] == ["shard_00000.npz", "shard_00001.npz"]
    assert not list(small_capture.glob("*.tmp*"))
    assert {p.name for p in small_capture.iterdir()} == {p.name for p in paths} | {"capture.json", "report.json"}
    maps = set()
    for path in paths:
        data = read_npz(path, ("frames", "actions", "vars", "episode_start", "map", "episode_seed"))
        t = len(data["frames"])
        assert t == 1000
        assert data["frames"].dtype == np.uint8 and data["frames"].shape == (t, ENGINE_H, ENGINE_W, 3)
        assert data["actions"].dtype == np.uint8 and data["actions"].shape == (t, 8)
        assert set(np.unique(data["actions"])) <= {0, 1}
        assert data["vars"].dtype == np.float32 and data["vars"].shape == (t, 4)
        assert data["episode_start"].dtype == bool and data["episode_start"][0]
        np.testing.assert_array_equal(data["vars"][:, 0], data["map"])
        maps.add(int(data["map"][0]))
        ep = np.cumsum(data["episode_start"])
        for e in np.unique(ep):                            # one seed and one map per episode
            assert len(np.unique(data["episode_seed"][ep == e])) == 1
    assert maps == {0, 1}                                  # map index: 0 = MAP01


def test_captured_frames_replay_exactly_in_make_game(small_capture):
    """A shard's episode replayed from its start with make_game gives the same frames."""
    data = read_npz(shard_paths(small_capture)[0], ("frames", "actions", "episode_start", "map", "episode_seed"))
    start = int(np.flatnonzero(data["episode_start"])[-1])
    assert start > 0                                       # the second episode of the shard
    end = len(data["frames"])
    game = make_game(capture.MAPS[data["map"][start]], int(data["episode_seed"][start]))
    try:
        for i in range(start, end):
            np.testing.assert_array_equal(game.get_state().screen_buffer, data["frames"][i], err_msg=f"frame {i}")
            game.make_action(data["actions"][i].tolist(), 1)
    finally:
        game.close()


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path, small_capture, monkeypatch):
    """Worker processes build each shard from (seed, index) alone: byte-identical files."""
    monkeypatch.setattr(capture, "SHARD_FRAMES", 1000)
    assert capture.run(_args(tmp_path, 2000, workers=2, **SMALL)) == 0
    for a, b in zip(shard_paths(small_capture), shard_paths(tmp_path), strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_resume_skips_shards_on_disk_and_remakes_missing_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(capture, "SHARD_FRAMES", 100)
    assert capture.run(_args(tmp_path, 300, seed=5, policy="random")) == 0
    first, second, third = shard_paths(tmp_path)
    before = second.read_bytes()
    second.unlink()
    made = []
    real = capture.capture_shard
    monkeypatch.setattr(capture, "capture_shard", lambda game, spec, *a: made.append(spec.index) or real(game, spec, *a))
    assert capture.run(_args(tmp_path, 300, seed=5, policy="random")) == 0
    assert made == [1] and second.read_bytes() == before
    with pytest.raises(capture.UserError, match="other settings"):
        capture.run(_args(tmp_path, 300, seed=6, policy="random"))


@pytest.mark.parametrize("argv, needle", [
    (["--frames", "100", "--maps", "MAP01,MAP99"], "MAP99"),
    (["--frames", "100", "--maps", "MAP05-MAP02"], "MAP05-MAP02"),
    (["--frames", "0"], "--frames"),
    (["--frames", "-5"], "--frames"),
    (["--frames", "100", "--workers", "0"], "--workers"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, needle):
    assert main.main(["capture", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main.main(["capture", "--out", str(blocker / "sub"), "--frames", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err


def test_scene_seeds_in_the_freedoom_pack():
    seeds = sorted(SEEDS.glob("*.npz"))
    assert len(seeds) >= 16
    assert len({p.name[:5] for p in seeds}) >= 8                     # mapNN- prefixes
    for path in seeds:
        with np.load(path, allow_pickle=False) as data:
            assert data["frames"].dtype == np.uint8 and data["frames"].shape == (16, FRAME_H, FRAME_W, 3)
            assert data["actions"].dtype == np.uint8 and data["actions"].shape == (15, 8)
            assert set(np.unique(data["actions"])) <= {0, 1}
            assert data["name"].dtype.kind == "U" and data["name"].shape == () and str(data["name"]) == path.stem
        png = path.with_suffix(".png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[16:24] == (128).to_bytes(4, "big") + (96).to_bytes(4, "big")


def test_shards_carry_the_engine_geometry(small_capture):
    """Pose, velocity, eye height, depth buffer and sprite mask beside every frame."""
    data = read_npz(shard_paths(small_capture)[0], ("vars", "pose", "velocity", "camera_z", "depth", "sprites",
                                                    "actions", "episode_start"))
    t = len(data["pose"])
    assert data["pose"].dtype == np.float32 and data["pose"].shape == (t, 4)
    np.testing.assert_array_equal(data["pose"][:, [0, 1, 3]], data["vars"][:, 1:])   # x, y, angle agree
    assert data["velocity"].shape == (t, 2) and data["camera_z"].shape == (t,)
    assert 20 < np.median(data["camera_z"] - data["pose"][:, 2]) < 60                 # the eye is above the floor
    assert data["depth"].dtype == np.uint8 and data["depth"].shape == (t, ENGINE_H, ENGINE_W)
    assert data["sprites"].shape == (t, ENGINE_H, ENGINE_W) and set(np.unique(data["sprites"])) <= {0, 1, 2}
    weapon = data["sprites"] == 1
    assert weapon[:, -10:].mean() > 0.05 and weapon[:, :30].mean() == 0                # at the bottom only
    assert (data["depth"][weapon] == 0).mean() > 0.9                                  # not in the depth buffer
    step = np.hypot(*np.diff(data["pose"][:, :2], axis=0).T)
    moving = (np.hypot(*data["velocity"].T) > 1)[:-1] & ~data["episode_start"][1:]
    assert np.median(step[moving]) > 1                                                 # velocity means motion


def test_shards_without_geometry_still_load(tmp_path, small_capture):
    from model.train.dataset import write_npz
    from model.train.train_data import load_frames
    old = tmp_path / "old"
    old.mkdir()
    keys = ("frames", "actions", "vars", "episode_start", "map", "episode_seed")
    write_npz(old / "shard_00000.npz", read_npz(shard_paths(small_capture)[0], keys))
    data = load_frames([old])
    assert data.frames.shape == (1000, FRAME_H, FRAME_W, 3)


def test_map_ranges():
    assert capture.parse_maps("MAP01-MAP29") == capture.MAPS[:29]
    assert capture.parse_maps("map30-map32,MAP01") == ("MAP30", "MAP31", "MAP32", "MAP01")


def test_the_revisit_policy_comes_back_the_way_it_went(tmp_path, monkeypatch):
    """Its drills: turn away and back by the same number of tics, walk off and back the same."""
    from itertools import groupby
    monkeypatch.setattr(capture, "SHARD_FRAMES", 1500)
    assert capture.run(_args(tmp_path, 1500, maps="MAP01", seed=7, policy="revisit")) == 0
    d = read_npz(shard_paths(tmp_path)[0], ("actions", "pose"))
    runs = [(keys, len(list(tics))) for keys, tics in groupby(a.tobytes() for a in d["actions"])]
    begins = np.cumsum([0] + [n for _, n in runs])
    key = {name: action_from_names({name}).tobytes() for name in
           ("TURN_LEFT", "TURN_RIGHT", "MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT")}
    idle = action_from_names(set()).tobytes()
    pairs = {("TURN_LEFT", "TURN_RIGHT"), ("TURN_RIGHT", "TURN_LEFT"), ("MOVE_FORWARD", "MOVE_BACKWARD"),
             ("MOVE_LEFT", "MOVE_RIGHT"), ("MOVE_RIGHT", "MOVE_LEFT")}
    found, missed = set(), []
    for i, ((before, _), (k0, n0), (k1, n1), after) in enumerate(zip(runs, runs[1:], runs[2:], runs[3:])):
        for away, back in pairs:
            if n0 < 8 or k0 != key[away]:
                continue
            if before == idle and k1 == key[back] and n1 == n0:           # straight back
                found.add("look" if away.startswith("TURN") else "walk")
                if away == "MOVE_FORWARD" and after[0] == idle:         # out as far as it was open, and home
                    start, home = d["pose"][begins[i + 1], :2], d["pose"][min(begins[i + 4] - 1, len(d["pose"]) - 1), :2]
                    missed.append(float(np.hypot(*(home - start))))
            if k1 == idle and after == (key[back], n0):                   # a pause, then back
                found.add("look")
    assert found == {"look", "walk"}
    assert missed and max(missed) < 48.0, missed                           # no wall cut a walk out short
