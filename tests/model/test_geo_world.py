"""The geometry-aware world: its networks, its ONNX export against torch, and its session."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from model.nets.geonets import GEO_PRESETS, GeoWorld, make_prior
from model.play.errors import UserError
from model.play.runtime import open_world


def _inputs(rng, k=8):
    frame = rng.uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    actions = rng.integers(0, 2, (1, k, 8)).astype(np.float32)
    motions = rng.normal(0, 1, (1, k, 4)).astype(np.float32)
    return frame, actions, motions


def test_an_untrained_painter_returns_the_warped_prior():
    """Zero-initialised head: before any painting is learned, the camera already moves."""
    world = GeoWorld(GEO_PRESETS["tiny"]).eval()
    frame, actions, motions = (torch.from_numpy(a) for a in _inputs(np.random.default_rng(0)))
    with torch.no_grad():
        prior, valid, weapon, motion, depth = world.observe(frame, actions, motions)
        out = world.painter(torch.randn_like(frame), torch.ones(1), prior, valid, frame, weapon,
                            torch.zeros(1, 8), torch.zeros(1), torch.zeros_like(frame), valid)
    torch.testing.assert_close(out, prior)
    assert motion.shape == (1, 4) and valid.shape == (1, 1, 96, 128) and depth.shape == (1, 96, 128)


def test_the_weapon_stays_in_place_on_screen():
    frame = torch.rand(1, 3, 96, 128) * 2 - 1
    depth = torch.full((1, 96, 128), 100.0)
    weapon_logit = torch.full((1, 96, 128), -5.0)
    weapon_logit[:, 70:, 50:80] = 5.0
    prior, valid, weapon = make_prior(frame, depth, weapon_logit, torch.tensor([[3.52, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(prior[:, :, 70:, 50:80], frame[:, :, 70:, 50:80])
    assert not torch.allclose(prior[:, :, :60], frame[:, :, :60])          # the rest turned
    assert valid[:, :, 70:, 50:80].eq(1).all() and weapon.sum() == 26 * 30


def test_onnx_graphs_match_torch(geo_pack):
    """observe.onnx and painter.onnx against the same weights in torch, on the same inputs."""
    world = open_world(str(geo_pack))
    cpu, ref = world.session(backend="cpu").backend, world.session(backend="torch").backend
    frame, actions, motions = _inputs(np.random.default_rng(1))
    got, want = cpu.observe(frame, actions, motions), ref.observe(frame, actions, motions)
    for name, a, b in zip(("prior", "valid", "weapon", "motion", "depth"), got, want):
        assert np.abs(a - b).mean() < 2e-3 * max(1.0, float(np.abs(b).mean())), name
    motion = np.array([[30.0, 20.0, -5.0, 1.0]], np.float32)
    kept = np.concatenate([frame, np.ones_like(frame[:, :1]), want[4][:, None]], axis=1)     # colour, trust, seen depth
    for a, b in zip(cpu.recall(kept, want[4], motion), ref.recall(kept, want[4], motion)):
        assert np.abs(a - b).mean() < 2e-3
    feed = {"x_tau": frame, "tau": np.ones(1, np.float32), "prior": want[0], "valid": want[1], "prev": frame,
            "weapon": want[2], "action": actions[:, -1], "ctx_noise": np.zeros(1, np.float32),
            "memory": frame, "memory_valid": want[1]}
    np.testing.assert_allclose(cpu.paint(**feed), ref.paint(**feed), atol=2e-3)


def test_sessions_are_deterministic_and_rewind_exactly(geo_pack):
    world = open_world(str(geo_pack))
    seed = world.load_seed("alpha")
    rng = np.random.default_rng(3)
    actions = rng.integers(0, 2, (12, 8)).astype(np.uint8)
    runs = []
    for _ in range(2):
        session = world.session(backend="cpu")
        session.reset(seed, rng_seed=5)
        runs.append([session.step(a) for a in actions])
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))
    session = world.session(backend="cpu")
    session.reset(seed, rng_seed=5)
    for a in actions[:6]:
        session.step(a)
    snap = session.snapshot()
    later = [session.step(a) for a in actions[6:]]
    session.restore(snap)
    np.testing.assert_array_equal(np.stack([session.step(a) for a in actions[6:]]), np.stack(later))
    assert runs[0][0].shape == (96, 128, 3) and runs[0][0].dtype == np.uint8
    assert session.timings.geometry_ms > 0 and session.timings.passes == 2


def test_one_image_seed_starts_with_no_history(geo_pack):
    world = open_world(str(geo_pack))
    session = world.session(backend="cpu", steps=1)
    first = session.reset(world.load_seed("beta"), rng_seed=0)
    assert session.step(np.zeros(8, np.uint8)).shape == first.shape


@pytest.mark.parametrize("role", ["observe", "recall", "painter"])
def test_a_missing_or_tampered_geometry_model_is_refused_by_name(geo_pack, tmp_path, role):
    pack = tmp_path / "pack"
    shutil.copytree(geo_pack, pack)
    (pack / f"{role}.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match=f"{role}.onnx: sha256 does not match"):
        open_world(str(pack)).session(backend="cpu")
    (pack / f"{role}.onnx").unlink()
    with pytest.raises(UserError, match=f"{role}.onnx: model file missing"):
        open_world(str(pack)).session(backend="cpu")


def test_a_geometry_pack_needs_its_config(geo_pack, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(geo_pack, pack)
    meta = json.loads((pack / "world.json").read_text())
    del meta["config"]["geometry"]["history"]
    (pack / "world.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="config.geometry"):
        open_world(str(pack))


def test_a_pack_from_before_the_light_still_plays(geo_pack, tmp_path):
    """Its recall graph takes colour and trust only (4 channels): the session carries no seen
    depth and nothing is relit; replay stays exact."""
    import warnings

    from model.nets.geonets import recall
    from model.play.pack import sha256_file
    from model.train.export import OPSET

    class OldRecall(torch.nn.Module):
        def forward(self, frame, depth, motion):
            return recall(frame, depth, motion)

    pack = tmp_path / "old"
    shutil.copytree(geo_pack, pack)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(OldRecall(), (torch.zeros(1, 4, 96, 128), torch.full((1, 96, 128), 100.0), torch.zeros(1, 4)),
                          str(pack / "recall.onnx"), input_names=["frame", "depth", "motion"],
                          output_names=["memory", "memory_valid"], opset_version=OPSET, dynamo=False)
    meta = json.loads((pack / "world.json").read_text())
    meta["models"]["recall"]["sha256"] = sha256_file(pack / "recall.onnx")
    (pack / "world.json").write_text(json.dumps(meta))
    world = open_world(str(pack))
    runs = []
    for _ in range(2):
        session = world.session(backend="cpu")
        session.reset(world.load_seed(None))
        runs.append(np.stack([session.step(np.eye(8, dtype=np.uint8)[k % 3]) for k in range(12)]))
    assert session.backend.recall_channels == 4 and not session._lit
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[1][-1], session._frame)     # no "shown" output: the view is the carried frame
