"""Scene seeds: where a session starts. An `.npz` clip (frames, optional actions, name)
or one `.png`/`.jpg` image, resized to the world's frame size (DESIGN.md section 3)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import UserError
from model.world import N_BUTTONS, area_resize, load_npz, validate_actions

MAX_IMAGE_PIXELS = 40_000_000        # refuse decompression bombs before decoding them
MAX_SEED_FRAMES = 4096


@dataclass(frozen=True)
class SceneSeed:
    name: str
    frames: np.ndarray               # (T, H, W, 3) uint8 at the world's frame size
    actions: np.ndarray | None       # (T-1, 8) uint8, or None
    path: Path | None = None
    sha256: str | None = None


def load_seed(path: str | Path, frame_hw: tuple[int, int]) -> SceneSeed:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: scene seed not found")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    suffix = path.suffix.lower()
    if suffix == ".npz":
        name, frames, actions = _from_npz(path)
    elif suffix in (".png", ".jpg", ".jpeg"):
        name, frames, actions = path.stem, read_image(path)[None], None
    else:
        raise UserError(f"{path}: a scene seed must be .npz, .png or .jpg")
    frames = np.stack([fit_frame(f, frame_hw) for f in frames])
    return SceneSeed(name=name, frames=frames, actions=actions, path=path, sha256=digest)


def _from_npz(path: Path) -> tuple[str, np.ndarray, np.ndarray | None]:
    arrays = load_npz(path)
    frames = arrays.get("frames")
    if frames is None:
        raise UserError(f"{path}: no 'frames' array")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise UserError(f"{path}: 'frames' must be uint8 [T,H,W,3] with T >= 1, "
                        f"got {frames.dtype} {list(frames.shape)}")
    if len(frames) > MAX_SEED_FRAMES or min(frames.shape[1:3]) < 8:
        raise UserError(f"{path}: 'frames' shape {list(frames.shape)} is out of range")
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


def read_image(path: Path) -> np.ndarray:
    """A .png/.jpg as (H, W, 3) uint8, decoded by PyAV (FFmpeg), size-checked first."""
    import av
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.width * stream.height > MAX_IMAGE_PIXELS:
                raise UserError(f"{path}: image is too large ({stream.width}x{stream.height})")
            frame = next(container.decode(stream))
            return frame.to_ndarray(format="rgb24")
    except UserError:
        raise
    except Exception as exc:  # FFmpeg reports corrupt data in many ways
        raise UserError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None


def fit_frame(frame: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the world's aspect, then area-resize to its frame size."""
    h, w = frame.shape[:2]
    th, tw = frame_hw
    if h * tw > w * th:                       # too tall: crop rows
        ch = round(w * th / tw)
        frame = frame[(h - ch) // 2:(h - ch) // 2 + ch]
    elif h * tw < w * th:                     # too wide: crop columns
        cw = round(h * tw / th)
        frame = frame[:, (w - cw) // 2:(w - cw) // 2 + cw]
    if frame.shape[:2] == (th, tw):
        return np.ascontiguousarray(frame)
    if frame.shape[0] < th or frame.shape[1] < tw:
        return _nearest_resize(frame, th, tw)
    return area_resize(frame, th, tw)


def _nearest_resize(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = (np.arange(h) * frame.shape[0] // h)
    cols = (np.arange(w) * frame.shape[1] // w)
    return frame[rows][:, cols]
