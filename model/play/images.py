"""PNG and JPEG through Pillow: scene seeds and thumbnails in; screenshots, scene thumbnails
and contact sheets out.

Pillow's decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`) refuses a 100000x100000 PNG
from its header, before a byte of it is decoded, and Pillow is held to PNG and JPEG, so a
file named .png never reaches another format's decoder.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from model.play.errors import UserError

MAX_IMAGE_PIXELS = 40_000_000        # 8K is 33 million: anything bigger is a bomb, not a photo
FORMATS = ("PNG", "JPEG")


def _guarded_pillow():
    """Pillow with its bomb guard at our limit and raising at it (below twice the limit Pillow
    only warns), and quiet about the damage it works around ("Invalid APNG, will use default
    PNG image"): a user's message is one line, and a seed that loads is a seed that plays.

    Set on each call: the guard is a module setting, and tests reset warning filters."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    return Image


def read_image(path: str | Path) -> np.ndarray:
    """A .png/.jpg as (H, W, 3) uint8, turned upright by its EXIF orientation; UserError if it cannot be."""
    Image = _guarded_pillow()
    from PIL import ImageOps, UnidentifiedImageError
    path = Path(path)
    try:
        with Image.open(path, formats=FORMATS) as image:
            return _rgb(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UserError(f"{path}: image is too large (more than {MAX_IMAGE_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: cannot read image (not a PNG or JPEG file, or its header is cut off)") from None
    except OSError as exc:
        if exc.errno is not None:                   # the file itself: missing, unreadable
            raise UserError(f"{path}: cannot read image ({exc.strerror})") from None
        raise UserError(f"{path}: cannot read image (truncated or corrupt: {exc})") from None
    except Exception as exc:  # Pillow reports corrupt data as SyntaxError, ValueError and others
        raise UserError(f"{path}: cannot read image (corrupt: {exc})") from None


def _rgb(image) -> np.ndarray:
    if image.mode.startswith("I"):              # 16-bit grey: its top 8 bits
        grey = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("P", "PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")           # palette transparency and the like, then dropped
    return np.array(image.convert("RGB"), dtype=np.uint8)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """An 8-bit RGB PNG, written whole to `<name>.tmp` and then renamed: never half a file."""
    from PIL import Image
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {rgb.shape}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        Image.fromarray(rgb).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
