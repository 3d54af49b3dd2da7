"""`eval` against the real engine on a tiny capture and a tiny untrained world: the flow
measure reads motion right, the engine replays reach the captured states, a frozen world
scores nothing, and the report's figures are the right ones."""
import argparse
import itertools
import json

import cv2
import numpy as np
import pytest

vzd = pytest.importorskip("vizdoom")

import main  # noqa: E402
from model.play.world import FRAME_H, FRAME_W, area_resize  # noqa: E402
from model.train import capture, eval_plots  # noqa: E402
from model.train.capture import make_game  # noqa: E402
from model.train.dataset import read_npz, shard_paths  # noqa: E402
from model.train.eval_engine import CONTEXT, Engine, held_out_starts, hold  # noqa: E402
from model.train.eval_memory import RETURN_UNITS, SETTLE_TICS, engine_revisit, memory_tests, revisit_script  # noqa: E402
from model.train.eval_response import MOTIONS, action_response  # noqa: E402
from model.train.evaluate import spread_windows, trajectories  # noqa: E402
from model.train.metrics import mse, psnr_from_mse, view_motion  # noqa: E402
from model.train.train_data import load_frames  # noqa: E402
from tests.model.test_train import write_fake_shards  # noqa: E402

FX = 64.0                      # DESIGN.md section 2: 90° horizontal field of view at 128 px


@pytest.fixture(scope="module")
def engine_data(tmp_path_factory):
    """Two 500-frame shards of the explorer in the real engine, on MAP01 and MAP02."""
    out = tmp_path_factory.mktemp("eval-capture")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(capture, "SHARD_FRAMES", 500)
        assert capture.run(argparse.Namespace(out=str(out), frames=1000, maps="MAP01,MAP02", seed=3,
                                              workers=1, policy="explorer", report=False)) == 0
    return out


class FrozenWorld:
    """A session that shows its seed's last frame forever: copy-last as a world."""

    def reset(self, seed, rng_seed=0):
        self.frame = seed.frames[-1].copy()
        return self.frame

    def step(self, action):
        return self.frame


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), 2)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def zoomed(img: np.ndarray, scale: float) -> np.ndarray:
    """`img` magnified by `scale` about the view's centre (64, 48)."""
    m = np.array([[scale, 0, 64 * (1 - scale)], [0, scale, 48 * (1 - scale)]])
    return cv2.warpAffine(img, m, (128, 96), borderMode=cv2.BORDER_REFLECT)


def test_windows_are_disjoint_and_taken_from_every_episode_in_turn(tmp_path):
    data = load_frames([write_fake_shards(tmp_path / "data", n=3, t=130)])   # 3 episodes of 130 frames
    starts = spread_windows(data, count=5, length=30, seed=0)
    assert len(starts) == 5
    assert all(b - a >= 30 for a, b in zip(starts, starts[1:]))               # no overlap
    assert all(data.episode[s] == data.episode[s + 29] for s in starts)       # inside one episode
    assert len({int(data.episode[s]) for s in starts}) == 3                   # every episode
    assert len(spread_windows(data, count=99, length=30, seed=0)) == 3 * 4    # 4 fit in 130 frames


def test_flow_reads_a_synthetic_shift_and_zoom():
    big = texture(96, 200)
    view = big[:, 36:164]
    for dx in (3, -5):                                    # content moved dx px to the right
        moved = big[:, 36 - dx:164 - dx]
        assert view_motion(view, moved, "pan") == pytest.approx(dx, abs=0.1)
        assert abs(view_motion(view, moved, "zoom")) < 0.002
    scene = texture(96, 128, seed=1)
    assert view_motion(scene, zoomed(scene, 1.04), "zoom") == pytest.approx(0.04, abs=0.004)
    assert view_motion(scene, zoomed(scene, 0.96), "zoom") == pytest.approx(-0.04, abs=0.004)
    assert abs(view_motion(scene, zoomed(scene, 1.04), "pan")) < 0.1


