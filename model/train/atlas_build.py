"""Build a world's atlas (model.play.atlas) from captured frames with geometry.

    python -m model.train.atlas_build --data data/geo200k --out runs/geo [--frames 512] [--seed 0]

Writes RUN/atlas.npz: `--frames` training frames drawn at random from the training maps
(held-out maps never), each with the engine's depth and where it shows the world (not the
weapon sprite). `export` puts it in the world pack.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model.nets.geometry import CAMERA
from model.play.atlas import ATLAS_FILE, save_atlas
from model.train.geodata import GeoData, load_geo
from model.train.trainer import HOLDOUT_MAPS

FRAMES = 512          # 512 x 36 KB of colour: about 13 MB in the pack, compressed


def build_atlas(dirs, out: Path, frames: int = FRAMES, seed: int = 0, max_frames: int | None = 60_000) -> int:
    """Draw the atlas from `dirs` into `out` (a file); returns how many views it holds."""
    return atlas_from(load_geo(dirs, max_frames=max_frames, exclude_maps=HOLDOUT_MAPS), out, frames, seed)


def atlas_from(data: GeoData, out: Path, frames: int = FRAMES, seed: int = 0) -> int:
    """`frames` of `data` (already loaded, held-out maps left out) as the atlas file `out`."""
    pick = np.sort(np.random.default_rng(seed).choice(len(data), min(frames, len(data)), replace=False))
    levels = data.depth[pick]
    world = levels > 0                                       # 0: the weapon sprite
    depth = np.clip(levels, 1, CAMERA.far_level).astype(np.float32) * CAMERA.depth_unit
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atlas(out, data.base.frames[pick], depth, world)
    return len(pick)


def random_atlas(out: Path, views: int = 16, seed: int = 0, hw: tuple[int, int] = (96, 128)) -> Path:
    """Made-up views (smooth random colour, walls at random depths) for untrained packs and tests."""
    rng = np.random.default_rng(seed)
    h, w = hw
    colour = np.kron(rng.integers(0, 256, (views, h // 8, w // 8, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)
    depth = np.kron(rng.uniform(16, 400, (views, h // 16, w // 16)), np.ones((1, 16, 16))).astype(np.float32)
    world = np.ones((views, h, w), bool)
    world[:, h * 3 // 4:, w * 3 // 8:w * 5 // 8] = False           # where a weapon would be
    save_atlas(out, colour, depth, world)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.train.atlas_build", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True, help="capture folders with geometry")
    p.add_argument("--out", required=True, help="the run folder; writes atlas.npz there")
    p.add_argument("--frames", type=int, default=FRAMES)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    n = build_atlas(a.data, Path(a.out) / ATLAS_FILE, a.frames, a.seed)
    print(f"atlas: {n} views -> {Path(a.out) / ATLAS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
