"""Measure the camera against the engine: does reprojecting frame t predict frame t+1?

    python -m model.train.geometry_fit data/eval-seen [--pairs 400] [--fit]

Takes consecutive captured frames, warps frame t into frame t+1's view with the engine's
own depth buffer and pose (`model.nets.geometry.reproject`), and reports PSNR against the
real frame t+1 beside copy-last, split into static, turning and walking steps. `--fit`
grid-searches the intrinsics (fx, fy) and the depth buffer's unit for the best warp.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch

from model.nets.geometry import CAMERA, Camera, motion_between, reproject
from model.play.world import FRAME_H, FRAME_W, area_resize, load_npz
from model.train.dataset import shard_paths
from model.train.metrics import psnr_from_mse

TOP_ROWS = 70                     # the weapon sprite lives below: it does not move with the view
_ROWS = ((np.arange(FRAME_H) + 0.5) * 120 / FRAME_H).astype(int)
_COLS = ((np.arange(FRAME_W) + 0.5) * 160 / FRAME_W).astype(int)


def depth_levels(depth_u8: np.ndarray) -> np.ndarray:
    """Engine depth buffer [..., 120, 160] -> levels [..., 96, 128] (nearest: no blended edges)."""
    return depth_u8[..., _ROWS[:, None], _COLS[None, :]]


def world_levels(depth_u8: np.ndarray, sprites_u8: np.ndarray) -> np.ndarray:
    """Engine depth and sprite buffers [..., 120, 160] -> depth levels [..., 96, 128], 1..255,
    and 0 on the weapon sprite (what the geometry stages and the map read)."""
    levels = np.maximum(depth_levels(depth_u8), 1)
    levels[depth_levels(sprites_u8) == 1] = 0
    return levels


def step_kind(motion: np.ndarray) -> np.ndarray:
    """0 static, 1 turning, 2 walking (translation without turning), 3 both / other."""
    turn = np.abs(motion[:, 0]) > 0.5
    walk = np.hypot(motion[:, 1], motion[:, 2]) > 2.0
    kind = np.full(len(motion), 3)
    kind[~turn & ~walk & (np.abs(motion[:, 3]) < 0.5)] = 0
    kind[turn & ~walk] = 1
    kind[walk & ~turn] = 2
    return kind


def load_pairs(folder: str, count: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """`count` random (t, t+1) pairs from one episode each, with frames, depth and motion."""
    rng = np.random.default_rng(seed)
    paths = shard_paths(folder)
    per = max(1, -(-count // len(paths)))
    parts: dict[str, list] = {"a": [], "b": [], "depth": [], "motion": []}
    for path in paths:
        arrays = load_npz(path)
        if "depth" not in arrays:
            raise ValueError(f"{path}: no geometry (captured before format 3)")
        starts = arrays["episode_start"].astype(bool)
        ok = np.flatnonzero(~starts[1:])                     # t and t+1 in one episode
        t = np.sort(rng.choice(ok, size=min(per, len(ok)), replace=False))
        pose = torch.from_numpy(arrays["pose"])
        eye = torch.from_numpy(arrays["camera_z"])
        parts["motion"].append(motion_between(pose[t], pose[t + 1], eye[t], eye[t + 1]))
        parts["a"].append(area_resize(arrays["frames"][t], FRAME_H, FRAME_W))
        parts["b"].append(area_resize(arrays["frames"][t + 1], FRAME_H, FRAME_W))
        parts["depth"].append(depth_levels(arrays["depth"][t]))
    out = {k: torch.from_numpy(np.concatenate(v)) if k != "motion" else torch.cat(v) for k, v in parts.items()}
    return {k: v[:count] for k, v in out.items()}


def warp_pairs(pairs: dict, cam: Camera) -> torch.Tensor:
    """Frame t warped into t+1's view by the engine's depth and motion, (N, 3, H, W) floats."""
    image = pairs["a"].permute(0, 3, 1, 2).float()
    depth = pairs["depth"].float().clamp_min(1.0) * cam.depth_unit
    warped, _ = reproject(image, depth, pairs["motion"].float(), cam)
    return warped


def psnr_top(pred: torch.Tensor, truth_u8: torch.Tensor, select: np.ndarray) -> float:
    """PSNR of the set's mean squared error over the top rows of the selected pairs."""
    truth = truth_u8.permute(0, 3, 1, 2).float()
    err = ((pred.round().clamp(0, 255) - truth)[select, :, :TOP_ROWS] ** 2).mean()
    return float(psnr_from_mse(float(err)))


def report(pairs: dict, cam: Camera) -> dict:
    warped = warp_pairs(pairs, cam)
    copy = pairs["a"].permute(0, 3, 1, 2).float()
    kinds = step_kind(pairs["motion"].numpy())
    out = {}
    for k, name in enumerate(("static", "turning", "walking", "turning+walking")):
        sel = kinds == k
        if sel.any():
            w, c = psnr_top(warped, pairs["b"], sel), psnr_top(copy, pairs["b"], sel)
            out[name] = {"pairs": int(sel.sum()), "reproject_db": round(w, 2), "copy_last_db": round(c, 2),
                         "gain_db": round(w - c, 2)}
    return out


def fit(pairs: dict) -> Camera:
    """Grid search over fx, fy / fx and the depth unit, on moving pairs."""
    kinds = step_kind(pairs["motion"].numpy())
    moving = {k: v[kinds > 0] for k, v in pairs.items()}
    best, best_db = CAMERA, -1.0
    for fx in (60.0, 62.0, 64.0, 66.0, 68.0):
        for aspect in (1.0, 1.1, 1.2, 1.3):
            for unit in (6.0, 7.0, 8.0, 9.0, 10.0):
                cam = replace(CAMERA, fx=fx, fy=fx * aspect, depth_unit=unit)
                db = psnr_top(warp_pairs(moving, cam), moving["b"], np.ones(len(moving["b"]), bool))
                if db > best_db:
                    best, best_db = cam, db
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.train.geometry_fit")
    p.add_argument("data")
    p.add_argument("--pairs", type=int, default=400)
    p.add_argument("--fit", action="store_true")
    a = p.parse_args(argv)
    pairs = load_pairs(a.data, a.pairs)
    cam = fit(pairs) if a.fit else CAMERA
    print(json.dumps({"camera": cam.__dict__, **report(pairs, cam)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
