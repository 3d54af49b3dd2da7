"""Shared fixtures: a tiny untrained world pack built once per test run.

Real ONNX Runtime sessions on real (tiny) ONNX files: only hardware and time are faked.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def make_seed_file(path: Path, n_frames: int = 4, seed: int = 0, name: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_frames, 96, 128, 3), dtype=np.uint8)
    actions = rng.integers(0, 2, (n_frames - 1, 8), dtype=np.uint8)
    np.savez_compressed(path, frames=frames, actions=actions, name=np.array(name or path.stem))
    return path


def _pack_folder(tmp_path_factory, name: str) -> Path:
    """A pack folder with two synthetic scene seeds: four frames with actions, and one frame."""
    root = tmp_path_factory.mktemp("worlds") / name
    (root / "seeds").mkdir(parents=True)
    make_seed_file(root / "seeds" / "alpha.npz", seed=1)
    make_seed_file(root / "seeds" / "beta.npz", n_frames=1, seed=2)
    return root


@pytest.fixture(scope="session")
def tiny_pack(tmp_path_factory) -> Path:
    """An untrained 'tiny' latent world pack."""
    from model.train.export import random_modules, write_pack
    root = _pack_folder(tmp_path_factory, "tinyworld")
    tokenizer, dynamics = random_modules("tiny")
    write_pack(tokenizer, dynamics, root, world_id="tinyworld", title="Tiny", sampler={"steps": 2})
    return root


@pytest.fixture(scope="session")
def geo_pack(tmp_path_factory) -> Path:
    """An untrained 'tiny' geometry-aware world pack, with a made-up atlas."""
    from model.train.atlas_build import random_atlas
    from model.train.geo_export import random_geo, write_geo_pack
    root = _pack_folder(tmp_path_factory, "tinygeo")
    atlas = random_atlas(tmp_path_factory.mktemp("atlas") / "atlas.npz")
    write_geo_pack(random_geo("tiny"), root, world_id="tinygeo", title="Tiny geometry", sampler={"steps": 2},
                   extras={"atlas": atlas})
    return root


@pytest.fixture
def tiny_world(tiny_pack):
    from model.play.runtime import open_world
    return open_world(str(tiny_pack))


@pytest.fixture
def gpu_on_cpu(monkeypatch):
    """Both GPU backends, on this CPU machine under their own names: 'cuda-onnx' is ONNX
    Runtime asked for CUDA and given the CPU, 'cuda' is PyTorch asked for CUDA and given the CPU."""
    import model.play.backends as backends
    from model.nets import torch_backend
    ort_session = backends.ort_session
    monkeypatch.setattr(backends, "_ort_cuda", lambda: True)
    monkeypatch.setattr(backends, "_torch_cuda", lambda: True)
    monkeypatch.setattr(backends, "ort_session",
                        lambda path, opts, provider: ort_session(path, opts, "CPUExecutionProvider"))

    class TorchAskedForCuda(torch_backend.TorchBackend):
        def __init__(self, pack, device="cuda"):
            super().__init__(pack, "cpu")
            self.name = "cuda" if device == "cuda" else "torch"
    monkeypatch.setattr(torch_backend, "TorchBackend", TorchAskedForCuda)
