"""Shard files and the dataset report, on hand-made data (no engine needed)."""
from __future__ import annotations

import numpy as np
import pytest

from model.play.errors import UserError
from model.play.images import read_image
from model.play.world import BUTTONS, ENGINE_H, ENGINE_W
from model.train.dataset import (
    SHARD_NAME,
    contact_sheet,
    dataset_report,
    read_npz,
    run_lengths,
    shard_paths,
    stuck_mask,
    write_npz,
    write_png,
)

F, B, L, R, TL, TR, ATK, USE = range(8)


def _shard(actions, xy, starts, map_index=0):
    t = len(actions)
    vars_ = np.zeros((t, 4), np.float32)
    vars_[:, 0] = map_index
    vars_[:, 1:3] = xy
    frames = np.zeros((t, ENGINE_H, ENGINE_W, 3), np.uint8)
    frames[:] = np.arange(t, dtype=np.uint8)[:, None, None, None]     # frame i is filled with i
    episode_start = np.zeros(t, bool)
    episode_start[list(starts)] = True
    return {"frames": frames, "actions": np.asarray(actions, np.uint8), "vars": vars_,
            "episode_start": episode_start, "map": np.full(t, map_index, np.uint8),
            "episode_seed": np.zeros(t, np.int64)}


def test_write_npz_is_atomic_reproducible_and_pickle_free(tmp_path):
    arrays = _shard(np.zeros((5, 8)), np.zeros((5, 2)), [0])
    arrays["name"] = np.array("hello")
    write_npz(tmp_path / "a.npz", arrays)
    write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]       # no .tmp left
    with np.load(tmp_path / "a.npz", allow_pickle=False) as data:
        assert str(data["name"]) == "hello" and data["name"].dtype.kind == "U"
        np.testing.assert_array_equal(data["frames"], arrays["frames"])


def test_shard_paths_ignore_leftover_tmp_files(tmp_path):
    write_npz(tmp_path / SHARD_NAME.format(1), {"x": np.zeros(1)})
    (tmp_path / "shard_00000.tmp.npz").write_bytes(b"half")
    assert [p.name for p in shard_paths(tmp_path)] == ["shard_00001.npz"]


