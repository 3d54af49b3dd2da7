"""Look-back and revisit (docs/design.md, "Spatial memory"; issue 13's targets): does the world remember
what is behind you?

Look-back: stand still until the motion has died out, turn about 90° away, pause, turn back.
Revisit: the same with 2 s of walking forward and 2 s back. Each is scored as
PSNR(final, start) − PSNR(away, start) over the top 70 rows, PSNR capped at 40 dB, in the
engine and the model from the same held-out starts. A frozen picture scores 0, and the
turn's own motion (model ÷ engine, by optical flow) is reported so it cannot pass.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.play.progress import Progress
from model.train.dataset import tile, write_png
from model.train.eval_engine import Engine, both_play, held_motion, hold
from model.train.metrics import return_score

SETTLE_TICS = 60         # 2.4 s still: walking speed (8.3 units/tic) falls under the engine's stop speed (0.06) in ~50
TURN_TICS = 28           # 5 slow tics of 1.758° then 23 of 3.516°: 89.7° (measured in the engine)
PAUSE_TICS = 10
WALK_TICS = 50           # 2 s at 25 frames/s


def lookback_script(turn_left: bool):
    """(actions, index of the start, away and final frames); frames[i] is after i actions."""
    away_key, back_key = ("TURN_LEFT", "TURN_RIGHT") if turn_left else ("TURN_RIGHT", "TURN_LEFT")
    script = (hold(set(), SETTLE_TICS) + hold({away_key}, TURN_TICS) + hold(set(), PAUSE_TICS)
              + hold({back_key}, TURN_TICS) + hold(set(), PAUSE_TICS))
    return script, (SETTLE_TICS, SETTLE_TICS + TURN_TICS + PAUSE_TICS, len(script))


def revisit_script():
    """Walk 2 s forward, 2 s back, then still until the momentum has gone (equal thrust both
    ways, so the engine returns to where it started unless a wall was in the way)."""
    script = (hold(set(), SETTLE_TICS) + hold({"MOVE_FORWARD"}, WALK_TICS)
              + hold({"MOVE_BACKWARD"}, WALK_TICS) + hold(set(), SETTLE_TICS))
    return script, (SETTLE_TICS, SETTLE_TICS + WALK_TICS, len(script))


def score(frames: np.ndarray, marks) -> float:
    start, away, final = marks
    return return_score(frames[start], frames[away], frames[final])


def memory_tests(session, starts, out_dir: Path, rng_seed: int = 0) -> dict:
    """Look-back (alternately to the left and right) and revisit from each start, engine and
    model; a contact sheet of the first look-back."""
    engine = Engine()
    rows = {k: [] for k in ("engine_lookback", "model_lookback", "engine_turn", "model_turn",
                            "engine_revisit", "model_revisit", "engine_walk", "model_walk")}
    progress = Progress(len(starts), "eval look-back")
    try:
        for n, start in enumerate(starts):
            turn_left = n % 2 == 0
            script, marks = lookback_script(turn_left)
            real, gen = both_play(engine, session, start, script, rng_seed + n)
            if real is not None:
                if not rows["engine_lookback"]:
                    write_png(out_dir / "lookback_contact_sheet.png", lookback_sheet(real, gen, marks))
                _add_lookback(rows, real, gen, marks, 1 if turn_left else -1)
            script, marks = revisit_script()
            real, gen = both_play(engine, session, start, script, rng_seed + n)
            if real is not None:
                _add_revisit(rows, real, gen, marks)
            progress(n + 1)
    finally:
        engine.close()
        progress.close()
    return memory_figures(rows)


def _add_lookback(rows: dict, real: np.ndarray, gen: np.ndarray, marks, sign: int) -> None:
    """Scores, and the turn away's motion in px, + in the turn's own direction."""
    rows["engine_lookback"].append(score(real, marks))
    rows["model_lookback"].append(score(gen, marks))
    rows["engine_turn"].append(sign * held_motion(real, SETTLE_TICS, TURN_TICS, "pan"))
    rows["model_turn"].append(sign * held_motion(gen, SETTLE_TICS, TURN_TICS, "pan"))


def _add_revisit(rows: dict, real: np.ndarray, gen: np.ndarray, marks) -> None:
    """Scores, and the walk forward's zoom: a world that barely moves keeps the start view
    on return too, so the score alone does not show memory."""
    rows["engine_revisit"].append(score(real, marks))
    rows["model_revisit"].append(score(gen, marks))
    rows["engine_walk"].append(held_motion(real, SETTLE_TICS, WALK_TICS, "zoom"))
    rows["model_walk"].append(held_motion(gen, SETTLE_TICS, WALK_TICS, "zoom"))


def lookback_sheet(real: np.ndarray, gen: np.ndarray, marks, scale: int = 2) -> np.ndarray:
    """Start, away, back: engine in the top row, model below, each frame `scale`x."""
    picks = [f[i] for f in (real, gen) for i in marks]
    return tile([f.repeat(scale, 0).repeat(scale, 1) for f in picks], 3)


def memory_figures(rows: dict) -> dict:
    def med(key):
        return round(float(np.median(rows[key])), 3) if rows[key] else None

    def ratio(kind):
        eng = np.asarray(rows[f"engine_{kind}"])
        return round(float(np.median(np.asarray(rows[f"model_{kind}"]) / eng)), 3) if len(eng) else None

    return {"lookback_runs": len(rows["engine_lookback"]), "revisit_runs": len(rows["engine_revisit"]),
            "engine_lookback_db": med("engine_lookback"), "model_lookback_db": med("model_lookback"),
            "engine_turn_px": med("engine_turn"), "model_turn_px": med("model_turn"),
            "turn_ratio": ratio("turn"), "engine_revisit_db": med("engine_revisit"),
            "model_revisit_db": med("model_revisit"), "walk_ratio": ratio("walk"),
            "per_run": {k: [round(float(v), 3) for v in vals] for k, vals in rows.items()}}
