"""Action response (docs/design.md, "Measuring fidelity"; issue 12's target): does the view move the way the
engine's does for each key?

From each held-out start, for each motion: IDLE_TICS standing still, then HOLD_TICS of the
key held, in the engine and in the model from the same state. The view's motion is summed
over the held tics by dense optical flow between consecutive frames: mean horizontal flow
for turns and strafes, the flow field's expansion (zoom) for walking. Per motion: the median
of model / engine over the segments and the fraction in the right direction.
"""
from __future__ import annotations

import numpy as np

from model.play.progress import Progress
from model.train.eval_engine import Engine, both_play, held_motion, hold

IDLE_TICS = 8            # walking momentum from the recorded play falls to 45% (friction 0.906/tic)
HOLD_TICS = 12           # 5 slow turn tics (1.76°) and 7 fast ones (3.52°): about 33°
BLOCKED = 0.2            # engine motion under this share of its median: a wall stopped it
TURNED = 0.1             # the least share of the engine's motion that counts as a direction
MOTIONS = {              # name: (keys, flow statistic, sign of the engine's motion)
    "turn_left": ({"TURN_LEFT"}, "pan", 1),
    "turn_right": ({"TURN_RIGHT"}, "pan", -1),
    "forward": ({"MOVE_FORWARD"}, "zoom", 1),
    "back": ({"MOVE_BACKWARD"}, "zoom", -1),
    "strafe_left": ({"MOVE_LEFT"}, "pan", 1),
    "strafe_right": ({"MOVE_RIGHT"}, "pan", -1),
}
UNITS = {"pan": "px", "zoom": "scale"}


def motion_script(keys: set[str]) -> list[np.ndarray]:
    return hold(set(), IDLE_TICS) + hold(keys, HOLD_TICS)


def action_response(session, starts, rng_seed: int = 0) -> dict:
    """Per motion: engine and model motion of every segment, and their summary."""
    engine = Engine()
    raw = {name: ([], []) for name in MOTIONS}
    progress = Progress(len(starts) * len(MOTIONS), "eval action response")
    try:
        for n, start in enumerate(starts):
            for name, (keys, kind, _) in MOTIONS.items():
                real, gen = both_play(engine, session, start, motion_script(keys), rng_seed + n)
                if real is not None:
                    raw[name][0].append(held_motion(real, IDLE_TICS, HOLD_TICS, kind))
                    raw[name][1].append(held_motion(gen, IDLE_TICS, HOLD_TICS, kind))
                progress(progress.done + 1)
    finally:
        engine.close()
        progress.close()
    return {name: {**summarize(eng, mod, MOTIONS[name][2]), "unit": UNITS[MOTIONS[name][1]]}
            for name, (eng, mod) in raw.items()}


def summarize(engine: list[float], model: list[float], sign: int) -> dict:
    """Ratios over the segments where the engine's view moved (not stopped by a wall). The
    model's direction is right when it moves the engine's way by at least TURNED of the
    engine's motion: a frozen picture's flow is noise around 0 and has no direction."""
    eng, mod = np.asarray(engine, float), np.asarray(model, float)
    if len(eng) == 0:
        return {"segments": 0, "segments_moving": 0}
    moving = np.abs(eng) >= BLOCKED * np.median(np.abs(eng))
    moving &= np.sign(eng) == sign        # a wall can push back; such a segment tests nothing
    ratio = mod[moving] / eng[moving]
    quartiles = np.percentile(ratio, [25, 75]) if len(ratio) else [np.nan, np.nan]
    return {"segments": len(eng), "segments_moving": int(moving.sum()),
            "engine_motion": _round(np.median(eng)), "model_motion": _round(np.median(mod)),
            "ratio_median": _round(np.median(ratio) if len(ratio) else np.nan),
            "ratio_quartiles": [_round(q) for q in quartiles],
            "right_direction": _round(np.mean(ratio >= TURNED) if len(ratio) else np.nan),
            "engine_right_direction": _round(np.mean(np.sign(eng) == sign)),
            "per_segment": {"engine": [_round(v) for v in eng], "model": [_round(v) for v in mod]}}


def turn_probe(play) -> dict:
    """Left then right turn, each after IDLE_TICS still: `play(script)` returns the frames.
    The view motion (px) of each held turn."""
    script = motion_script({"TURN_LEFT"}) + motion_script({"TURN_RIGHT"})
    frames = play(script)
    if frames is None:
        return {}
    second = IDLE_TICS + HOLD_TICS + IDLE_TICS
    return {"left_px": round(held_motion(frames, IDLE_TICS, HOLD_TICS, "pan"), 3),
            "right_px": round(held_motion(frames, second, HOLD_TICS, "pan"), 3)}


def _round(x) -> float | None:
    x = float(x)
    return round(x, 4) if np.isfinite(x) else None