def test_read_npz_reports_bad_files_as_user_errors(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz"):
        read_npz(tmp_path / "bad.npz", ("actions",))
    write_npz(tmp_path / "ok.npz", {"actions": np.zeros((1, 8), np.uint8)})
    with pytest.raises(UserError, match="missing"):
        read_npz(tmp_path / "ok.npz", ("actions", "vars"))


def test_run_lengths_split_at_releases_and_episode_starts():
    pressed = np.array([1, 1, 0, 1, 1, 1, 1, 0, 0, 1])
    starts = np.zeros(10, bool)
    starts[[0, 5]] = True                       # a new episode in the middle of the 4-run
    assert run_lengths(pressed, starts).tolist() == [2, 2, 2, 1]
    assert run_lengths(np.zeros(4), np.zeros(4, bool)).tolist() == []


def test_stuck_needs_eight_pushing_tics_without_moving():
    t = 20
    actions = np.zeros((t, 8), np.uint8)
    actions[0:12, F] = 1                        # pushes for 12 tics ...
    xy = np.zeros((t, 2))                       # ... and never moves
    xy[15:, 0] = np.arange(5) * 3.0             # then walks (no button: coasting counts as moving)
    stuck = stuck_mask(actions, xy_vars(xy), np.eye(1, t, 0, dtype=bool)[0])
    # frame t needs actions t-8 .. t-1 all pushing: t = 8 .. 12
    assert np.flatnonzero(stuck).tolist() == [8, 9, 10, 11, 12]


def test_stuck_ignores_moving_and_episode_boundaries():
    t = 20
    actions = np.zeros((t, 8), np.uint8)
    actions[:, L] = 1
    xy = np.zeros((t, 2))
    xy[:, 1] = np.arange(t) * 0.2               # creeping: 1.6 units per 8 tics is moving
    assert not stuck_mask(actions, xy_vars(xy), np.eye(1, t, 0, dtype=bool)[0]).any()
    starts = np.zeros(t, bool)
    starts[[0, 6, 13]] = True                   # episodes too short to hold 8 tics before a frame
    assert not stuck_mask(actions, xy_vars(np.zeros((t, 2))), starts).any()


def xy_vars(xy):
    out = np.zeros((len(xy), 4), np.float32)
    out[:, 1:3] = xy
    return out


def test_report_statistics_on_a_hand_made_capture(tmp_path):
    # Shard 0, MAP01: 10 frames. FORWARD held 0-3, TURN_LEFT 5-6, idle otherwise. The player
    # walks x = 0, 30, 60, 90 then stays at 100 (cells 0, 0, 0, 1, 1 of 64 units).
    a0 = np.zeros((10, 8), np.uint8)
    a0[0:4, F] = 1
    a0[5:7, TL] = 1
    xy0 = np.array([[0, 0], [30, 0], [60, 0], [90, 0]] + [[100, 0]] * 6, float)
    write_npz(tmp_path / SHARD_NAME.format(0), _shard(a0, xy0, [0], map_index=0))
    # Shard 1, MAP03: two episodes of 5 frames; FORWARD held across the boundary (two holds);
    # episode 2 stands at (-10, 70): cell (-1, 1).
    a1 = np.zeros((10, 8), np.uint8)
    a1[3:8, F] = 1
    a1[:, USE] = 1
    xy1 = np.array([[0, 0]] * 5 + [[-10, 70]] * 5, float)
    write_npz(tmp_path / SHARD_NAME.format(1), _shard(a1, xy1, [0, 5], map_index=2))

    report = dataset_report(shard_paths(tmp_path))
    assert report["frames"] == 20 and report["episodes"] == 3
    assert report["maps"] == {"MAP01": {"frames": 10, "cells": 2}, "MAP03": {"frames": 10, "cells": 2}}
    assert report["coverage_cells"] == 4
    fwd = report["buttons"]["MOVE_FORWARD"]
    assert fwd["frames"] == 9 and fwd["fraction"] == 0.45
    assert fwd["holds"] == 3 and fwd["mean_hold"] == 3.0 and fwd["median_hold"] == 3.0   # 4, 3, 2
    assert report["buttons"]["TURN_LEFT"] == {"frames": 2, "fraction": 0.1, "holds": 1,
                                              "mean_hold": 2.0, "median_hold": 2.0}
    assert report["buttons"]["USE"]["holds"] == 2                      # split by the episode start
    assert report["buttons"]["ATTACK"]["frames"] == 0
    assert report["idle_fraction"] == 0.2                              # shard 0 frames 4, 7, 8, 9
    assert report["stuck_fraction"] == 0.0                             # no 8-tic push anywhere
    assert set(report["buttons"]) == set(BUTTONS)


def test_png_and_contact_sheet_round_trip(tmp_path):
    for k in range(2):
        write_npz(tmp_path / SHARD_NAME.format(k), _shard(np.zeros((8, 8)), np.zeros((8, 2)), [0]))
    sheet = contact_sheet(shard_paths(tmp_path), rows=2, cols=2)
    assert sheet.shape == (2 * ENGINE_H, 2 * ENGINE_W, 3)
    # 16 frames in all, 4 picks spread evenly: global frames 0, 5, 10, 15 -> values 0, 5, 2, 7
    assert [sheet[r * ENGINE_H, c * ENGINE_W, 0] for r in range(2) for c in range(2)] == [0, 5, 2, 7]
    write_png(tmp_path / "sheet.png", sheet)
    np.testing.assert_array_equal(read_image(tmp_path / "sheet.png"), sheet)
    assert not list(tmp_path.glob("*.tmp"))
