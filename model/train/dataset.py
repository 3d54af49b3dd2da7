"""Capture shards on disk: atomic, byte-reproducible writing, reading, and the dataset report.

A shard is an `.npz` of whole episodes (so any shard can be made, or remade, on its own):

| array | dtype, shape | meaning |
|---|---|---|
| `frames` | uint8 [T,120,160,3] | raw engine frames (the model area-resizes them) |
| `actions` | uint8 [T,8] | `actions[i]` takes `frames[i]` to `frames[i+1]` (canonical button order) |
| `vars` | float32 [T,4] | map index (0 = MAP01), x, y, angle (degrees) at `frames[i]` |
| `episode_start` | bool [T] | True on the first frame of each episode |
| `map` | uint8 [T] | map index (0 = MAP01) |
| `episode_seed` | int64 [T] | the engine seed of the frame's episode: replays it exactly |

From format 3 on, geometry (training supervision only; shards without it still load):

| array | dtype, shape | meaning |
|---|---|---|
| `pose` | float32 [T,4] | x, y, z (floor under the player), angle (degrees) at `frames[i]` |
| `velocity` | float32 [T,2] | VELOCITY_X, VELOCITY_Y (map units per tic) |
| `camera_z` | float32 [T] | the eye's height: z + view height, walking bob included |
| `depth` | uint8 [T,120,160] | the engine's depth buffer (quantized, relative) |
| `sprites` | uint8 [T,120,160] | 1 weapon sprite, 2 other sprites, 0 walls/floors/ceilings |
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from model.play.errors import UserError, os_reason
from model.play.images import write_png  # noqa: F401  (Pillow; capture, seeds and eval write through it here)
from model.play.world import BUTTONS, MOVE_BUTTONS

SHARD_NAME = "shard_{:05d}.npz"
_SHARD_RE = re.compile(r"^shard_(\d{5})\.npz$")
CELL = 64                      # map units: the grid that coverage counts
STUCK_TICS = 8                 # see stuck_mask()
STUCK_DIST = 1.0               # map units
STAT_KEYS = ("actions", "vars", "episode_start", "map")
# Fixed zip timestamp: the same arrays always give the same bytes (reruns, resumes, git).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], level: int = 1) -> None:
    """Write arrays as a deflated `.npz`, atomically (`name.tmp.npz`, then rename).

    numpy's savez stamps the wall clock into the zip, so it is written here with a
    fixed timestamp. Level 1 because the engine makes frames faster than zlib -6 packs them.
    """
    path = Path(path)
    tmp = path.with_name(path.name[: -len(".npz")] + ".tmp.npz")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for key, array in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_EPOCH)
                zf.writestr(info, buf.getbuffer(), zipfile.ZIP_DEFLATED, level)
        os.replace(tmp, path)
    except OSError as exc:      # a full disk: one line, and no half-written file behind
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write ({os_reason(exc)}); nothing written") from None
    except BaseException:       # interrupted or failed: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise


def read_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Only the named arrays of an `.npz` (the report skips the frames), never unpickling."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise UserError(f"{path}: missing arrays {missing}")
            return {k: data[k] for k in keys}
    except UserError:
        raise
    except Exception as exc:  # corrupt zip, bad header, pickled objects
        raise UserError(f"{path}: not a valid shard ({type(exc).__name__}: {exc})") from None


def shard_paths(out_dir: str | Path) -> list[Path]:
    """Complete shards in a folder, in index order (`.tmp.npz` leftovers are not shards)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if _SHARD_RE.match(p.name))


# ---- statistics ---------------------------------------------------------------------------

def episode_ids(episode_start: np.ndarray) -> np.ndarray:
    """A running episode number per frame (frames before the first start count as episode 0)."""
    return np.cumsum(episode_start.astype(np.int64))


def stuck_mask(actions: np.ndarray, vars_: np.ndarray, episode_start: np.ndarray) -> np.ndarray:
    """Frames where the player pushes but does not move.

    Frame t is stuck when each of the STUCK_TICS actions that led to it (t-8 .. t-1) held
    at least one movement button, yet the player's position at t is less than STUCK_DIST
    map units from its position at t-8, all within one episode. Pressing opposite buttons
    together counts as pushing: the player asked to move and did not.
    """
    n = len(actions)
    stuck = np.zeros(n, dtype=bool)
    if n <= STUCK_TICS:
        return stuck
    moving = actions[:, MOVE_BUTTONS].any(axis=1).astype(np.int64)
    held = np.concatenate([[0], np.cumsum(moving)])
    t = np.arange(STUCK_TICS, n)
    pushed = (held[t] - held[t - STUCK_TICS]) == STUCK_TICS
    ep = episode_ids(episode_start)
    same = ep[t] == ep[t - STUCK_TICS]
    dist = np.hypot(vars_[t, 1] - vars_[t - STUCK_TICS, 1], vars_[t, 2] - vars_[t - STUCK_TICS, 2])
    stuck[t] = pushed & same & (dist < STUCK_DIST)
    return stuck


