"""`python -m model.train.make_seeds`: the freedoom world's scene seeds, picked from explorer play.

A scene seed is where a session starts: 16 frames of context (and the 15 actions between
them) ending on the view the player first sees. Good starting views face into a room or
down a hall (the depth buffer's centre is far), are lit well enough to read, have some
contrast, and were not taken while firing or pressing USE. For each map in SEED_MAPS the
explorer plays fixed-seed episodes and the best-scoring moments, well apart in time, become
seeds. Deterministic: the same engine and code give the same files.

Each seed also stores its engine origin (model/play/origin.py: the map, the episode's seed and
every action from the episode's start), so the player's "Compare with engine" view can bring
the engine to the seed's last frame and play it beside the model.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from model.play.origin import EngineOrigin
from model.play.world import BUTTON_INDEX, FRAME_H, FRAME_W, area_resize
from model.train.capture import (
    MAPS,
    empty_shard,
    make_game,
    map_knowledge,
    play_episode,
    start_episode,
)
from model.train.dataset import write_npz, write_png
from model.train.explorer import make_policy

SEEDS_DIR = Path(__file__).resolve().parent.parent / "assets" / "worlds" / "freedoom" / "seeds"
CONTEXT = 16
SEED_MAPS = ("MAP01", "MAP02", "MAP04", "MAP07", "MAP10", "MAP11", "MAP13", "MAP14", "MAP19", "MAP23")
PER_MAP = 2
EPISODE_TICS = 2500
MIN_GAP = 400            # tics between two seeds of one map: different places
RNG_SEED = 2024
# Level titles from freedoom2.wad (Freedoom 0.13.0) DEHACKED strings, for readable names.
TITLES = {
    "MAP01": "Hydroelectric Plant", "MAP02": "Filtration Tunnels", "MAP03": "Crude Processing Center",
    "MAP04": "Containment Bay", "MAP05": "Sludge Burrow", "MAP06": "Janus Terminal",
    "MAP07": "Logic Gate", "MAP08": "Astronomy Complex", "MAP09": "Datacenter",
    "MAP10": "Deadly Outlands", "MAP11": "Dimensional Rift Observatory", "MAP12": "Railroads",
    "MAP13": "Station Earth", "MAP14": "Nuclear Zone", "MAP15": "Hostile Takeover",
    "MAP16": "Urban Jungle", "MAP17": "City Capitol", "MAP18": "Aquatics Lab",
    "MAP19": "Sewage Control", "MAP20": "Blood Ember Fortress", "MAP21": "Under Realm",
    "MAP22": "Remanasu", "MAP23": "Underground Facility", "MAP24": "Abandoned Teleporter Lab",
    "MAP25": "Persistence of Memory", "MAP26": "Dark Depths", "MAP27": "Palace of Red",
    "MAP28": "Grim Redoubt", "MAP29": "Melting Point", "MAP30": "Jaws of Defeat",
    "MAP31": "Be Quiet", "MAP32": "Not Sure",
}
_ATTACK, _USE = BUTTON_INDEX["ATTACK"], BUTTON_INDEX["USE"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.train.make_seeds", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SEEDS_DIR, help="seed folder (default: the freedoom pack's)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    game = make_game(SEED_MAPS[0], 0, depth=True)
    try:
        for number, map_name in enumerate(SEED_MAPS):
            frames, actions, view, episode_seed = _play(game, map_name, RNG_SEED + number)
            names: set[str] = set()
            for end in _pick(view, actions):
                name = _seed_name(map_name, view[end], names)
                write_seed(args.out, name, frames[end - CONTEXT + 1:end + 1], actions[end - CONTEXT + 1:end],
                            EngineOrigin(map_name, episode_seed, actions[:end]))
                print(f"{name}: tic {end}", file=sys.stderr)
    finally:
        game.close()
    return 0


def _play(game, map_name: str, seed: int):
    """One explorer episode: engine frames, actions, per-tic view measurements, the episode's seed."""
    rng = np.random.default_rng(seed)
    episode_seed = int(rng.integers(2**31 - 1))
    start_episode(game, map_name, episode_seed)
    policy = make_policy("explorer", rng, map_knowledge(map_name))
    arrays = empty_shard(EPISODE_TICS)
    view = np.zeros((EPISODE_TICS, 5), np.float64)   # centre depth, brightness, contrast, left, right

    def watch(t: int, state) -> None:
        view[t] = _measure(state.screen_buffer, state.depth_buffer)

    played = play_episode(game, policy, arrays, 0, EPISODE_TICS, MAPS.index(map_name), watch)
    return arrays["frames"][:played], arrays["actions"][:played], view[:played], episode_seed


def _measure(frame: np.ndarray, depth: np.ndarray) -> tuple[float, ...]:
    luma = frame[::2, ::2].astype(np.float64) @ (0.299, 0.587, 0.114)   # half-res is plenty
    centre = float(np.median(depth[40:80, 50:110]))
    left, right = float(np.median(depth[50:70, :30])), float(np.median(depth[50:70, -30:]))
    return centre, float(luma.mean()), float(luma.std()), left, right


def _pick(view: np.ndarray, actions: np.ndarray) -> list[int]:
    """Ends of the PER_MAP best windows, at least MIN_GAP tics apart."""
    centre, bright, contrast = view[:, 0], view[:, 1], view[:, 2]
    score = np.minimum(centre, 60) / 60 + np.minimum(contrast, 50) / 50 + np.minimum(bright, 90) / 90
    score[_after(actions[:, _ATTACK] | actions[:, _USE], CONTEXT)] = -np.inf
    score[centre < 20] = -np.inf                 # facing a wall
    score[:max(CONTEXT, 60)] = -np.inf           # the spawn view is in every episode already
    picks: list[int] = []
    for end in np.argsort(-score, kind="stable"):
        if not np.isfinite(score[end]) or len(picks) == PER_MAP:
            break
        if all(abs(int(end) - p) >= MIN_GAP for p in picks):
            picks.append(int(end))
    return sorted(picks)


def _after(pressed: np.ndarray, tics: int) -> np.ndarray:
    """Tics within `tics` after a press: muzzle flashes, doors on the move."""
    return np.convolve(pressed, np.ones(tics), "full")[:len(pressed)] > 0


def _seed_name(map_name: str, view: np.ndarray, taken: set[str]) -> str:
    """`map01-hydroelectric-plant-hall`: the map, its title, and what the view looks like."""
    centre, _, _, left, right = view
    kind = "hall" if centre >= 30 and max(left, right) < 15 else "vista" if min(left, right) >= 25 else "room"
    slug = re.sub(r"[^a-z0-9]+", "-", TITLES[map_name].lower()).strip("-")
    name, n = f"{map_name.lower()}-{slug}-{kind}", 2
    while name in taken:
        name, n = f"{map_name.lower()}-{slug}-{kind}-{n}", n + 1
    taken.add(name)
    return name


def write_seed(folder: Path, name: str, frames: np.ndarray, actions: np.ndarray, origin: EngineOrigin) -> None:
    """A scene seed from engine frames (160x120, resized here) and the origin that replays to them."""
    frames = np.stack([area_resize(f, FRAME_H, FRAME_W) for f in frames])
    arrays = {"frames": frames, "actions": actions, "name": np.array(name), **origin.arrays()}
    write_npz(folder / f"{name}.npz", arrays, level=9)
    write_png(folder / f"{name}.png", frames[-1])


if __name__ == "__main__":
    sys.exit(main())
