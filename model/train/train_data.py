"""Training data: captured shards -> frames at the world's size, actions, episode ids.

Shards are `.npz` files from `capture` (frames [T,120,160,3], actions [T,8] where
actions[i] takes frames[i] to frames[i+1], episode_start [T], vars [T,4] with the map
index first). A shard boundary is treated as an episode boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.world import FRAME_H, FRAME_W, area_resize, load_npz
from model.train.dataset import shard_paths as capture_shards

SHARD_FRAMES_GUESS = 2000            # capture writes shards of about this many frames


@dataclass
class FrameData:
    frames: np.ndarray      # (N, 96, 128, 3) uint8
    actions: np.ndarray     # (N, 8) uint8: actions[i] takes frames[i] to frames[i+1]
    episode: np.ndarray     # (N,) int64 episode id
    map_index: np.ndarray   # (N,) int64, 0 = MAP01
    kept: list | None = None  # per shard of shard_paths(dirs): the frame indices taken (None: skipped)

    def __len__(self) -> int:
        return len(self.frames)

    def window_starts(self, length: int) -> np.ndarray:
        """Indices i where frames i..i+length-1 lie in one episode."""
        if len(self) < length:
            return np.zeros(0, np.int64)
        same = self.episode[: len(self) - length + 1] == self.episode[length - 1:]
        return np.flatnonzero(same)


def shard_paths(dirs: list[str | Path]) -> list[Path]:
    """Complete shards of several capture folders, folder by folder."""
    paths = []
    for d in dirs:
        if not Path(d).is_dir():
            raise UserError(f"{d}: data folder not found")
        paths += capture_shards(d)
    if not paths:
        raise UserError(f"no shards in {', '.join(map(str, dirs))}")
    return paths


def load_frames(dirs: list[str | Path], max_frames: int | None = None, exclude_maps=(),
                only_maps=None, keep_index: bool = False) -> FrameData:
    frames, actions, episodes, maps = [], [], [], []
    next_episode, total = 0, 0
    all_paths = shard_paths(dirs)
    paths = all_paths
    if max_frames is not None:       # spread a subset over the whole capture (every map)
        paths = paths[::max(1, len(paths) * SHARD_FRAMES_GUESS // max_frames)]
    kept: dict = {}
    for path in paths:
        arrays = load_npz(path)
        map_idx = arrays["vars"][:, 0].astype(np.int64)
        keep = ~np.isin(map_idx, list(exclude_maps))
        if only_maps is not None:
            keep &= np.isin(map_idx, list(only_maps))
        starts = arrays["episode_start"].astype(bool).copy()
        starts[0] = True
        # A dropped frame breaks its episode too: mark the next kept frame as a start.
        starts[1:] |= ~keep[:-1]
        episode = next_episode + np.cumsum(starts) - 1
        next_episode = int(episode[-1]) + 1
        idx = np.flatnonzero(keep)
        if max_frames is not None:
            idx = idx[: max_frames - total]
        if len(idx) == 0:
            continue
        kept[path] = idx
        frames.append(area_resize(arrays["frames"][idx], FRAME_H, FRAME_W))
        actions.append(arrays["actions"][idx].astype(np.uint8))
        episodes.append(episode[idx])
        maps.append(map_idx[idx])
        total += len(idx)
        if max_frames is not None and total >= max_frames:
            break
    if not frames:
        raise UserError("no frames left after filtering maps")
    return FrameData(np.concatenate(frames), np.concatenate(actions), np.concatenate(episodes),
                     np.concatenate(maps), [kept.get(p) for p in all_paths] if keep_index else None)
