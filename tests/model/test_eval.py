"""`eval` end to end on a tiny untrained world: the report's figures are the right ones."""
import json

import numpy as np

import main
from model.train.evaluate import CONTEXT, spread_windows, trajectories
from model.train.metrics import mse, psnr_from_mse
from model.train.train_data import load_frames
from tests.model.test_train import write_fake_shards


def test_windows_are_disjoint_and_taken_from_every_episode_in_turn(tmp_path):
    data = load_frames([write_fake_shards(tmp_path / "data", n=3, t=130)])   # 3 episodes of 130 frames
    starts = spread_windows(data, count=5, length=30, seed=0)
    assert len(starts) == 5
    assert all(b - a >= 30 for a, b in zip(starts, starts[1:]))               # no overlap
    assert all(data.episode[s] == data.episode[s + 29] for s in starts)       # inside one episode
    assert len({int(data.episode[s]) for s in starts}) == 3                   # every episode
    assert len(spread_windows(data, count=99, length=30, seed=0)) == 3 * 4    # 4 fit in 130 frames


def test_eval_cli_writes_report_plot_video_and_contact_sheet(tmp_path, tiny_pack, capsys):
    data = write_fake_shards(tmp_path / "data", n=2, t=130)
    out = tmp_path / "report"
    assert main.main(["eval", "--world", str(tiny_pack), "--data", str(data), "--out", str(out),
                      "--trajectories", "2", "--long", "--long-steps", "40",
                      "--denoise-steps", "1", "--ctx-noise", "0.05"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sampler"] == {"steps": 1, "ctx_noise": 0.05}
    seen = report["seen_maps"]
    assert seen["trajectories"] == 2 and set(seen["horizons"]) == {"1", "25", "100"}
    trajs, _ = trajectories([data], 2, CONTEXT + 100, 0)
    for h in (1, 25, 100):             # copy-last is the last seed frame against the real frame h later
        errors = [mse(f[CONTEXT - 1], f[CONTEXT - 1 + h]) for f, _ in trajs]
        assert abs(seen["horizons"][str(h)]["copy_psnr"] - 10 * np.log10(255 ** 2 / np.mean(errors))) < 1e-3
        assert abs(seen["horizons"][str(h)]["copy_psnr_frame_mean"] - np.mean([psnr_from_mse(e) for e in errors])) < 1e-3
        for key in ("psnr", "ssim", "ceiling_psnr", "sharpness_ratio", "ceiling_sharpness_ratio"):
            assert np.isfinite(seen["horizons"][str(h)][key])
    assert len(seen["curve_psnr"]) == 100
    assert set(report["action_response"]) == {"TURN_LEFT", "TURN_RIGHT", "MOVE_FORWARD"}
    assert report["action_response"]["TURN_LEFT"]["engine_shift_px"] > 0 > report["action_response"]["TURN_RIGHT"]["engine_shift_px"]
    assert report["long"]["steps"] == 40 and 0 <= report["long"]["colour_in_real_range"] <= 1
    for name in ("psnr_vs_horizon.png", "engine_vs_model.mp4", "long_contact_sheet.png"):
        assert (out / name).stat().st_size > 1000
    assert "seen_maps    h=1" in capsys.readouterr().out
