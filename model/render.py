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
    progress = Progress(len(actions), f"render {out.name}")
    n = write_frames(out, render_frames(world, seed, actions, args.rng_seed, args.backend, **sampler),
                     scale=args.scale, progress=progress)
    progress.close()
    print(f"wrote {n} frames to {out}")
    return 0


def run_replay(args) -> int:
    out = check_out_path(args.out)
    path = Path(args.session)
    log = SessionLog.load(path)
    total = len(log.actions) - log.record_from
    progress = Progress(total, f"replay {out.name}")
    n = write_frames(out, replay_frames(log, path), scale=args.scale, progress=progress)
    progress.close()
    print(f"wrote {n} frames to {out}")
    return 0