def test_flow_on_an_engine_turn_has_the_projections_sign_and_size():
    game = make_game("MAP01", 0, depth=False)
    engine = Engine()
    engine.game = game
    try:
        x = np.arange(8, 120) + 0.5 - 64                  # the columns view_motion averages
        per_tic = [np.mean(FX * np.tan(np.arctan(x / FX) + np.radians(d)) - x) for d in [1.758] * 5 + [3.516] * 7]
        for key, sign in (("TURN_LEFT", 1), ("TURN_RIGHT", -1)):
            frames = engine.play(hold({key}, 12) + hold(set(), 4))
            measured = sum(view_motion(a, b, "pan") for a, b in itertools.pairwise(frames[:13]))
            assert 0.7 < sign * measured / sum(per_tic) < 1.1
        walk = engine.play(hold({"MOVE_FORWARD"}, 12))
        back = engine.play(hold(set(), 60) + hold({"MOVE_BACKWARD"}, 12))[60:]
        assert sum(view_motion(a, b, "zoom") for a, b in itertools.pairwise(walk)) > 0.02
        assert sum(view_motion(a, b, "zoom") for a, b in itertools.pairwise(back)) < -0.02
    finally:
        engine.close()


def test_replayed_starts_are_the_captured_frames(engine_data):
    recorded = {}
    for path in shard_paths(engine_data):
        d = read_npz(path, ("frames", "episode_start", "map", "episode_seed"))
        for a in np.flatnonzero(d["episode_start"]):
            recorded[(capture.MAPS[d["map"][a]], int(d["episode_seed"][a]))] = d["frames"][a:]
    starts = held_out_starts([engine_data], 3, seed=0)
    engine = Engine()
    try:
        for start in starts:
            at = len(start.actions)
            want = area_resize(recorded[(start.map_name, start.episode_seed)][at - CONTEXT + 1:at + 1], FRAME_H, FRAME_W)
            np.testing.assert_array_equal(engine.goto(start), want)
    finally:
        engine.close()
    assert len({s.map_name for s in starts}) == 2         # spread over both maps


def test_the_revisit_comes_back_to_where_the_settle_ended(engine_data):
    """A held-out start is mid-walk: the way back is measured from the start view's place (after
    the settle), and playing the script in two parts gives the same frames."""
    script, _ = revisit_script()
    engine = Engine()
    try:
        start = held_out_starts([engine_data], 1, seed=2)[0]
        engine.goto(start)
        whole = engine.play(script)
        end = engine.pose()
        engine.goto(start)
        engine.play(script[:SETTLE_TICS])
        settled = engine.pose()
        engine.goto(start)
        frames, back = engine_revisit(engine, script)
    finally:
        engine.close()
    np.testing.assert_array_equal(frames, whole)
    assert back == pytest.approx(float(np.hypot(*(end[:2] - settled[:2]))))


def test_a_frozen_world_neither_moves_nor_remembers(engine_data, tmp_path):
    starts = held_out_starts([engine_data], 2, seed=1)
    response = action_response(FrozenWorld(), starts[:1])
    assert set(response) == set(MOTIONS)
    for name in ("turn_left", "turn_right"):
        assert response[name]["engine_right_direction"] == 1.0
        assert response[name]["ratio_median"] == 0.0 and response[name]["right_direction"] == 0.0
    memory = memory_tests(FrozenWorld(), starts, tmp_path)
    assert memory["lookback_runs"] == 2 and memory["engine_lookback_db"] > 12
    assert memory["model_lookback_db"] == 0.0 and memory["turn_ratio"] == 0.0
    assert memory["engine_turn_px"] > 60                  # ~90° in the direction turned
    assert memory["model_revisit_db"] == 0.0 and memory["walk_ratio"] == 0.0
    # revisit again where the engine came back: the runs it ended within RETURN_UNITS of its start
    back = memory["per_run"]["engine_back_units"]
    assert len(back) == 2 and memory["returned_tried"] == 2
    returned = [b <= RETURN_UNITS for b in back]
    assert memory["returned_runs"] == sum(returned)
    assert memory["model_returned_revisit_db"] == (0.0 if any(returned) else None)
    # from one start, drawn on to the next when the engine did not come back from the first
    drawn = memory_tests(FrozenWorld(), starts[:1], tmp_path, more_starts=starts[1:])
    assert drawn["returned_tried"] == (1 if returned[0] else 2)
    assert drawn["returned_runs"] == int(returned[0] or returned[1])
    sheet = cv2.imread(str(tmp_path / "lookback_contact_sheet.png"))
    assert sheet.shape == (2 * 2 * FRAME_H, 3 * 2 * FRAME_W, 3)


