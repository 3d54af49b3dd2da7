"""The loaders that take a user's file, and what each must give back.

The rule: a loader returns a valid object or raises UserError with one line; anything
else is a finding. Shared by the fuzzer (fuzz_loaders.py) and the corpus replay that
runs in the normal suite (test_fuzz_corpus.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from model.play.errors import UserError
from model.play.pack import load_pack
from model.play.runtime import open_world
from model.play.seeds import load_seed
from model.play.session_log import SessionLog
from model.play.world import N_BUTTONS, ActionScript

FRAME_HW = (96, 128)                 # the world frame size seeds are fitted to
CORPUS = Path(__file__).resolve().parent / "corpus"


class Finding(AssertionError):
    """A loader broke the rule: its result is not valid, or its error is not one line."""


@dataclass(frozen=True)
class Target:
    filename: str                    # the name the input is written under (its suffix picks the format)
    load: Callable[[Path], object]
    check: Callable[[object, Path], None]


def run_target(name: str, data: bytes, folder: Path) -> None:
    """Write `data` as target `name`'s file in `folder` and load it; raise unless the rule holds.

    A finding is raised as Finding; an exception that is neither UserError nor Finding
    comes out as itself, traceback and all."""
    target = TARGETS[name]
    path = folder / target.filename
    path.write_bytes(data)
    try:
        result = target.load(path)
    except UserError as exc:
        message = str(exc)
        if not message.strip() or any(c in message for c in "\n\r"):
            raise Finding(f"{name}: UserError is not one line: {message!r}") from None
        return
    target.check(result, path)


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise Finding(what)


def _check_seed(seed, path: Path) -> None:
    frames = seed.frames
    _expect(isinstance(seed.name, str), f"seed name is {type(seed.name).__name__}")
    _expect(frames.dtype == np.uint8 and frames.ndim == 4 and len(frames) >= 1
            and frames.shape[1:] == (*FRAME_HW, 3), f"seed frames {frames.dtype} {frames.shape}")
    if seed.actions is not None:
        _check_action_array(seed.actions)
        _expect(len(seed.actions) == len(frames) - 1, "seed actions are not one per frame step")


def _check_action_array(actions) -> None:
    _expect(isinstance(actions, np.ndarray) and actions.dtype == np.uint8 and actions.ndim == 2
            and actions.shape[1] == N_BUTTONS, f"actions {getattr(actions, 'dtype', actions)}")
    _expect(not actions.size or int(actions.max()) <= 1, "actions hold values other than 0/1")


def _check_actions(script, path: Path) -> None:
    _check_action_array(script.actions)


def _check_session(log, path: Path) -> None:
    """A loaded session writes back and loads again to the same content (NaN equal to NaN)."""
    again = path.with_name("again.json")
    log.save(again)
    first, second = json.dumps(log.to_json()), json.dumps(SessionLog.load(again).to_json())
    _expect(first == second, "session does not load back to itself after save")
    _expect(all(len(a) == N_BUTTONS for a in log.actions), "an action is not 8 values")


def _check_pack(pack, path: Path) -> None:
    """Everything the player and the CLI read of a pack before opening its models."""
    _expect(isinstance(pack.id, str) and isinstance(pack.title, str), "pack id/title not text")
    h, w = pack.frame_hw
    _expect(8 <= h <= 4096 and 8 <= w <= 4096, f"frame size {w}x{h}")
    _expect(isinstance(pack.fps, int) and 1 <= pack.fps <= 1000, f"fps {pack.fps!r}")
    _expect(all(isinstance(v, str) for v in pack.model_hashes().values()), "model hashes not text")
    pack.seed_paths()
    try:
        open_world(str(pack.root)).sampler.checked()
    except UserError:
        pass                         # refused when a session opens: still one clear line


TARGETS: dict[str, Target] = {
    "seed_npz": Target("seed.npz", lambda p: load_seed(p, FRAME_HW), _check_seed),
    "seed_png": Target("seed.png", lambda p: load_seed(p, FRAME_HW), _check_seed),
    "seed_jpg": Target("seed.jpg", lambda p: load_seed(p, FRAME_HW), _check_seed),
    "actions_npz": Target("actions.npz", ActionScript.load, _check_actions),
    "actions_json": Target("actions.json", ActionScript.load, _check_actions),
    "session_json": Target("session.json", SessionLog.load, _check_session),
    "world_json": Target("world.json", lambda p: load_pack(p.parent), _check_pack),
}
