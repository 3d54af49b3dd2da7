"""World constants and the action type shared by every layer.

The freedoom world's capture settings are a contract (docs/design.md, "The first world"):
keep them exact.
"""
from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError

BUTTONS: tuple[str, ...] = (
    "MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT",
    "TURN_LEFT", "TURN_RIGHT", "ATTACK", "USE",
)
N_BUTTONS = len(BUTTONS)
BUTTON_INDEX = {name: i for i, name in enumerate(BUTTONS)}     # an action's column for each button
MOVE_BUTTONS = [BUTTON_INDEX[b] for b in ("MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT")]
ACTION_DIM = N_BUTTONS + 1          # the model's action input: 8 buttons + "no action" (seed frame)
MASKED_AGE = -1                     # a frame age that means "not visible" to attention
FPS = 25
FRAME_H, FRAME_W = 96, 128          # model frame: 160x120 engine frame, area-filtered down
ENGINE_H, ENGINE_W = 120, 160


def action_from_names(pressed: set[str] | frozenset[str]) -> np.ndarray:
    """The 8-button action (uint8, canonical order) with the named buttons held."""
    unknown = set(pressed) - set(BUTTONS)
    if unknown:
        raise ValueError(f"unknown buttons: {sorted(unknown)}")
    return np.array([1 if b in pressed else 0 for b in BUTTONS], dtype=np.uint8)


def action_names(action: np.ndarray) -> list[str]:
    """The names of the buttons held in one action."""
    return [b for b, v in zip(BUTTONS, action) if v]


def area_resize(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """Box-filter (area) resize of [..., H, W, 3] uint8 frames (one or a batch).

    160x120 -> 128x96 is a 5:4 ratio, so each output pixel averages a fractional
    1.25x1.25 box: done as two separable matrix products with area weights.
    """
    src_h, src_w = frame.shape[-3:-1]
    if (src_h, src_w) == (h, w):
        return frame.copy()
    rows = _area_weights(src_h, h)              # (h, src_h)
    cols = _area_weights(src_w, w)              # (w, src_w)
    lead = frame.shape[:-3]
    x = frame.reshape(-1, src_h, src_w, 3).astype(np.float32)
    n = x.shape[0]
    # Two large matrix products (one per axis) rather than many small ones: fast in BLAS.
    x = rows @ x.transpose(1, 0, 2, 3).reshape(src_h, -1)                  # (h, N*src_w*3)
    x = x.reshape(h, n, src_w, 3).transpose(0, 1, 3, 2).reshape(-1, src_w) @ cols.T   # (h*N*3, w)
    out = x.reshape(h, n, 3, w).transpose(1, 0, 3, 2).reshape(*lead, h, w, 3)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


_WEIGHT_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _area_weights(src: int, dst: int) -> np.ndarray:
    key = (src, dst)
    if key not in _WEIGHT_CACHE:
        weights = np.zeros((dst, src), dtype=np.float32)
        scale = src / dst
        for i in range(dst):
            lo, hi = i * scale, (i + 1) * scale
            for s in range(int(np.floor(lo)), min(src, int(np.ceil(hi)))):
                weights[i, s] = min(hi, s + 1) - max(lo, s)
        _WEIGHT_CACHE[key] = weights / scale
    return _WEIGHT_CACHE[key]


@dataclass(frozen=True)
class ActionScript:
    """A sequence of actions to drive a session, loaded from .npz or .json."""

    actions: np.ndarray     # (N, 8) uint8

    @staticmethod
    def load(path: str | Path) -> "ActionScript":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: actions file not found")
        suffix = path.suffix.lower()           # as for seeds and outputs: A.JSON is a .json
        if suffix == ".json":
            actions = _actions_from_json(path)
        elif suffix == ".npz":
            actions = _actions_from_npz(path)
        else:
            raise UserError(f"{path}: actions must be a .npz or .json file")
        return ActionScript(validate_actions(actions, path))


def validate_actions(actions: np.ndarray, path: Path | str) -> np.ndarray:
    """Check an (N, 8) array of 0/1 values and return it as uint8."""
    if actions.ndim != 2 or actions.shape[1] != N_BUTTONS:
        raise UserError(f"{path}: actions must have shape [N, {N_BUTTONS}], got {list(actions.shape)}")
    if actions.dtype.kind not in "biu":
        raise UserError(f"{path}: actions must be integers 0/1, got dtype {actions.dtype}")
    if actions.size and (actions.min() < 0 or actions.max() > 1):
        raise UserError(f"{path}: actions must be 0 or 1")
    return actions.astype(np.uint8)


def _actions_from_json(path: Path) -> np.ndarray:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:      # ValueError: bad UTF-8 or JSON, a 5000-digit number
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "actions" not in data:
        raise UserError(f'{path}: expected an object with "buttons" and "actions"')
    buttons = data.get("buttons", list(BUTTONS))
    if buttons != list(BUTTONS):
        raise UserError(f"{path}: buttons must be {list(BUTTONS)} in that order, got {reprlib.repr(buttons)}")
    rows = data["actions"]
    # true/false are taken as 1/0, as a bool array is in an actions .npz (an int, in Python)
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and all(isinstance(v, int) and v in (0, 1) for v in r) for r in rows
    ):
        raise UserError(f"{path}: actions must be a list of lists of 0/1 integers (or true/false)")
    if rows and len({len(r) for r in rows}) != 1:
        raise UserError(f"{path}: every action must have {N_BUTTONS} values")
    return np.array(rows, dtype=np.int64).reshape(len(rows), -1 if rows else N_BUTTONS)


