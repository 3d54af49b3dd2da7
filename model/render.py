"""`render` (frames from a scene seed and an actions file) and `replay` (a recorded session)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.errors import UserError
from model.progress import Progress
from model.runtime import open_world
from model.session_log import SessionLog, replay_frames
from model.video import check_out_path, write_frames
from model.world import ActionScript


def render_frames(world, seed, actions: np.ndarray, rng_seed: int, backend: str, **sampler):
    """Yield one frame per action, from `seed`."""
    session = world.session(backend=backend, **sampler)
    session.reset(seed, rng_seed)
    for action in actions:
        yield session.step(action)


def write_with_progress(out: Path, frames, total: int, args, actions=None) -> int:
    """Frames to `out` with the MP4 look the flags ask for (--scale/--smooth/--overlay)."""
    progress = Progress(total, f"{args.command} {out.name}")
    n = write_frames(out, frames, scale=args.scale, progress=progress, actions=actions,
                     smooth=getattr(args, "smooth", False), overlay=getattr(args, "overlay", False))
    progress.close()
    print(f"wrote {n} frames to {out}")
    return n


def run_render(args) -> int:
    out = check_out_path(args.out)
    world = open_world(args.world)
    seed = world.load_seed(args.seed)
    actions = ActionScript.load(args.actions).actions
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps must be at least 1, got {args.steps}")
        if args.steps > len(actions):        # hold the last action for the rest
            pad = np.repeat(actions[-1:] if len(actions) else np.zeros((1, 8), np.uint8),
                            args.steps - len(actions), axis=0)
            actions = np.concatenate([actions, pad])
        actions = actions[:args.steps]
    if len(actions) == 0:
        raise UserError(f"{args.actions}: no actions to render")
    sampler = {"steps": args.denoise_steps} if args.denoise_steps else {}
    frames = render_frames(world, seed, actions, args.rng_seed, args.backend, **sampler)
    write_with_progress(out, frames, len(actions), args, actions)
    return 0


def run_replay(args) -> int:
    out = check_out_path(args.out)
    path = Path(args.session)
    log = SessionLog.load(path)
    actions = log.actions[log.record_from:]          # replay yields one frame per recorded action
    write_with_progress(out, replay_frames(log, path), len(actions), args, np.array(actions, np.uint8))
    return 0
