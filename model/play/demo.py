"""`demo`: a guided tour of a world's scenes, rendered to one MP4 by one command.

    python main.py demo --seed all --out tour.mp4 --scale 4 --overlay

Each scene seed plays a tour: `<pack>/tours/<seed>.json` when the pack has one (the
actions .json format of docs/design.md), else `<pack>/tours/default.json`, else the
built-in tour below, which suits any scene: walk, look around, strafe, fire, use, back up.
Every scene opens on its seed frame held for half a second, so cuts between scenes read.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.play.errors import UserError, printable
from model.play.render import check_length, warn, write_with_progress
from model.play.runtime import open_world
from model.play.sampler import check_rng_seed
from model.play.video import VideoWriter, check_out_path
from model.play.world import FPS, N_BUTTONS, ActionScript, action_from_names

# (seconds, buttons held): a deterministic look around that suits any scene.
TOUR = (
    (1.0, ()),
    (2.0, ("MOVE_FORWARD",)),
    (1.2, ("TURN_LEFT",)),
    (2.0, ("MOVE_FORWARD", "TURN_RIGHT")),
    (0.6, ("ATTACK",)),
    (0.6, ()),
    (1.4, ("MOVE_LEFT",)),
    (1.4, ("MOVE_RIGHT",)),
    (2.4, ("TURN_RIGHT",)),
    (1.2, ("MOVE_FORWARD", "USE")),
    (1.4, ("MOVE_BACKWARD",)),
    (1.0, ("TURN_LEFT", "ATTACK")),
    (2.0, ("MOVE_FORWARD",)),
)
HOLD_FRAMES = FPS // 2              # the seed frame, shown before each scene's tour
SAMPLE_FRAMES = 10                  # timed before the demo starts, to say how long it will take


def default_tour() -> np.ndarray:
    """The built-in tour as (N, 8) uint8 actions, FPS per second."""
    return np.concatenate([np.repeat(action_from_names(set(names))[None], round(seconds * FPS), axis=0)
                           for seconds, names in TOUR])


def tour_for(pack, seed_name: str) -> tuple[np.ndarray, str]:
    """The actions touring `seed_name`, and where they came from (for the log line)."""
    folder = Path(pack.root) / "tours"
    for path in (folder / f"{seed_name}.json", folder / "default.json"):
        if path.is_file():
            actions = ActionScript.load(path).actions
            if len(actions) == 0:
                raise UserError(f"{path}: a tour needs at least one action")
            return actions, str(path)
    return default_tour(), "built-in tour"


def demo_plan(world, seed_arg: str | None, max_frames: int | None):
    """[(seed, tour actions, source)] for --seed NAME, PATH or 'all'."""
    if seed_arg == "all":
        names = world.seed_names()
        if not names:
            raise UserError(f"{world.pack.root}: world has no scene seeds")
    else:
        names = [seed_arg]
    plan = []
    for name in names:
        seed = world.load_seed(name)
        actions, source = tour_for(world.pack, Path(name).stem if name else seed.name)
        plan.append((seed, actions[:max_frames] if max_frames else actions, source))
    return plan


def tour_frames(session, plan, rng_seed: int):
    """Yield every frame of the plan's scenes in turn: the held seed frame, then the tour."""
    for seed, actions, _ in plan:
        first = session.reset(seed, rng_seed)
        for _ in range(HOLD_FRAMES):
            yield first
        for action in actions:
            yield session.step(action)


def tour_actions(plan) -> np.ndarray:
    """The action of every frame tour_frames yields (none held over a seed frame), for the overlay."""
    idle = np.zeros((HOLD_FRAMES, N_BUTTONS), np.uint8)
    return np.concatenate([part for _, actions, _ in plan for part in (idle, actions)])


def estimate_seconds(session, plan, args, frames: int) -> float:
    """How long the demo will take here: a few frames of the first scene made and encoded as
    the demo makes them (into a throwaway file), timed. The scene is reset again before use."""
    seed, actions, _ = plan[0]
    session.reset(seed, args.rng_seed)
    sample = actions[:SAMPLE_FRAMES]
    with tempfile.TemporaryDirectory(prefix="reverie-demo-") as folder, \
            VideoWriter(Path(folder) / "sample.mp4", scale=args.scale, smooth=args.smooth,
                        overlay=args.overlay) as writer:
        start = time.perf_counter()
        for action in sample:
            writer.write(session.step(action), action)
        spent = time.perf_counter() - start
    return spent / len(sample) * frames


def run(args) -> int:
    out = check_out_path(args.out)
    if out.suffix.lower() != ".mp4":
        raise UserError(f"{out}: demo writes an .mp4 video")
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    check_rng_seed(args.rng_seed)
    world = open_world(args.world)
    plan = demo_plan(world, args.seed, args.frames)
    for seed, actions, source in plan:
        warn(args.command, seed.note)
        print(printable(f"{seed.name}: {len(actions)} frames ({source})"))
    actions = tour_actions(plan)
    check_length(len(actions), "demo")
    session = world.session(backend=args.backend)
    eta = estimate_seconds(session, plan, args, len(actions))
    print(f"demo: {len(actions):,} frames ({tqdm.format_interval(len(actions) / FPS)} of video) from "
          f"{len(plan)} scene{'s' * (len(plan) != 1)}; about {tqdm.format_interval(eta)} to make here", flush=True)
    write_with_progress(out, tour_frames(session, plan, args.rng_seed), len(actions), args, actions)
    return 0
