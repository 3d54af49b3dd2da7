"""Sharpness over minutes (docs/design.md, "Measuring fidelity"; issue 12's target): a 7,500-step (5-minute)
rollout under a human-like policy.

The capture's explorer plays the engine from a held-out start; the model gets the 16 frames
up to that start and then the explorer's actions. Sharpness (Laplacian variance) of the
model's frames over that of the engine's in the same stretch of time, at horizon 100 and at
minutes 1 and 5; whether the model's mean colours stay in the range of real frames; and at
the end, whether the view still answers to turning (the same left/right probe in both).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.play.progress import Progress
from model.play.world import FPS
from model.train.dataset import tile, write_png
from model.train.eval_engine import CONTEXT, Engine, Start, model_play, resize
from model.train.eval_response import TURNED, turn_probe
from model.train.metrics import sharpness

MARKS = (("horizon_100", 100), ("minute_1", 60 * FPS), ("minute_5", 5 * 60 * FPS))
WINDOW = 10 * FPS            # sharpness is averaged over the 10 s up to a mark: one frame is noisy
SHEET_EVERY = 30 * FPS       # a contact-sheet frame every 30 s
COLOUR_EVERY = FPS


def long_rollout(session, start: Start, steps: int, real_frames: np.ndarray, out_dir: Path,
                 rng_seed: int = 0) -> dict:
    real = explore_in_engine(start, steps, rng_seed)
    gen = model_rollout(session, real["seed"], start.actions[-(CONTEXT - 1):], real["actions"], rng_seed)
    write_png(out_dir / "long_contact_sheet.png", tile(real["sheet"] + gen["sheet"], len(real["sheet"])))
    return {"steps": steps, "map": start.map_name,
            "sharpness_ratio": {name: _ratio(gen["sharp"], real["sharp"], m, min(WINDOW, m // 2))
                                for name, m in MARKS if m <= steps},
            "sharpness_curve": sharpness_curve(gen["sharp"], real["sharp"]),
            "colour_in_real_range": colour_in_range(gen["means"], real_frames),
            "turn_at_end": {"engine": real["turn"], "model": gen["turn"], **turn_answer(real["turn"], gen["turn"])}}


def explore_in_engine(start: Start, steps: int, rng_seed: int, sheet_every: int = SHEET_EVERY) -> dict:
    """The explorer's actions from `start`, the engine's sharpness after each, sheet frames
    and the turn probe at the end. An episode that ends (an exit) starts again."""
    from model.train.capture import map_knowledge
    from model.train.explorer import make_policy
    engine = Engine(depth=True)
    progress = Progress(steps, "eval long: engine")
    try:
        seed = engine.goto(start)
        policy = make_policy("explorer", np.random.default_rng(rng_seed), map_knowledge(start.map_name))
        actions, sharp, sheet = [], [], [seed[-1]]
        for begin in range(0, steps, WINDOW):           # frames resized a window at a time
            raw = []
            for _ in range(begin, min(steps, begin + WINDOW)):
                actions.append(_explore_step(engine, policy, start))
                raw.append(engine.screen())
            frames = resize(raw)
            sharp += [sharpness(f) for f in frames]
            sheet += [f for j, f in enumerate(frames) if (begin + j + 1) % sheet_every == 0]
            progress(len(actions))
        turn = turn_probe(engine.play)
    finally:
        engine.close()
        progress.close()
    return {"seed": seed, "actions": np.stack(actions), "sharp": np.array(sharp), "sheet": sheet, "turn": turn}


def _explore_step(engine: Engine, policy, start: Start) -> np.ndarray:
    import vizdoom as vzd

    from model.train.capture import start_episode
    from model.train.explorer import Observation
    game = engine.game
    x, y, angle = (game.get_game_variable(getattr(vzd.GameVariable, v)) for v in ("POSITION_X", "POSITION_Y", "ANGLE"))
    action = policy.act(Observation(float(x), float(y), float(angle), game.get_state().depth_buffer))
    game.make_action(action.tolist(), 1)
    if game.is_episode_finished():
        start_episode(game, start.map_name, start.episode_seed)
    return action


def model_rollout(session, seed_frames, seed_actions, actions: np.ndarray, rng_seed: int) -> dict:
    """The model's sharpness after each action, its mean colour every second, sheet frames,
    then the turn probe."""
    model_play(session, seed_frames, seed_actions, [], rng_seed)
    sharp, means, sheet = [], [], [session.frame]
    progress = Progress(len(actions), "eval long: model")
    for i, action in enumerate(actions):
        frame = session.step(action)
        sharp.append(sharpness(frame))
        if i % COLOUR_EVERY == 0:
            means.append(frame.reshape(-1, 3).mean(0))
        if (i + 1) % SHEET_EVERY == 0:
            sheet.append(frame)
        progress(i + 1)
    progress.close()
    turn = turn_probe(lambda script: np.stack([session.frame] + [session.step(a) for a in script]))
    return {"sharp": np.array(sharp), "means": np.array(means), "sheet": sheet, "turn": turn}


def _ratio(gen: np.ndarray, real: np.ndarray, end: int, width: int) -> float:
    width = max(1, width)
    return round(float(gen[end - width:end].mean() / max(real[end - width:end].mean(), 1e-9)), 4)


def sharpness_curve(gen: np.ndarray, real: np.ndarray) -> dict:
    """The ratio over consecutive windows of WINDOW steps (shorter for a short rollout)."""
    width = max(1, min(WINDOW, len(gen) // 4))
    ends = range(width, len(gen) + 1, width)
    return {"window_steps": width, "minutes": [round(e / FPS / 60, 4) for e in ends],
            "ratio": [_ratio(gen, real, e, width) for e in ends]}


def colour_in_range(means: np.ndarray, real_frames: np.ndarray) -> float:
    """Share of sampled model frames whose mean colour lies inside the per-channel range of
    real frames' mean colours (a collapse to one flat colour leaves it)."""
    real = real_frames.reshape(len(real_frames), -1, 3).mean(1)
    lo, hi = real.min(0), real.max(0)
    return round(float(np.mean(np.all((means >= lo) & (means <= hi), axis=1))), 4)


def turn_answer(engine: dict, model: dict) -> dict:
    """Per side: model ÷ engine, and whether the model's view turned the right way (content
    moves right on a left turn) by at least TURNED of the engine's turn."""
    if not engine or not model:
        return {}
    out = {}
    for side, sign in (("left", 1), ("right", -1)):
        e, m = engine[f"{side}_px"], model[f"{side}_px"]
        out[side] = {"ratio": round(m / e, 3) if e else None, "right_direction": bool(sign * m >= TURNED * abs(e))}
    return out
