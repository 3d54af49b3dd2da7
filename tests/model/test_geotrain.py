"""Training the geometry-aware world on a tiny capture: losses fall, runs resume, export works,
and shards without geometry are refused by name."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

pytest.importorskip("vizdoom")

from model.nets.geonets import GEO_PRESETS, DepthNet, MotionNet  # noqa: E402
from model.play.errors import UserError  # noqa: E402
from model.train import capture  # noqa: E402
from model.train.dataset import read_npz, shard_paths, write_npz  # noqa: E402
from model.train.geodata import load_geo  # noqa: E402
from model.nets.geonets import depth_features  # noqa: E402
from model.nets.tokenizer import frames_to_float  # noqa: E402
from model.train.geotrain import DepthLoss, MotionLoss, motion_features, motion_inputs, train  # noqa: E402


@pytest.fixture(scope="module")
def geo_capture(tmp_path_factory):
    out = tmp_path_factory.mktemp("geocap")
    args = argparse.Namespace(out=str(out), frames=800, maps="MAP01", seed=3, workers=1, policy="explorer",
                              report=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(capture, "SHARD_FRAMES", 400)
        capture.run(args)
    return out


def _mean_loss(loss, steps, seed=99):
    with torch.no_grad():
        return float(np.mean([loss(np.random.default_rng([seed, i])).item() for i in range(steps)]))


def test_depth_and_motion_losses_fall(geo_capture, tmp_path):
    data = load_geo([geo_capture])
    cfg = GEO_PRESETS["tiny"]
    for i, (name, net, make) in enumerate((("geo_depth", DepthNet(cfg), lambda n: DepthLoss(n, data, 4)),
                            ("geo_motion", MotionNet(cfg), lambda n: MotionLoss(n, data, 64)))):
        loss = make(net)
        before = _mean_loss(loss, 4)
        train(name, loss, net, tmp_path / str(i), minutes=5, lr=3e-3, seed=0, max_steps=60)
        assert _mean_loss(loss, 4) < 0.8 * before, name


def test_motion_history_stops_at_the_episode_start(geo_capture):
    data = load_geo([geo_capture])
    start = int(np.flatnonzero(np.diff(data.base.episode))[0]) + 1     # first frame of the second episode
    actions, motions = motion_inputs(data, np.array([start + 2]), 8)
    assert actions[0, :5].abs().sum() == 0 and motions[0, :6].abs().sum() == 0      # nothing from before
    np.testing.assert_array_equal(actions[0, -1].numpy(), data.base.actions[start + 2])
    np.testing.assert_allclose(motions[0, -1].numpy(), data.motion[start + 1])


def test_the_motion_net_trains_on_the_depth_it_sees_at_play(geo_capture, tmp_path):
    """With a depth net, the motion features are its depth's (as play computes them), kept in
    the cache for the same net and made again for another."""
    data = load_geo([geo_capture])
    cfg = GEO_PRESETS["tiny"]
    torch.manual_seed(0)
    depth = DepthNet(cfg)
    with torch.no_grad():
        frames = frames_to_float(torch.from_numpy(data.base.frames[:300]))
        want = depth_features(depth(frames)[0])
    made = motion_features(data, depth, cache=tmp_path)
    assert made.shape == (len(data), want.shape[1])
    np.testing.assert_allclose(made[:300].numpy(), want.numpy(), atol=0.05)     # bf16 where the CPU has it
    engine = motion_features(data)
    assert (made - engine).abs().mean() > 0.1          # an untrained net's depth is not the buffer's
    stored = np.load(tmp_path / "motion_features.npy", allow_pickle=False)
    np.save(tmp_path / "motion_features.npy", stored + 1.0, allow_pickle=False)   # marked: a cache hit returns it
    np.testing.assert_allclose(motion_features(data, depth, cache=tmp_path).numpy(), stored + 1.0)
    with torch.no_grad():
        next(depth.parameters()).add_(0.5)
    np.testing.assert_allclose(motion_features(data, depth, cache=tmp_path).numpy()[:300],
                               depth_features(depth(frames)[0]).detach().numpy(), atol=0.05)


def test_cli_trains_resumes_and_exports_a_pack(geo_capture, tmp_path):
    import main
    from model.play.runtime import open_world
    common = ["train", "--design", "geometry", "--data", str(geo_capture), "--out", str(tmp_path / "run"),
              "--preset", "tiny", "--batch", "2", "--max-steps", "3", "--rollout", "2", "--map-views", "40"]
    assert main.main(common) == 0
    assert main.main(common) == 0                                # resumes: three more steps each
    from model.train.runs import stage_meta
    assert stage_meta(tmp_path / "run", "geo_painter")["step"] == 6
    light = stage_meta(tmp_path / "run", "geo_light")["extra"]["report"]     # fitted once, on the engine's frames
    assert light["pixels"] > 100_000 and light["with"]["rms"] < light["without"]["rms"]
    assert abs(light["with"]["mean"]) < abs(light["without"]["mean"])
    from model.train.train_log import read_log
    assert [r["step"] for r in read_log(tmp_path / "run" / "geo_painter.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert (tmp_path / "run" / "geo_depth_loss.png").is_file()
    pack = tmp_path / "pack"
    assert main.main(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(pack),
                      "--seeds-from", "assets/worlds/freedoom"]) == 0
    session = open_world(str(pack)).session(backend="cpu")
    session.reset(open_world(str(pack)).load_seed(None))
    assert session.step(np.zeros(8, np.uint8)).shape == (96, 128, 3)
    assert len(session.atlas) == len(np.load(tmp_path / "run" / "atlas.npz")["frames"]) > 0   # built once per run
    assert session.atlas.world.mean() < 1                        # the weapon sprite is no part of the world
    views = np.load(tmp_path / "run" / "map.npz")["levels"]
    assert len(session.worldmap) == len(views) and 30 <= len(views) <= 40      # each map's share, rounded
    assert (views == 0).any() and (views > 0).mean() > 0.5      # the weapon marked, the world's depth kept
    latent = tmp_path / "latent"                                 # a latent pack becomes a geometry one
    assert main.main(["export", "--random", "--preset", "tiny", "--out", str(latent),
                      "--seeds-from", "assets/worlds/freedoom"]) == 0
    (latent / "tours").mkdir()
    (latent / "tours" / "walk.json").write_text("{}")
    assert main.main(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(latent)]) == 0
    files = sorted(p.name for p in latent.iterdir())
    assert files == ["atlas.npz", "map.npz", "observe.onnx", "painter.onnx", "recall.onnx", "seeds", "tours",
                     "weights.safetensors", "world.json"], files  # no stale encoder/decoder/dynamics
    assert open_world(str(latent)).pack.design == "geometry"


def test_warm_start_goes_on_from_a_packs_nets(geo_capture, tmp_path, capsys):
    """train --warm-start PACK: the run's stages begin as the pack's nets (here only the motion
    net trains on), its light and map come along, and a latent pack is refused by name."""
    import main
    from model.nets.checkpoint import read_tensors
    from model.train.geo_export import random_geo, write_geo_pack
    from model.train.runs import stage_meta
    from model.play.worldmap import save_map
    rng = np.random.default_rng(0)
    save_map(tmp_path / "map.npz", rng.integers(0, 256, (2, 96, 128, 3), dtype=np.uint8),
             rng.integers(1, 64, (2, 96, 128), dtype=np.uint8), np.zeros((2, 4)), np.zeros(2))
    pack = write_geo_pack(random_geo("tiny", seed=5), tmp_path / "pack", extras={"map": tmp_path / "map.npz"},
                          training={"geo_motion_steps": 10})
    run = tmp_path / "run"
    common = ["train", "--design", "geometry", "--data", str(geo_capture), "--out", str(run), "--warm-start", str(pack),
              "--depth-minutes", "0", "--painter-minutes", "0", "--max-steps", "2", "--map-views", "0", "--atlas-views", "0"]
    assert main.main(common) == 0
    shipped, _ = read_tensors(pack / "weights.safetensors")
    depth, _ = read_tensors(run / "geo_depth.safetensors")
    for k, v in depth.items():
        if k.startswith("model."):
            torch.testing.assert_close(v, shipped["depth." + k[len("model."):]].float())
    motion, _ = read_tensors(run / "geo_motion.safetensors")
    assert stage_meta(run, "geo_motion")["step"] == 12 and stage_meta(run, "geo_depth")["step"] == 0   # the pack's + 2
    assert not torch.equal(motion["model.net.0.weight"], shipped["motion.net.0.weight"].float())   # trained on
    light, _ = read_tensors(run / "geo_light.safetensors")
    torch.testing.assert_close(light["model.falloff"], shipped["light.falloff"].float())
    assert (run / "map.npz").read_bytes() == (pack / "map.npz").read_bytes()
    out = tmp_path / "again"
    assert main.main(["export", "--checkpoint", str(run), "--out", str(out)]) == 0
    record = json.loads((out / "world.json").read_text())["training"]
    assert record["geo_motion_steps"] == 12 and record["warm_start"] == {"pack": str(pack), "training": {"geo_motion_steps": 10}}
    assert main.main(common) == 0                     # an existing run resumes: the pack is not read again
    assert stage_meta(run, "geo_motion")["step"] == 14
    latent = tmp_path / "latent"
    assert main.main(["export", "--random", "--preset", "tiny", "--out", str(latent)]) == 0
    capsys.readouterr()
    assert main.main(common[:6] + [str(tmp_path / "other"), "--warm-start", str(latent)] + common[9:]) == 2
    assert "--warm-start needs a geometry world pack" in capsys.readouterr().err


def test_shards_without_geometry_are_refused_by_name(geo_capture, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    keys = ("frames", "actions", "vars", "episode_start", "map", "episode_seed")
    write_npz(old / "shard_00000.npz", read_npz(shard_paths(geo_capture)[0], keys))
    with pytest.raises(UserError, match=r"shard_00000.npz: no geometry"):
        load_geo([old])


def test_bf16_autocast_gives_the_fp32_losses(geo_capture):
    """Same weights, same batch: each stage's loss under bf16 autocast is within 3% of fp32's."""
    from model.nets.geonets import Painter
    from model.train.geotrain import PainterLoss
    data = load_geo([geo_capture])
    cfg = GEO_PRESETS["tiny"]
    torch.manual_seed(0)
    depth, motion, painter = DepthNet(cfg), MotionNet(cfg), Painter(cfg)
    with torch.no_grad():
        painter.net.head.weight.normal_(0, 0.02)
    for loss in (DepthLoss(depth, data, 4), MotionLoss(motion, data, 64),
                 PainterLoss(painter, depth, motion, data, 4, rollout=2)):
        values = []
        for bf16 in (False, True):
            torch.manual_seed(1)
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                values.append(loss(np.random.default_rng(5)).item())
        assert abs(values[1] - values[0]) <= 0.03 * abs(values[0]), (type(loss).__name__, values)


def test_benchmark_times_the_three_geometry_stages(capsys):
    import main
    assert main.main(["train", "--design", "geometry", "--benchmark", "--preset", "tiny", "--batch", "2",
                      "--benchmark-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "native bf16" in out or "emulated" in out
    rows = [line for line in out.splitlines() if line.startswith("geo_")]
    assert [r.split()[0] for r in rows] == ["geo_depth", "geo_motion", "geo_painter"]
    assert all(r.rstrip().endswith("x") for r in rows)
