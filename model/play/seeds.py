"""Scene seeds: where a session starts. An `.npz` clip (frames, optional actions, name)
or one `.png`/`.jpg` image, resized to the world's frame size (docs/design.md, "Data contracts")."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.pack import find_pack, sha256_file
from model.play.world import N_BUTTONS, area_resize, load_npz, validate_actions

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
    digest = sha256_file(path)
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


def read_image(path: Path) -> np.ndarray:
    """A .png/.jpg as (H, W, 3) uint8, decoded by PyAV (FFmpeg), size-checked first.

    The size comes from the file's own header, read here before FFmpeg sees the file: a
    100000x100000 PNG is refused without a byte of it decoded. FFmpeg is then held to
    that one image format, so a file named .png can never reach its other demuxers."""
    import av
    fmt, (width, height) = image_header(path)
    if width * height > MAX_IMAGE_PIXELS:
        raise UserError(f"{path}: image is too large ({width}x{height})")
    try:
        with av.open(str(path), format=fmt) as container:
            frame = next(container.decode(video=0))
            if frame.width * frame.height > MAX_IMAGE_PIXELS:
                raise UserError(f"{path}: image is too large ({frame.width}x{frame.height})")
            return frame.to_ndarray(format="rgb24")
    except UserError:
        raise
    except Exception as exc:  # FFmpeg reports corrupt data in many ways
        raise UserError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None


def image_header(path: Path) -> tuple[str, tuple[int, int]]:
    """(FFmpeg format, (width, height)) from a PNG or JPEG header; UserError otherwise."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return "png_pipe", (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
            if head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
                if size is not None:
                    return "jpeg_pipe", size
    except OSError as exc:
        raise UserError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    raise UserError(f"{path}: cannot read image (not a PNG or JPEG file, or its header is cut off)")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk the JPEG's marker segments to its frame header (SOFn): (width, height)."""
    f.seek(2)
    for _ in range(1000):                       # real files reach SOF within a few segments
        byte = f.read(1)
        if byte != b"\xff":
            return None                         # not a marker: a corrupt file
        while byte == b"\xff":                  # fill bytes before a marker
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue                            # markers without a length
        seg = f.read(2)
        if len(seg) < 2 or marker in (0xD9, 0xDA):
            return None                         # image data or the end before any frame header
        length = int.from_bytes(seg, "big")
        if marker in _SOF:
            data = f.read(5)
            return (int.from_bytes(data[3:5], "big"), int.from_bytes(data[1:3], "big")) if len(data) == 5 else None
        f.seek(length - 2, 1)
    return None


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


def run_list_seeds(args) -> int:
    pack = find_pack(args.world)
    print(f"{pack.title} ({pack.id}): {len(pack.seed_paths())} scene seeds")
    for path in pack.seed_paths():
        seed = load_seed(path, pack.frame_hw)
        print(f"  {seed.name:<32} {len(seed.frames):>3} frames  {path}")
    return 0
