"""Behaviour pinned: a recorded session and a render give the same frames, bit for bit.

The sha256 values below were made before the issue-11 refactor, on a random-weight pack
built here from fixed seeds, so the fixture does not depend on the shipped world (which
will be retrained). A change that alters them changes what players see on replay.
"""
import hashlib
import json

import numpy as np
import pytest

from model.play.render import render_frames, replay_frames
from model.play.runtime import open_world
from model.play.session_log import SessionLog
from model.train.export import random_modules, write_pack
from tests.conftest import make_seed_file

PACK_SEED = 11
# 14 actions that press every button in turn, in overlapping combinations: no RNG involved.
ACTIONS = [[(i * 37 >> b) & 1 for b in range(8)] for i in range(14)]
SESSION_SHA256 = "e20bf050f52c2e32d058bd66c37a938b25ee87792f3d4cf0d724157611e69491"
RENDER_SHA256 = "ce2ddf2f7d49876c551260a9980903153cfba127a3ec56febccc1b7d87bdda94"


@pytest.fixture(scope="module")
def golden_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden") / "goldenworld"
    (root / "seeds").mkdir(parents=True)
    make_seed_file(root / "seeds" / "start.npz", n_frames=5, seed=PACK_SEED)
    tokenizer, dynamics = random_modules("tiny", seed=PACK_SEED)
    # Untrained latents decode to an almost flat frame: widen them so every latent change shows.
    tokenizer.latent_std.fill_(40.0)
    write_pack(tokenizer, dynamics, root, world_id="goldenworld", title="Golden", sampler={"steps": 2})
    return root


def _sha256(frames) -> tuple[int, str]:
    digest, n = hashlib.sha256(), 0
    for frame in frames:
        digest.update(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        n += 1
    return n, digest.hexdigest()


def test_recorded_session_replays_bit_exact(golden_pack, tmp_path):
    """A session with a steps change, a rewind and a reset, recorded from its third frame."""
    world = open_world(str(golden_pack))
    session = {"format": "reverie-session", "version": 1, "world": str(golden_pack),
               "models": world.pack.model_hashes(), "seed": {"name": "start"}, "rng_seed": 7,
               "sampler": {"steps": 3, "ctx_noise": 0.1, "adaptive": False, "adaptive_threshold": 0.02},
               "backend": "cpu", "actions": ACTIONS, "record_from": 2,
               "events": [{"at": 4, "type": "steps", "value": 1}, {"at": 7, "type": "rewind", "to": 8},
                          {"at": 10, "type": "reset"}]}
    path = tmp_path / "golden.session.json"
    path.write_text(json.dumps(session), encoding="utf-8")
    assert _sha256(replay_frames(SessionLog.load(path), path)) == (12, SESSION_SHA256)


def test_render_bit_exact(golden_pack):
    """Four steps cut to two by the adaptive skip, as `render` runs them."""
    world = open_world(str(golden_pack))
    frames = render_frames(world, world.load_seed("start"), np.array(ACTIONS, np.uint8), rng_seed=3,
                           backend="cpu", steps=4, adaptive=True, adaptive_threshold=0.2)
    assert _sha256(frames) == (14, RENDER_SHA256)
