"""`render` (frames from a scene seed and an actions file) and `replay` (a recorded session)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.progress import Progress
from model.play.runtime import open_world
from model.play.sampler import SamplerSettings, check_rng_seed, denoise_option
from model.play.session_log import MAX_ACTIONS, SessionLog
from model.play.timeline import Timeline
from model.play.video import check_out_path, write_frames
from model.play.world import N_BUTTONS, ActionScript

# Frames stream to disk, so memory stays flat; the cap is the longest session a recording
# keeps (30 hours at 25 fps), so that what render makes, replay could make too.
MAX_RENDER_FRAMES = MAX_ACTIONS


def render_frames(world, seed, actions: np.ndarray, rng_seed: int, backend: str, **sampler):
    """Yield one frame per action, from `seed`."""
    session = world.session(backend=backend, **sampler)
    session.reset(seed, rng_seed)
    for action in actions:
        yield session.step(action)


def write_with_progress(out: Path, frames, total: int, args, actions=None) -> int:
    """Frames to `out` with the MP4 look the flags ask for (--scale/--smooth/--overlay)."""
    progress = Progress(total, f"{args.command} {out.name}")
    try:
        n = write_frames(out, frames, total, scale=args.scale, progress=progress, actions=actions,
                         smooth=getattr(args, "smooth", False), overlay=getattr(args, "overlay", False))
    finally:
        progress.close()
    print(f"wrote {n} frames to {out}")
    return n


def check_length(frames: int, what: str) -> None:
    """Refuse a render longer than MAX_RENDER_FRAMES before a frame of it is made."""
    if frames > MAX_RENDER_FRAMES:
        raise UserError(f"{what}: {frames:,} frames is more than a render makes ({MAX_RENDER_FRAMES:,}: "
                        f"30 hours at 25 fps, the longest session a recording keeps)")


def planned_actions(actions: np.ndarray, steps: int | None, path) -> np.ndarray:
    """The file's actions cut to --steps N, or with the last one held (idle if none) up to N."""
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    what = str(path) if steps is None else f"--steps {steps}"
    steps = len(actions) if steps is None else steps
    check_length(steps, what)                       # before the padding is made: it could be huge
    if steps == 0:
        raise UserError(f"{path}: no actions to render")
    last = actions[-1:] if len(actions) else np.zeros((1, N_BUTTONS), np.uint8)
    return np.concatenate([actions[:steps], np.repeat(last, max(0, steps - len(actions)), axis=0)])


def warn(command: str, note: str | None) -> None:
    """A warning on stderr that does not stop the command (a tiny seed, stretched)."""
    if note:
        print(f"reverie {command}: warning: {note}", file=sys.stderr)


def run_render(args) -> int:
    out = check_out_path(args.out)
    rng_seed = check_rng_seed(args.rng_seed)
    sampler = denoise_option(args.denoise_steps)
    world = open_world(args.world)
    seed = world.load_seed(args.seed)
    actions = planned_actions(ActionScript.load(args.actions).actions, args.steps, args.actions)
    warn(args.command, seed.note)
    frames = render_frames(world, seed, actions, rng_seed, args.backend, **sampler)
    write_with_progress(out, frames, len(actions), args, actions)
    return 0


def run_replay(args) -> int:
    out = check_out_path(args.out)
    path = Path(args.session)
    log = SessionLog.load(path)
    actions = log.actions[log.record_from:]          # replay yields one frame per recorded action
    if len(actions) == 0:
        raise UserError(f"{path}: the session recorded no frames, so there is nothing to replay")
    write_with_progress(out, replay_frames(log, path), len(actions), args, np.array(list(actions), np.uint8))
    return 0


def resolve_seed(log: SessionLog, session_path: Path, world):
    """The session's scene seed, checked against its recorded sha256."""
    if "name" in log.seed:
        if log.seed["name"] not in world.seed_names():      # a name never reaches the file system
            raise UserError(f"{session_path}: scene seed '{log.seed['name']}' is not in world '{world.id}'")
        return world.load_seed(log.seed["name"])
    folder = Path(session_path).resolve().parent
    path = folder / log.seed["path"]
    if not path.is_file() or path.resolve().parent != folder:     # a link out of the folder is refused too
        raise UserError(f"{path}: the session's scene seed is missing")
    seed = world.load_seed(str(path))
    if seed.sha256 != log.seed["sha256"]:
        raise UserError(f"{path}: scene seed differs from the one recorded (sha256 mismatch)")
    return seed


def replay_frames(log: SessionLog, session_path: Path, backend: str | None = None):
    """Yield the recorded frames again, bit for bit on the same backend."""
    world = open_world(log.world)
    if world.pack.model_hashes() != log.models:
        raise UserError(f"{session_path}: the world's model files differ from the session's "
                        "(sha256 mismatch); replay needs the same model")
    seed = resolve_seed(log, session_path, world)
    session = world.session(backend=backend or log.backend, **SamplerSettings.known(log.sampler))
    timeline = Timeline(session)
    timeline.reset(seed, log.rng_seed)
    events: dict[int, list[dict]] = {}
    for event in log.events:
        events.setdefault(event["at"], []).append(event)
    for i, action in enumerate(log.actions):
        for event in events.get(i, []):
            _apply(event, timeline, seed, log.rng_seed)
        frame = timeline.step(np.array(action, np.uint8))
        if i >= log.record_from:
            yield frame


def _apply(event: dict, timeline, seed, rng_seed: int) -> None:
    if event["type"] == "steps":
        timeline.session.steps = event["value"]
    elif event["type"] == "rewind":
        timeline.rewind_to(event["to"])
    else:
        timeline.reset(seed, rng_seed)
