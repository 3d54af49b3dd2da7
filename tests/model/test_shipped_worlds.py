"""The world packs in assets/: each opens, verifies its model files, and plays on the CPU."""
from __future__ import annotations

import numpy as np
import pytest

from model.play.pack import REPO_WORLDS
from model.play.runtime import open_world

PACKS = sorted(p.parent.name for p in REPO_WORLDS.glob("*/world.json"))


@pytest.mark.parametrize("world_id", PACKS)
def test_a_shipped_world_plays(world_id):
    world = open_world(world_id)
    assert world.id == world_id and len(world.seed_names()) >= 10
    session = world.session(backend="cpu")
    first = session.reset(world.load_seed(None), rng_seed=0)
    turn = np.zeros(8, np.uint8)
    turn[4] = 1
    frames = [session.step(turn) for _ in range(3)]
    assert all(f.shape == first.shape == (96, 128, 3) and f.dtype == np.uint8 for f in frames)