def _actions_from_npz(path: Path) -> np.ndarray:
    arrays = load_npz(path)
    if "actions" not in arrays:
        raise UserError(f"{path}: no 'actions' array")
    return arrays["actions"]


MAX_NPZ_BYTES = 1 << 30             # what an .npz may unpack to: seeds and action files are far smaller
MAX_NPZ_ARRAYS = 64


def load_arrays(path: Path | str, keys, what: str) -> dict[str, np.ndarray]:
    """The arrays `keys` of an .npz (as `load_npz`); one missing is refused by name, as `what`
    (an atlas, a map) the file is not."""
    arrays = load_npz(path)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise UserError(f"{path}: not a readable {what} (no {', '.join(missing)})")
    return {k: arrays[k] for k in keys}


def load_npz(path: Path | str, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """Every array of an .npz, never unpickling: object arrays are refused.

    Each array's header (dtype, shape) is read first, so a small file that would unpack
    to gigabytes (a compression bomb) is refused before anything is allocated."""
    try:
        _check_npz_headers(path, max_bytes)
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except UserError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UserError(f"{path}: contains pickled objects, which are never loaded") from None
        raise UserError(f"{path}: not a valid .npz ({exc})") from None
    except (OSError, EOFError, KeyError) as exc:
        raise UserError(f"{path}: not a valid .npz ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends: corrupt archives
        raise UserError(f"{path}: not a valid .npz ({type(exc).__name__}: {exc})") from None


def _check_npz_headers(path: Path | str, max_bytes: int) -> None:
    import zipfile
    total = 0
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith(".npy")]
        if len(names) > MAX_NPZ_ARRAYS:
            raise UserError(f"{path}: too many arrays ({len(names)})")
        for name in names:
            with archive.open(name) as f:
                version = np.lib.format.read_magic(f)
                fmt = np.lib.format
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(f)
            if dtype.hasobject:
                raise UserError(f"{path}: contains pickled objects, which are never loaded")
            total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if total > max_bytes:
        raise UserError(f"{path}: arrays would unpack to {total / 2 ** 30:.1f} GiB (more than {max_bytes / 2 ** 30:.1f})")