def run_lengths(pressed: np.ndarray, episode_start: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive pressed frames; an episode start ends a run."""
    pressed = pressed.astype(bool)
    starts = pressed & (np.concatenate([[True], ~pressed[:-1]]) | episode_start)
    run_id = np.cumsum(starts)[pressed]
    return np.bincount(run_id)[1:] if run_id.size else np.zeros(0, dtype=np.int64)


def shard_stats(arrays: dict[str, np.ndarray]) -> dict:
    """The additive pieces of the report for one shard (merged by dataset_report)."""
    actions, vars_, start = arrays["actions"], arrays["vars"], arrays["episode_start"]
    maps = arrays["map"].astype(np.int64)
    cells = {}
    for m in np.unique(maps):
        sel = maps == m
        cx = np.floor(vars_[sel, 1] / CELL).astype(np.int64)
        cy = np.floor(vars_[sel, 2] / CELL).astype(np.int64)
        cells[int(m)] = set(zip(cx.tolist(), cy.tolist()))
    return {
        "frames": len(actions),
        "episodes": int(start.sum()),
        "frames_per_map": {int(m): int((maps == m).sum()) for m in np.unique(maps)},
        "pressed": actions.sum(axis=0).astype(np.int64),
        "runs": [run_lengths(actions[:, b], start) for b in range(len(BUTTONS))],
        "idle": int((actions.sum(axis=1) == 0).sum()),
        "stuck": int(stuck_mask(actions, vars_, start).sum()),
        "cells": cells,
    }


def merge_stats(parts: list[dict]) -> dict:
    """The report of several shards' stats: counts add, cell sets unite, runs concatenate."""
    frames = sum(p["frames"] for p in parts)
    per_map: dict[int, int] = {}
    cells: dict[int, set] = {}
    for p in parts:
        for m, c in p["frames_per_map"].items():
            per_map[m] = per_map.get(m, 0) + c
        for m, s in p["cells"].items():
            cells.setdefault(m, set()).update(s)
    pressed = sum((p["pressed"] for p in parts), np.zeros(len(BUTTONS), np.int64))
    buttons = {}
    for b, name in enumerate(BUTTONS):
        runs = np.concatenate([p["runs"][b] for p in parts] + [np.zeros(0, np.int64)])
        buttons[name] = {
            "frames": int(pressed[b]),
            "fraction": _ratio(pressed[b], frames),
            "holds": int(runs.size),
            "mean_hold": round(float(runs.mean()), 2) if runs.size else 0.0,
            "median_hold": float(np.median(runs)) if runs.size else 0.0,
        }
    return {
        "frames": frames,
        "episodes": sum(p["episodes"] for p in parts),
        "idle_fraction": _ratio(sum(p["idle"] for p in parts), frames),
        "stuck_fraction": _ratio(sum(p["stuck"] for p in parts), frames),
        "stuck_definition": f"a movement button held in each of the last {STUCK_TICS} actions "
                            f"and the position moved < {STUCK_DIST:g} unit over those tics",
        "buttons": buttons,
        "maps": {f"MAP{m + 1:02d}": {"frames": per_map[m], "cells": len(cells[m])} for m in sorted(per_map)},
        "coverage_cells": sum(len(s) for s in cells.values()),
        "cell_size": CELL,
    }


def _ratio(count, total) -> float:
    return round(float(count) / total, 4) if total else 0.0


def dataset_report(paths: list[Path]) -> dict:
    """Frames per map, button usage and hold lengths, idle and stuck fractions, coverage."""
    return merge_stats([shard_stats(read_npz(p, STAT_KEYS)) for p in paths])


def format_report(report: dict) -> str:
    """The report as a few readable lines for the terminal."""
    lines = [f"frames {report['frames']:,}  episodes {report['episodes']}  "
             f"idle {report['idle_fraction']:.1%}  stuck {report['stuck_fraction']:.1%}  "
             f"coverage {report['coverage_cells']:,} cells of {report['cell_size']}x{report['cell_size']}",
             "button          used   holds  mean  median"]
    for name, b in report["buttons"].items():
        lines.append(f"{name:<14}{b['fraction']:>6.1%}{b['holds']:>8}{b['mean_hold']:>6.1f}{b['median_hold']:>8.1f}")
    maps = [f"{m} {v['frames']:>6} fr {v['cells']:>4} cells" for m, v in report["maps"].items()]
    lines += ["   ".join(maps[i:i + 3]) for i in range(0, len(maps), 3)]
    return "\n".join(lines)


def contact_sheet(paths: list[Path], rows: int = 4, cols: int = 4) -> np.ndarray:
    """rows x cols frames spread evenly over the whole capture, tiled into one image."""
    lengths = [len(read_npz(p, ("episode_start",))["episode_start"]) for p in paths]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    picks = np.linspace(0, offsets[-1] - 1, rows * cols).astype(np.int64)
    tiles = []
    for shard in np.unique(np.searchsorted(offsets, picks, side="right") - 1):
        frames = read_npz(paths[shard], ("frames",))["frames"]
        local = picks[(picks >= offsets[shard]) & (picks < offsets[shard + 1])] - offsets[shard]
        tiles += [frames[i] for i in local]
    return tile(tiles, cols)


def tile(frames: list[np.ndarray], cols: int) -> np.ndarray:
    """Frames (H, W, 3) laid out in rows of `cols`, the last row padded with black."""
    rows = -(-len(frames) // cols)
    h, w = frames[0].shape[:2]
    grid = np.zeros((rows * cols, h, w, 3), np.uint8)
    grid[:len(frames)] = frames
    return grid.reshape(rows, cols, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, 3)
