"""Scene seeds: where a session starts. An `.npz` clip (frames, optional actions, name)
or one `.png`/`.jpg` image, resized to the world's frame size (docs/design.md, "Data contracts")."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError, printable
from model.play.images import MAX_IMAGE_PIXELS, read_image
from model.play.pack import find_pack, sha256_file
from model.play.world import N_BUTTONS, area_resize, load_npz, validate_actions

MAX_SEED_FRAMES = 4096


@dataclass(frozen=True)
class SceneSeed:
    name: str
    frames: np.ndarray               # (T, H, W, 3) uint8 at the world's frame size
    actions: np.ndarray | None       # (T-1, 8) uint8, or None
    path: Path | None = None
    sha256: str | None = None
    note: str | None = None          # a warning to show (a tiny seed, stretched)


def load_seed(path: str | Path, frame_hw: tuple[int, int]) -> SceneSeed:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: scene seed not found")
    digest = sha256_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        name, frames, actions = _from_npz(path)
    elif suffix in (".png", ".jpg", ".jpeg"):
        name, frames, actions = path.stem, read_image(path)[None], None
    else:
        raise UserError(f"{path}: a scene seed must be .npz, .png or .jpg")
    note = stretch_note(path, frames.shape[1:3], frame_hw)
    frames = np.stack([fit_frame(f, frame_hw) for f in frames])
    return SceneSeed(name=name, frames=frames, actions=actions, path=path, sha256=digest, note=note)


def _from_npz(path: Path) -> tuple[str, np.ndarray, np.ndarray | None]:
    arrays = load_npz(path)
    frames = arrays.get("frames")
    if frames is None:
        raise UserError(f"{path}: no 'frames' array")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise UserError(f"{path}: 'frames' must be uint8 [T,H,W,3] with T >= 1, "
                        f"got {frames.dtype} {list(frames.shape)}")
    if len(frames) > MAX_SEED_FRAMES or min(frames.shape[1:3]) < 8 or np.prod(frames.shape[1:3]) > MAX_IMAGE_PIXELS:
        raise UserError(f"{path}: 'frames' shape {list(frames.shape)} is out of range")   # huge: as for images
    actions = arrays.get("actions")
    if actions is not None:
        actions = validate_actions(actions, path)
        if actions.shape != (len(frames) - 1, N_BUTTONS):
            raise UserError(f"{path}: 'actions' must be [T-1, {N_BUTTONS}] = "
                            f"[{len(frames) - 1}, {N_BUTTONS}], got {list(actions.shape)}")
    name = arrays.get("name")
    if name is not None and (name.dtype.kind != "U" or name.size != 1):
        raise UserError(f"{path}: 'name' must be a string")
    return (str(name.item()) if name is not None else path.stem), frames, actions


def fit_frame(frame: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the world's aspect, then area-resize to its frame size."""
    th, tw = frame_hw
    y, x, ch, cw = crop_box(frame.shape[:2], frame_hw)
    frame = frame[y:y + ch, x:x + cw]
    if frame.shape[:2] == (th, tw):
        return np.ascontiguousarray(frame)
    if frame.shape[0] < th or frame.shape[1] < tw:
        return _nearest_resize(frame, th, tw)
    return area_resize(frame, th, tw)


def crop_box(hw: tuple[int, int], frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred crop of an h x w image to the world's aspect."""
    (h, w), (th, tw) = hw, frame_hw
    if h * tw > w * th:                       # too tall: crop rows
        ch = round(w * th / tw)
        return (h - ch) // 2, 0, ch, w
    if h * tw < w * th:                       # too wide: crop columns
        cw = round(h * tw / th)
        return 0, (w - cw) // 2, h, cw
    return 0, 0, h, w


def stretch_note(path: Path, hw: tuple[int, int], frame_hw: tuple[int, int]) -> str | None:
    """A warning for a seed too small for the world's frame (it is stretched, and looks blocky)."""
    _, _, ch, cw = crop_box(hw, frame_hw)
    (h, w), (th, tw) = hw, frame_hw
    if ch >= th and cw >= tw:
        return None
    cropped = "" if (ch, cw) == (h, w) else f", cropped to {cw}x{ch} for the world's aspect,"
    return printable(f"{path}: the seed is {w}x{h} pixels{cropped} and is stretched to the world's "
                     f"{tw}x{th} frame: it will look blocky")


def _nearest_resize(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = (np.arange(h) * frame.shape[0] // h)
    cols = (np.arange(w) * frame.shape[1] // w)
    return frame[rows][:, cols]


def run_list_seeds(args) -> int:
    pack = find_pack(args.world)
    print(f"{pack.title} ({pack.id}): {len(pack.seed_paths())} scene seeds")
    for path in pack.seed_paths():
        seed = load_seed(path, pack.frame_hw)
        print(printable(f"  {seed.name:<32} {len(seed.frames):>3} frames  {path}"))
    return 0
