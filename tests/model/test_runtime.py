"""The world session: ring buffer, backends, determinism, snapshots (tiny pack, CPU)."""
import json
import shutil

import numpy as np
import pytest
import torch

from model.nets.checkpoint import load_world_modules
from model.nets.flow import action_vectors, rollout
from model.play.pack import sha256_file
from model.play.runtime import open_world
from model.train.export import quantize_int8


def _actions(n, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (n, 8)).astype(np.uint8)


def _latent_of_session(session):
    z = session._pending[0]
    return z.numpy() if isinstance(z, torch.Tensor) else z


def test_ring_buffer_equals_recomputation_from_scratch(tiny_world):
    """Stepped well past W frames, the cached session equals a from-scratch rollout."""
    session = tiny_world.session(backend="torch", steps=2)
    window = session.window
    seed = tiny_world.load_seed("alpha")
    actions = _actions(window * 3 + 2)
    session.reset(seed, rng_seed=5)
    got = []
    for a in actions:
        session.step(a)
        got.append(_latent_of_session(session))

    tokenizer, dynamics = load_world_modules(tiny_world.pack, "cpu")
    rng = np.random.Generator(np.random.PCG64(5))
    shape = tuple(got[0].shape)
    noises = torch.from_numpy(np.stack([rng.standard_normal(shape, dtype=np.float32) for _ in actions]))
    with torch.no_grad():
        z_ctx = tokenizer.encode(torch.from_numpy(seed.frames))[None]
        cond = action_vectors(torch.from_numpy(seed.actions)[None])
        ref = rollout(dynamics, z_ctx, cond, noises[None], torch.from_numpy(actions)[None], steps=2)[0]
    np.testing.assert_allclose(np.stack(got), ref.numpy(), atol=2e-4)


def test_onnx_matches_torch(tiny_world):
    """ONNX Runtime (the shipped path) and PyTorch agree: latents within 2e-4, frames within 1 level."""
    seed = tiny_world.load_seed("alpha")
    outs = {}
    for backend in ("cpu", "torch"):
        session = tiny_world.session(backend=backend)
        session.reset(seed, rng_seed=3)
        frames, latents = [], []
        for a in _actions(30, seed=1):
            frames.append(session.step(a).astype(np.int16))
            latents.append(_latent_of_session(session))
        outs[backend] = np.stack(frames), np.stack(latents)
    np.testing.assert_allclose(outs["cpu"][1], outs["torch"][1], atol=2e-4)
    assert np.abs(outs["cpu"][0] - outs["torch"][0]).max() <= 1


def test_same_inputs_same_frames_bit_for_bit(tiny_world):
    seed = tiny_world.load_seed("alpha")
    runs = []
    for rng_seed in (11, 11, 12):
        session = tiny_world.session(backend="cpu")
        session.reset(seed, rng_seed)
        runs.append(np.stack([session.step(a) for a in _actions(20)]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_snapshot_restore_reproduces_the_future(tiny_world):
    session = tiny_world.session(backend="cpu")
    session.reset(tiny_world.load_seed("beta"), 4)
    actions = _actions(30, seed=2)
    for a in actions[:10]:
        session.step(a)
    snap = session.snapshot()
    first = np.stack([session.step(a) for a in actions[10:]])
    session.restore(snap)
    again = np.stack([session.step(a) for a in actions[10:]])
    assert np.array_equal(first, again)


def test_steps_change_between_frames(tiny_world):
    session = tiny_world.session(backend="cpu", steps=1)
    session.reset(tiny_world.load_seed("alpha"), 0)
    for steps in (1, 2, 3, 4, 2):
        session.steps = steps
        session.step(np.zeros(8, np.uint8))
        assert session.timings.passes == steps
    with pytest.raises(Exception, match="1..4"):
        session.steps = 5


def test_adaptive_steps_skip_on_a_settled_view(tiny_world):
    session = tiny_world.session(backend="cpu", steps=4, adaptive=True, adaptive_threshold=1e9)
    session.reset(tiny_world.load_seed("alpha"), 0)
    session.step(np.zeros(8, np.uint8))
    assert session.timings.passes == 1          # everything counts as settled
    session = tiny_world.session(backend="cpu", steps=4, adaptive=True, adaptive_threshold=0.0)
    session.reset(tiny_world.load_seed("alpha"), 0)
    session.step(np.zeros(8, np.uint8))
    assert session.timings.passes == 4


def test_thirty_thousand_steps_fixed_memory_and_ages(tiny_world):
    """Positions never overflow: frame numbers grow, the model only ever sees ages 0..W."""
    session = tiny_world.session(backend="cpu", steps=1)
    session.reset(tiny_world.load_seed("alpha"), 0)
    ring = session.backend.k
    seen_ages = set()
    zero = np.zeros(8, np.uint8)
    for i in range(30_000):
        session.step(zero)
        if i % 997 == 0:
            ages = session._ages(session.frame_index, in_call=[[0]])
            seen_ages.update(ages.ravel().tolist())
    assert session.frame_index == 30_000 + len(tiny_world.load_seed("alpha").frames) - 1
    assert session.backend.k is ring and session.backend.k.shape == ring.shape
    assert seen_ages <= set(range(-1, session.window + 1))
    assert np.isfinite(session.frame).all()


def test_int8_pack_stays_close_to_fp32(tiny_pack, tmp_path):
    """The int8 lever: same weights, matmuls quantized; latents stay within 10% of their spread."""
    pack = tmp_path / "int8"
    shutil.copytree(tiny_pack, pack)
    quantize_int8(pack / "dynamics.onnx")
    meta = json.loads((pack / "world.json").read_text())
    meta["models"]["dynamics"]["sha256"] = sha256_file(pack / "dynamics.onnx")
    (pack / "world.json").write_text(json.dumps(meta))
    assert (pack / "dynamics.onnx").stat().st_size < (tiny_pack / "dynamics.onnx").stat().st_size
    latents = []
    for root in (tiny_pack, pack):
        world = open_world(str(root))
        session = world.session(backend="cpu")
        session.reset(world.load_seed("alpha"), 2)
        latents.append(np.stack([(session.step(a), _latent_of_session(session))[1] for a in _actions(10)]))
    spread = latents[0].std()
    assert np.abs(latents[0] - latents[1]).mean() < 0.1 * spread
