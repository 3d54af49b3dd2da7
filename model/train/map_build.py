"""Build a world's map (model.play.worldmap) from captured frames with geometry.

    python -m model.train.map_build --data data/geo200k --out runs/geo [--views 4000] [--seeds assets/worlds/freedoom/seeds]

Writes RUN/map.npz: about `--views` training views of the training maps (held-out maps
never), drawn as the captures went (optionally no two within `--spacing` of each other, the
memory's view gap: 0.25 is 12.5 degrees or 48 units), each with the engine's depth, where it shows the world, its
camera pose (map units, degrees) and its map; with `--seeds`, also the places the world's
scene seeds start from, replayed in the engine. `export` puts it in the world pack.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model.nets.geometry import CAMERA
from model.play.memory import gap
from model.play.world import BUTTONS, FRAME_H, FRAME_W, area_resize
from model.play.worldmap import EYE_STEP, MAP_FILE, save_map
from model.train.geometry_fit import world_levels
from model.train.train_data import shard_paths
from model.train.trainer import HOLDOUT_MAPS

VIEWS = 4000        # 4,000 x 6 KB (JPEG colour, depth levels): about 25 MB in the pack
# View gap (model.play.memory.gap) kept between any two map views. 0: drawn as the captures
# went. Measured with the engine's poses, 4,000 views, the nearest warped in: 0 gave PSNR
# 19.3 / 16.7 dB at 1 s / 4 s, 0.25 gave 18.7 / 16.8 (a spread map puts views where play goes less).
SPACING = 0.0
SPIN_TICS = 110     # a full turn from a standing start (6 slow tics, then 3.52 degrees a tic)
SPIN_EVERY = 4      # tics between the kept views of a seed's turn: 14 degrees, 28 views a seed


def cover(poses: np.ndarray, spacing: float, seed: int = 0, most: int | None = None) -> np.ndarray:
    """Indices of `poses` (N, 4: x, y, eye z, yaw), no two within `spacing` of each other (view
    gap, eye heights within EYE_STEP), in the order chosen: greedy over a seeded random order,
    so the first `most` are spread as the captures went (where the explorer went most, most)."""
    order = np.random.default_rng(seed).permutation(len(poses))
    if spacing <= 0:                 # nothing to keep apart: the first `most` of the order
        return order[:most]
    chosen: list[int] = []
    for i in order:
        if most is not None and len(chosen) >= most:
            break
        if chosen:
            c = poses[chosen]
            turn = np.abs((c[:, 3] - poses[i, 3] + 180.0) % 360.0 - 180.0)
            dist = np.hypot(c[:, 0] - poses[i, 0], c[:, 1] - poses[i, 1])
            near = (gap(turn, dist) < spacing) & (np.abs(c[:, 2] - poses[i, 2]) < EYE_STEP)
            if near.any():
                continue
        chosen.append(int(i))
    return np.array(chosen, np.int64)


def _poses(dirs) -> tuple[list, np.ndarray, np.ndarray]:
    """Every captured frame's (shard, index), camera pose and map, held-out maps left out."""
    where, poses, maps = [], [], []
    for path in shard_paths(dirs):
        with np.load(path, allow_pickle=False) as z:
            m = z["vars"][:, 0].astype(np.int64)
            pose, eye = z["pose"], z["camera_z"]
        keep = np.flatnonzero(~np.isin(m, HOLDOUT_MAPS))
        where += [(path, int(i)) for i in keep]
        poses.append(np.stack([pose[keep, 0], pose[keep, 1], eye[keep], pose[keep, 3]], 1))
        maps.append(m[keep])
    return where, np.concatenate(poses).astype(np.float32), np.concatenate(maps)


