"""Look-back and revisit (docs/design.md, "Spatial memory"; issue 13's targets): does the world remember
what is behind you?

Look-back: stand still until the motion has died out, turn about 90° away, pause, turn back.
Revisit: the same with 2 s of walking forward and 2 s back. Each is scored as
PSNR(final, start) − PSNR(away, start) over the top 70 rows, PSNR capped at 40 dB, in the
engine and the model from the same held-out starts. A frozen picture scores 0, and the
turn's own motion (model ÷ engine, by optical flow) is reported so it cannot pass.

A walk out and back comes back only where nothing stops it: from many starts the engine
itself is stopped by a wall on the way out and walks back past its start (measured: 12 of
16 eval starts end 48-365 units off, and the engine's own median score there is 3.9 dB).
So revisit is also scored on starts the engine comes back from (RETURN_UNITS), drawn on
from the held-out starts until there are as many as the look-back has: what the test
asks of the memory is measured where the place is the same one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.play.progress import Progress
from model.train.dataset import tile, write_png
from model.train.eval_engine import CONTEXT, Engine, both_play, held_motion, hold, model_play
from model.train.metrics import return_score

SETTLE_TICS = 60         # 2.4 s still: walking speed (8.3 units/tic) falls under the engine's stop speed (0.06) in ~50
TURN_TICS = 28           # 5 slow tics of 1.758° then 23 of 3.516°: 89.7° (measured in the engine)
PAUSE_TICS = 10
WALK_TICS = 50           # 2 s at 25 frames/s
RETURN_UNITS = 32.0      # the engine ends this near its start (two player radii): it came back
RETURN_DRAWS = 8         # starts drawn per look-back start, to find as many the engine comes back from


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


def memory_tests(session, starts, out_dir: Path, rng_seed: int = 0, more_starts=()) -> dict:
    """Look-back (alternately to the left and right) and revisit from each start, engine and
    model; a contact sheet of the first look-back. Revisit is scored again on the starts the
    engine comes back from: these first, then `more_starts` until there are len(starts)."""
    engine = Engine()
    rows = {k: [] for k in ("engine_lookback", "model_lookback", "engine_turn", "model_turn",
                            "engine_revisit", "model_revisit", "engine_walk", "model_walk", "engine_back_units",
                            "engine_returned_revisit", "model_returned_revisit")}
    progress = Progress(len(starts), "eval look-back")
    tried = 0
    try:
        for n, start in enumerate(starts):
            turn_left = n % 2 == 0
            script, marks = lookback_script(turn_left)
            real, gen = both_play(engine, session, start, script, rng_seed + n)
            if real is not None:
                if not rows["engine_lookback"]:
                    write_png(out_dir / "lookback_contact_sheet.png", lookback_sheet(real, gen, marks))
                _add_lookback(rows, real, gen, marks, 1 if turn_left else -1)
            run = _revisit(engine, session, start, rng_seed + n)
            tried += 1
            if run is not None:
                _add_revisit(rows, *run)
            progress(n + 1)
        for n, start in enumerate(more_starts, len(starts)):
            if len(rows["model_returned_revisit"]) >= len(starts):
                break
            run = _revisit(engine, session, start, rng_seed + n, only_returned=True)
            tried += 1
            if run is not None:
                _add_returned(rows, *run)
    finally:
        engine.close()
        progress.close()
    return {**memory_figures(rows), "returned_tried": tried}


def _revisit(engine: Engine, session, start, rng_seed: int, only_returned: bool = False):
    """(engine frames, model frames, marks, how far from its start the engine ended) of the
    revisit script; None if the episode ended, or (only_returned) the engine did not come back
    (the model is not run then)."""
    script, marks = revisit_script()
    seed = engine.goto(start)
    real, back = engine_revisit(engine, script)
    if real is None:
        return None
    if only_returned and back > RETURN_UNITS:
        return None
    return real, model_play(session, seed, start.actions[-(CONTEXT - 1):], script, rng_seed), marks, back


def engine_revisit(engine: Engine, script) -> tuple[np.ndarray | None, float]:
    """The engine's frames of the revisit script from where it stands, and how far from the
    start view's place (after the settle, the score's start frame) it ends. A held-out start is
    mid-walk, so the settle itself slides on (measured: up to 65 units), and the place the walk
    must come back to is where that slide ended, not where the start was."""
    settle = engine.play(script[:SETTLE_TICS])
    if settle is None:
        return None, 0.0
    begin = engine.pose()
    rest = engine.play(script[SETTLE_TICS:])
    if rest is None:
        return None, 0.0
    return np.concatenate([settle, rest[1:]]), float(np.hypot(*(engine.pose()[:2] - begin[:2])))


def _add_lookback(rows: dict, real: np.ndarray, gen: np.ndarray, marks, sign: int) -> None:
    """Scores, and the turn away's motion in px, + in the turn's own direction."""
    rows["engine_lookback"].append(score(real, marks))
    rows["model_lookback"].append(score(gen, marks))
    rows["engine_turn"].append(sign * held_motion(real, SETTLE_TICS, TURN_TICS, "pan"))
    rows["model_turn"].append(sign * held_motion(gen, SETTLE_TICS, TURN_TICS, "pan"))


def _add_revisit(rows: dict, real: np.ndarray, gen: np.ndarray, marks, back: float) -> None:
    """Scores, and the walk forward's zoom: a world that barely moves keeps the start view
    on return too, so the score alone does not show memory."""
    rows["engine_revisit"].append(score(real, marks))
    rows["model_revisit"].append(score(gen, marks))
    rows["engine_walk"].append(held_motion(real, SETTLE_TICS, WALK_TICS, "zoom"))
    rows["model_walk"].append(held_motion(gen, SETTLE_TICS, WALK_TICS, "zoom"))
    rows["engine_back_units"].append(back)
    _add_returned(rows, real, gen, marks, back)


def _add_returned(rows: dict, real: np.ndarray, gen: np.ndarray, marks, back: float) -> None:
    if back <= RETURN_UNITS:
        rows["engine_returned_revisit"].append(score(real, marks))
        rows["model_returned_revisit"].append(score(gen, marks))


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
            "returned_runs": len(rows["engine_returned_revisit"]),
            "engine_returned_revisit_db": med("engine_returned_revisit"),
            "model_returned_revisit_db": med("model_returned_revisit"),
            "per_run": {k: [round(float(v), 3) for v in vals] for k, vals in rows.items()}}
