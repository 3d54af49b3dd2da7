"""The atlas: real views of the world that the runtime imagines unseen space from.

Turn into space nobody has shown and a regression painter paints the mean of what could be
there: flat colour, which the carry then keeps (measured: from a held-out start under the
explorer, 1.7 s of turning gave a flat grey wall that filled the view for the minute after,
the engine's wall showing red stripes). The world has seen the map in training, though:
the atlas is a few hundred of its training frames, each with its depth, and when a turn
uncovers a side of the view the session picks the atlas view that best continues what is
visible there and places it, turned by THETAS, beside the camera as a kept frame of its own
(model.play.geo_session). From then on it is carried like anything seen, with its own depth,
so it stays put as the camera moves and comes back when the camera does.

Picking is nearest-neighbour at 4x coarser resolution on colour and log range over the part
of the view the placed frame overlaps, weighted toward the edge it continues from (the
seam). Camera turns need no depth: a pure yaw maps pixels in closed form (`yaw_source`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.world import load_arrays

THETAS = (25.0, 40.0)     # degrees beside the camera the picked view is placed at
COARSE = 4                # matching runs on 4x4 blocks: 32x24 at 128x96
DEPTH_WEIGHT = 0.3        # log depth next to colour (0..1): floors go on with floors
SEAM_PX = 24.0            # the overlap's weight falls off by e over this many pixels from the seam...
SEAM_REACH = 64.0         # ...and ends this far from it (measured: all cells, 9 ms a pick; these, 4)
MIN_WORLD = 0.9           # a placed view must show the world (not its weapon) on this share of the overlap
KEYS = ("frames", "depth", "world")
ATLAS_FILE = "atlas.npz"      # in a run folder and in a world pack


def yaw_source(theta_deg: float, u: np.ndarray, v: np.ndarray, hw: tuple[int, int]):
    """Where pixel centres (u, v) of a view appear in the same camera turned left by theta:
    (u', v', inside). The pinhole of model.nets.geometry (fx = W/2, fy = 1.2 fx)."""
    h, w = hw
    fx, cx, cy = w / 2, w / 2, h / 2      # rows scale by the ratio of depths along the axis: fy cancels
    phi, t = np.arctan((u - cx) / fx), np.radians(theta_deg)
    ahead = np.abs(phi + t) < np.radians(80.0)
    u2 = cx + fx * np.tan(np.where(ahead, phi + t, 0.0))
    v2 = cy + (v - cy) * np.cos(phi) / np.cos(np.where(ahead, phi + t, 0.0))
    return u2, v2, ahead & (u2 >= 0) & (u2 < w) & (v2 >= 0) & (v2 < h)


def coarse(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, H/COARSE, W/COARSE, C) block means, float32."""
    n, h, w, c = x.shape
    return x.reshape(n, h // COARSE, COARSE, w // COARSE, COARSE, c).astype(np.float32).mean((2, 4))


@dataclass(frozen=True)
class Pick:
    index: int
    theta: float          # degrees, + to the left of the camera
    error: float


class Atlas:
    """frames (N, H, W, 3) uint8; depth (N, H, W) map units; world (N, H, W) bool (not the weapon)."""

    def __init__(self, frames: np.ndarray, depth: np.ndarray, world: np.ndarray):
        self.frames, self.depth, self.world = frames, depth, world
        self.hw = frames.shape[1:3]
        n = len(frames)
        h, w = self.hw[0] // COARSE, self.hw[1] // COARSE
        v, u = (np.mgrid[0:h, 0:w] + 0.5) * COARSE
        # log(range / depth) per cell: a point's range from the eye is the same from a turned camera
        self._ray = (0.5 * np.log1p(((u - self.hw[1] / 2) / (self.hw[1] / 2)) ** 2)).reshape(-1).astype(np.float32)
        colour = coarse(frames).reshape(n, -1, 3) / 255.0                                      # (N, cells, 3)
        log = coarse(np.log(np.maximum(depth.astype(np.float32), 1.0))[..., None]).reshape(n, -1, 1) + self._ray[None, :, None]
        features = np.concatenate([colour, DEPTH_WEIGHT / 3 * log], axis=2)                    # L1 over 4 = colour + depth
        shows = coarse(world[..., None]).reshape(n, -1) > 0.99
        # Per side and angle, the atlas's features gathered at each overlapping cell, once:
        # a pick is then one weighted L1 over (N, cells) (measured: gathering per pick, 14 ms).
        self._placed = {}
        for side in (1, -1):
            seam = u if side > 0 else self.hw[1] - u        # a left turn continues from the left edge
            for theta in THETAS:
                u2, v2, inside = yaw_source(side * theta, u, v, self.hw)
                cells = np.flatnonzero(inside & (seam < SEAM_REACH))
                at = (v2.flat[cells] // COARSE).astype(np.int64) * w + (u2.flat[cells] // COARSE).astype(np.int64)
                weight = np.exp(-seam.flat[cells] / SEAM_PX).astype(np.float32)
                placed = np.ascontiguousarray(features[:, at].transpose(2, 0, 1))                 # (4, N, cells)
                self._placed[side, theta] = (cells, placed, weight, shows[:, at].mean(1) < MIN_WORLD)

    def __len__(self) -> int:
        return len(self.frames)

    def pick(self, frame: np.ndarray, depth: np.ndarray, world: np.ndarray, side: int) -> Pick | None:
        """The atlas view that best continues `frame` (H, W, 3) uint8, seen with `depth` (H, W)
        map units, showing the world where `world` (H, W) is true, past its left edge
        (side 1) or right edge (-1), and the angle to place it at."""
        colour = coarse(frame[None])[0].reshape(-1, 3) / 255.0
        log = coarse(np.log(np.maximum(depth, 1.0))[None, ..., None]).reshape(-1, 1) + self._ray[:, None]
        features = np.concatenate([colour, DEPTH_WEIGHT / 3 * log], axis=1)                    # (cells, 4)
        shown = coarse(world[None, ..., None].astype(np.float32)).reshape(-1) > 0.99
        best = None
        for theta in THETAS:
            cells, placed, weight, hidden = self._placed[side, theta]
            weight = weight * shown[cells]
            if weight.sum() == 0:
                continue
            mine = features[cells].T                                                            # (4, cells)
            diff = sum(np.abs(placed[c] - mine[c]) for c in range(4))                          # (N, cells)
            error = diff @ (weight / weight.sum()) / 3
            error[hidden] = np.inf
            k = int(np.argmin(error))
            if np.isfinite(error[k]) and (best is None or error[k] < best.error):
                best = Pick(k, side * theta, float(error[k]))
        return best


def load_atlas(path: Path) -> Atlas:
    """Read an atlas file (npz, no pickle); a malformed one is refused by name."""
    arrays = load_arrays(path, KEYS, "atlas")
    frames, depth, world = arrays["frames"], arrays["depth"], arrays["world"]
    ok = (frames.ndim == 4 and frames.shape[3] == 3 and frames.dtype == np.uint8 and len(frames) > 0
          and depth.shape == frames.shape[:3] and world.shape == frames.shape[:3]
          and frames.shape[1] % COARSE == 0 and frames.shape[2] % COARSE == 0)
    if not ok:
        raise UserError(f"{path}: atlas arrays have the wrong shapes or types")
    if not np.all(np.isfinite(depth)) or depth.min() <= 0:
        raise UserError(f"{path}: atlas depth must be positive and finite")
    return Atlas(frames, depth.astype(np.float16), world.astype(bool))     # float32 per placed view


def save_atlas(path: Path, frames: np.ndarray, depth: np.ndarray, world: np.ndarray) -> None:
    """Write atomically (a .tmp beside it, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, frames=frames.astype(np.uint8), depth=depth.astype(np.float16),
                            world=world.astype(bool))
    tmp.replace(path)