def seed_views(folder: Path) -> dict[str, np.ndarray]:
    """Views of the places the world's scene seeds start from: each seed with an engine origin
    (model.play.origin) is replayed in the engine to its last frame, which is kept, and then
    from there a full turn on the spot, a view every SPIN_EVERY tics (a new player's first
    look around). Seeds without an origin give none."""
    from model.play.origin import read_origin
    from model.train.capture import MAPS, make_game, sprite_mask, start_episode
    turn = np.zeros(len(BUTTONS), np.uint8)
    turn[BUTTONS.index("TURN_LEFT")] = 1
    frames, depth, sprites, poses, maps, games = [], [], [], [], [], {}
    for path in sorted(Path(folder).glob("*.npz")):
        origin = read_origin(path)
        if origin is None:
            continue
        game = games.get(origin.map)
        if game is None:
            game = games[origin.map] = make_game(origin.map, origin.seed)
        else:
            start_episode(game, origin.map, origin.seed)
        for action in origin.actions:
            game.make_action(action.tolist(), 1)
        for tic in range(SPIN_TICS + 1):
            if tic % SPIN_EVERY == 0:
                state = game.get_state()
                x, y, angle, _secrets, _z, _vx, _vy, camera_z = state.game_variables
                frames.append(state.screen_buffer)
                depth.append(state.depth_buffer)
                sprites.append(sprite_mask(state))
                poses.append((x, y, camera_z, angle))
                maps.append(MAPS.index(origin.map))
            game.make_action(turn.tolist(), 1)
    for game in games.values():
        game.close()
    if not frames:
        return {}
    return {"frames": np.stack(frames), "depth": np.stack(depth), "sprites": np.stack(sprites),
            "pose": np.array(poses, np.float32), "map": np.array(maps, np.int64)}


def build_map(dirs, out: Path, views: int = VIEWS, spacing: float = SPACING, seed: int = 0,
              seeds: Path | None = None) -> int:
    """Choose about `views` map views from `dirs`, each map's share as its share of the frames,
    add the views of `seeds` (a folder of scene seeds: `seed_views`), and write them to `out`;
    returns how many."""
    where, poses, maps = _poses(dirs)
    chosen = np.sort(np.concatenate([
        np.flatnonzero(maps == m)[cover(poses[maps == m], spacing, seed, max(1, round(views * np.mean(maps == m))))]
        for m in np.unique(maps)]))
    by_shard: dict = {}
    for i in chosen:
        by_shard.setdefault(where[i][0], []).append((where[i][1], int(i)))
    frames = np.zeros((len(chosen), FRAME_H, FRAME_W, 3), np.uint8)
    levels = np.zeros((len(chosen), FRAME_H, FRAME_W), np.uint8)
    row = {int(i): r for r, i in enumerate(chosen)}
    for path, items in by_shard.items():
        with np.load(path, allow_pickle=False) as z:
            idx = np.array([k for k, _ in items])
            f, d, s = z["frames"][idx], z["depth"][idx], z["sprites"][idx]
        rows = [row[i] for _, i in items]
        frames[rows] = area_resize(f, FRAME_H, FRAME_W)
        levels[rows] = world_levels(d, s)
    poses, maps = poses[chosen], maps[chosen]
    extra = seed_views(seeds) if seeds is not None else {}
    if extra:
        frames = np.concatenate([frames, area_resize(extra["frames"], FRAME_H, FRAME_W)])
        levels = np.concatenate([levels, world_levels(extra["depth"], extra["sprites"])])
        poses, maps = np.concatenate([poses, extra["pose"]]), np.concatenate([maps, extra["map"]])
    out.parent.mkdir(parents=True, exist_ok=True)
    save_map(out, frames, np.minimum(levels, CAMERA.far_level), poses, maps)
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.train.map_build", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True, help="capture folders with geometry")
    p.add_argument("--out", required=True, help="the run folder; writes map.npz there")
    p.add_argument("--views", type=int, default=VIEWS)
    p.add_argument("--spacing", type=float, default=SPACING)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default=None, help="a folder of scene seeds whose places the map also holds")
    a = p.parse_args(argv)
    n = build_map(a.data, Path(a.out) / MAP_FILE, a.views, a.spacing, a.seed,
                  Path(a.seeds) if a.seeds else None)
    print(f"map: {n} views -> {Path(a.out) / MAP_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