def test_eval_cli_writes_report_plots_video_and_contact_sheets(tmp_path, tiny_pack, engine_data, capsys):
    out = tmp_path / "report"
    assert main.main(["eval", "--world", str(tiny_pack), "--data", str(engine_data), "--out", str(out),
                      "--trajectories", "2", "--teacher-forced", "3", "--response-segments", "1",
                      "--lookback", "--lookback-starts", "1", "--long", "--long-steps", "120",
                      "--denoise-steps", "1", "--ctx-noise", "0.05"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sampler"] == {"steps": 1, "ctx_noise": 0.05}
    seen = report["seen_maps"]
    assert seen["trajectories"] == 2 and set(seen["horizons"]) == {"1", "25", "100"}
    trajs, data = trajectories([engine_data], 2, CONTEXT + 100, 0)
    for h in (1, 25, 100):             # copy-last is the last seed frame against the real frame h later
        errors = [mse(f[CONTEXT - 1], f[CONTEXT - 1 + h]) for f, _ in trajs]
        assert abs(seen["horizons"][str(h)]["copy_psnr"] - 10 * np.log10(255 ** 2 / np.mean(errors))) < 1e-3
        assert abs(seen["horizons"][str(h)]["copy_psnr_frame_mean"] - np.mean([psnr_from_mse(e) for e in errors])) < 1e-3
        for key in ("psnr", "ssim", "ceiling_psnr", "sharpness_ratio", "ceiling_sharpness_ratio"):
            assert np.isfinite(seen["horizons"][str(h)][key])
    tf_starts = spread_windows(data, 3, CONTEXT + 1, 7)
    tf_copy = np.mean([mse(data.frames[s + CONTEXT - 1], data.frames[s + CONTEXT]) for s in tf_starts])
    assert seen["teacher_forced"]["windows"] == 3
    assert abs(seen["teacher_forced"]["copy_psnr"] - 10 * np.log10(255 ** 2 / tf_copy)) < 1e-3
    assert len(seen["curve_psnr"]) == 100
    assert set(report["action_response"]) == set(MOTIONS)
    assert report["action_response"]["turn_left"]["engine_motion"] > 0 > report["action_response"]["turn_right"]["engine_motion"]
    assert report["memory"]["lookback_runs"] == 1
    long = report["long"]
    assert long["steps"] == 120 and set(long["sharpness_ratio"]) == {"horizon_100"}
    assert 0 <= long["colour_in_real_range"] <= 1
    assert long["turn_at_end"]["engine"]["left_px"] > 0 > long["turn_at_end"]["engine"]["right_px"]
    names = ("psnr_vs_horizon.png", "action_response.png", "sharpness_over_minutes.png",
             "lookback_contact_sheet.png", "long_contact_sheet.png")
    assert sorted(report["figures"].values()) == sorted(names)
    md = (out / "report.md").read_text()
    for name in names:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in md
    assert (out / "engine_vs_model.mp4").stat().st_size > 1000
    assert "| turn left |" in md and "| look back" in md
    assert "seen_maps    h=1" in capsys.readouterr().out


def test_psnr_plot_has_units_legend_baselines_and_a_dated_title(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(eval_plots, "save", lambda fig, path: figures.append(fig))
    curve = list(np.linspace(20, 15, 100))
    horizons = {str(h): {"ceiling_psnr": 24.0} for h in (1, 25, 100)}
    report = {"seen_maps": {"curve_psnr": curve, "curve_copy_psnr": curve, "horizons": horizons,
                            "teacher_forced": {"psnr": 21.0}}}
    eval_plots.psnr_plot(tmp_path / "p.png", report, "freedoom world, 2026-12-01")
    ax = figures[0].axes[0]
    assert "freedoom" in ax.get_title() and "2026-12-01" in ax.get_title()
    assert "(dB)" in ax.get_ylabel() and "40 ms" in ax.get_xlabel()
    labels = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert any("copy last frame" in t for t in labels) and any("tokenizer ceiling" in t for t in labels)


def test_shards_without_episode_seeds_exit_2_before_making_out(tmp_path, tiny_pack, capsys):
    data = write_fake_shards(tmp_path / "data", n=1, t=130)       # no map or episode_seed arrays
    out = tmp_path / "report"
    assert main.main(["eval", "--world", str(tiny_pack), "--data", str(data), "--out", str(out),
                      "--trajectories", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard_00000.npz" in err[0] and "episode_seed" in err[0]
    assert not out.exists()
