"""Training data with geometry: frames, depth, the weapon mask and the camera's motion.

Built on `train_data.load_frames` (same shards, same episode ids, same map filters), plus
the geometry fields capture writes from format 3 on. A shard without them is refused by
name: the geometry stages cannot train on it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.nets.geometry import motion_between
from model.play.errors import UserError
from model.play.world import load_npz
from model.train.geometry_fit import world_levels
from model.train.train_data import FrameData, load_frames, shard_paths

GEOMETRY_KEYS = ("pose", "camera_z", "depth", "sprites")
# Beyond these a "step" is a teleport or a map change, not camera motion: it ends the episode.
MAX_STEP = (12.0, 30.0, 30.0, 30.0)     # dyaw deg, df, dr, dz (walking tops out near 17 a tic)


@dataclass
class GeoData:
    base: FrameData
    depth: np.ndarray       # (N, 96, 128) uint8 depth levels, 1..255; 0 on the weapon sprite
    motion: np.ndarray      # (N, 4) float32: the camera's motion from frame i to i+1 (0 at an episode's end)
    pose: np.ndarray        # (N, 4) float32: the camera at frame i: x, y, eye z, yaw (degrees)

    def __len__(self) -> int:
        return len(self.base)

    @property
    def has_next(self) -> np.ndarray:
        """Frames whose next frame is in the same episode."""
        ok = np.zeros(len(self), bool)
        ok[:-1] = self.base.episode[1:] == self.base.episode[:-1]
        return ok


def _geometry_of(path, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = load_npz(path)
    missing = [k for k in GEOMETRY_KEYS if k not in arrays]
    if missing:
        raise UserError(f"{path}: no geometry ({', '.join(missing)} missing): capture it again with "
                        "this version, or train the latent design")
    depth = world_levels(arrays["depth"][keep], arrays["sprites"][keep])
    pose, eye = torch.from_numpy(arrays["pose"][keep]), torch.from_numpy(arrays["camera_z"][keep])
    motion = torch.zeros(len(pose), 4)
    motion[:-1] = motion_between(pose[:-1], pose[1:], eye[:-1], eye[1:])
    camera = torch.stack([pose[:, 0], pose[:, 1], eye, pose[:, 3]], dim=1)
    return depth, motion.numpy(), camera.numpy()


def load_geo(dirs, max_frames: int | None = None, exclude_maps=(), only_maps=None) -> GeoData:
    """Frames as `load_frames` gives them, with the geometry of the same frames."""
    base = load_frames(dirs, max_frames, exclude_maps, only_maps, keep_index=True)
    depths, motions, poses = [], [], []
    for path, keep in zip(shard_paths(dirs), base.kept):
        if keep is not None and len(keep):
            d, m, c = _geometry_of(path, keep)
            depths.append(d)
            motions.append(m)
            poses.append(c)
    data = GeoData(base, np.concatenate(depths), np.concatenate(motions), np.concatenate(poses))
    jump = (np.abs(data.motion) > np.array(MAX_STEP)).any(axis=1)
    base.episode = base.episode + np.concatenate([[0], np.cumsum(jump[:-1])])   # a jump starts an episode
    data.motion[~data.has_next] = 0
    return data


_CACHED = ("frames", "actions", "episode", "map_index", "depth", "motion", "pose")


def load_geo_cached(dirs, cache: Path, max_frames: int | None = None, exclude_maps=()) -> GeoData:
    """`load_geo`, kept as .npy files in `cache` and memory-mapped on later runs: decoding
    100,000 frames from the shards takes minutes of the two cores, mapping them none."""
    key = {"dirs": [str(Path(d).resolve()) for d in dirs], "max_frames": max_frames,
           "exclude_maps": sorted(exclude_maps), "shards": [p.name for p in shard_paths(dirs)]}
    if (cache / "key.json").is_file() and json.loads((cache / "key.json").read_text()) == key:
        arrays = {name: np.load(cache / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _CACHED}
        base = FrameData(arrays["frames"], np.asarray(arrays["actions"]), np.asarray(arrays["episode"]),
                         np.asarray(arrays["map_index"]))
        return GeoData(base, arrays["depth"], np.asarray(arrays["motion"]), np.asarray(arrays["pose"]))
    data = load_geo(dirs, max_frames, exclude_maps)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "key.json").unlink(missing_ok=True)
    parts = {"frames": data.base.frames, "actions": data.base.actions, "episode": data.base.episode,
             "map_index": data.base.map_index, "depth": data.depth, "motion": data.motion, "pose": data.pose}
    for name, array in parts.items():
        save_npy_whole(cache / f"{name}.npy", array)
    (cache / "key.json").write_text(json.dumps(key))
    return data


def save_npy_whole(path: Path, array: np.ndarray) -> None:
    """`np.save` through a .tmp beside `path`, so that `path` is never half a file."""
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, array, allow_pickle=False)
    os.replace(tmp, path)
