"""Where an engine-made scene seed came from: enough to bring the engine to the same state.

`python -m model.train.make_seeds` stores these optional keys in a seed `.npz` beside
`frames`, `actions` and `name`; the player's "Compare with engine" view (app/compare.py)
reads them. The engine is deterministic, so `model.train.capture.start_episode(game, map,
seed)` followed by `actions`, one tic each, ends on the seed's last frame, tic for tic.
A seed without them (an image, a saved frame, a synthetic clip) simply has no origin.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.world import load_npz, validate_actions

ORIGIN_KEYS = ("engine_map", "engine_seed", "engine_actions")
MAX_ORIGIN_TICS = 35 * 60 * 10       # ten minutes of play: the replay to the start stays under seconds


@dataclass(frozen=True)
class EngineOrigin:
    map: str                         # "MAP01"
    seed: int                        # the episode's seed (DoomGame.set_seed)
    actions: np.ndarray              # (N, 8) uint8, from the episode start to the seed's last frame

    def arrays(self) -> dict[str, np.ndarray]:
        """The seed-file keys that store this origin."""
        return {"engine_map": np.array(self.map), "engine_seed": np.array(self.seed, np.int64),
                "engine_actions": np.asarray(self.actions, np.uint8)}


def has_origin(path: str | Path | None) -> bool:
    """Whether a seed file names an engine origin; reads only the archive's directory."""
    if path is None or Path(path).suffix.lower() != ".npz":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return all(f"{key}.npy" in names for key in ORIGIN_KEYS)


def read_origin(path: str | Path) -> EngineOrigin | None:
    """The seed's engine origin, None if it has none; UserError if its keys are malformed."""
    if not has_origin(path):
        return None
    arrays = load_npz(path)
    name, seed = arrays["engine_map"], arrays["engine_seed"]
    if name.dtype.kind != "U" or name.size != 1 or not re.fullmatch(r"MAP[0-3][0-9]", str(name.item())):
        raise UserError(f"{path}: 'engine_map' must be a map name such as MAP01")
    if seed.dtype.kind not in "iu" or seed.size != 1 or not 0 <= int(seed.item()) < 2 ** 31:
        raise UserError(f"{path}: 'engine_seed' must be one integer in [0, 2**31)")
    actions = validate_actions(arrays["engine_actions"], path)
    if len(actions) > MAX_ORIGIN_TICS:
        raise UserError(f"{path}: 'engine_actions' has {len(actions)} tics, more than {MAX_ORIGIN_TICS}")
    return EngineOrigin(str(name.item()), int(seed.item()), actions)
