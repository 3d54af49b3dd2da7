"""Where the rollout's PSNR goes: the same eval windows with the engine's motion and/or depth
in place of the model's (a diagnostic, not a figure of the world).

    python scripts/oracle_diag.py --data data/eval-seen --oracle motion depth --trajectories 24
    python scripts/oracle_diag.py --data data/eval-seen --world PACK --subset 0 5 6   # those windows only
    python scripts/oracle_diag.py --data data/eval-seen --ceiling     # one warp of the last frame, no runtime
    python scripts/oracle_diag.py --data data/eval-seen --revisit 16  # the revisit test with the engine's motion
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from model.nets.geometry import CAMERA
from model.play.seeds import SceneSeed
from model.train.eval_engine import CONTEXT
from model.train.evaluate import HORIZONS, spread_windows
from model.train.geodata import load_geo
from model.train.metrics import mse, psnr_from_mse
from model.play.runtime import open_world


class Oracle:
    """Wraps a geometry backend: observe's motion / depth replaced by the engine's for the step."""

    def __init__(self, backend, use):
        self.inner, self.use, self.motion, self.depth = backend, use, None, None
        self.recall_channels = backend.recall_channels

    def observe(self, frame, actions, motions):
        out = list(self.inner.observe(frame, actions, motions))
        if "motion" in self.use and self.motion is not None:
            out[3] = self.motion.reshape(np.shape(out[3])).astype(np.float32)
        if "depth" in self.use and self.depth is not None:
            d = np.asarray(out[4], np.float32).copy()
            real = self.depth.astype(np.float32) * CAMERA.depth_unit
            d[0] = np.where(self.depth > 0, np.minimum(real, CAMERA.far), d[0])
            out[4] = d
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--oracle", nargs="*", default=[])
    p.add_argument("--trajectories", type=int, default=24)
    p.add_argument("--no-imagine", action="store_true")
    p.add_argument("--world", default=None)
    p.add_argument("--subset", type=int, nargs="*", default=None, help="only these of the windows")
    p.add_argument("--ceiling", action="store_true", help="one warp by the engine's pose and depth instead")
    p.add_argument("--revisit", type=int, default=0, help="the eval's revisit test from this many starts, engine motion")
    a = p.parse_args()
    if a.ceiling:
        return ceiling(a.data, a.trajectories)
    if a.revisit:
        return revisit(a.data, a.revisit, a.world)
    geo = load_geo(a.data)
    length = CONTEXT + max(HORIZONS)
    starts = spread_windows(geo.base, a.trajectories, length, 0)
    if a.subset:
        starts = [starts[i] for i in a.subset]
    world = open_world(a.world)
    session = world.session(backend="cpu", **({"imagine": False} if a.no_imagine else {}))
    oracle = Oracle(session.backend, set(a.oracle))
    session.backend = oracle
    errs = {h: [] for h in HORIZONS}
    copy = {h: [] for h in HORIZONS}
    parts = {h: {k: [] for k in ("top", "bottom", "painted_sum", "painted_n", "rest_sum", "rest_n")} for h in HORIZONS}
    located = []                     # per window: the session found its seed on the map
    for n, s in enumerate(starts):
        frames, actions = geo.base.frames[s:s + length], geo.base.actions[s:s + length]
        oracle.motion = oracle.depth = None
        session.reset(SceneSeed(f"t{n}", frames[:CONTEXT], actions[:CONTEXT - 1]), n)
        located.append(getattr(session, "located", None) is not None)
        for h in range(1, max(HORIZONS) + 1):
            i = s + CONTEXT - 2 + h          # frame index whose next frame is generated
            oracle.motion, oracle.depth = geo.motion[i], geo.depth[i]
            gen = session.step(actions[CONTEXT - 2 + h])
            if h in errs:
                real = frames[CONTEXT - 1 + h]
                errs[h].append(mse(gen, real))
                d = ((gen.astype(np.float32) - real) ** 2).mean(-1)
                painted = session._painted if session._painted is not None else np.zeros(d.shape, bool)
                parts[h]["top"].append(d[:70].mean()); parts[h]["bottom"].append(d[70:].mean())
                parts[h]["painted_sum"].append(d[painted].sum()); parts[h]["painted_n"].append(painted.sum())
                parts[h]["rest_sum"].append(d[~painted].sum()); parts[h]["rest_n"].append((~painted).sum())
                copy[h].append(mse(frames[CONTEXT - 1], frames[CONTEXT - 1 + h]))
    out = {h: round(psnr_from_mse(np.mean(errs[h])), 2) for h in HORIZONS}
    split = {h: {"top": round(psnr_from_mse(np.mean(parts[h]["top"])), 2),
                 "bottom": round(psnr_from_mse(np.mean(parts[h]["bottom"])), 2),
                 "painted_share": round(float(np.sum(parts[h]["painted_n"]) / (len(starts) * 96 * 128)), 3),
                 "painted": round(psnr_from_mse(np.sum(parts[h]["painted_sum"]) / max(1, np.sum(parts[h]["painted_n"]))), 2),
                 "rest": round(psnr_from_mse(np.sum(parts[h]["rest_sum"]) / max(1, np.sum(parts[h]["rest_n"]))), 2)}
             for h in HORIZONS}
    on = np.array(located)
    on_located = {h: round(psnr_from_mse(np.mean(np.array(errs[h])[on])), 2) for h in HORIZONS} if on.any() else None
    print(json.dumps({"oracle": a.oracle, "psnr": out, "located_windows": [int(i) for i in np.flatnonzero(on)],
                      "on_located": on_located, "split": split,
                      "copy": {h: round(psnr_from_mse(np.mean(copy[h])), 2) for h in HORIZONS}}))




def ceiling(data_dirs, count: int = 24) -> None:
    """One warp of the last seed frame by the engine's pose and depth, copy-last where it
    does not cover (and on the weapon): what perfect geometry and no generation score."""
    import torch
    from model.nets.geometry import reproject
    from model.play.memory import relative_motion
    geo = load_geo(data_dirs)
    length = CONTEXT + max(HORIZONS)
    errs = {h: [] for h in HORIZONS}
    for s in spread_windows(geo.base, count, length, 0):
        last = s + CONTEXT - 1
        img = torch.from_numpy(geo.base.frames[last]).permute(2, 0, 1)[None].float()
        lv = geo.depth[last].astype(np.float32)
        depth = torch.from_numpy(np.where(lv > 0, np.minimum(lv * CAMERA.depth_unit, CAMERA.far), CAMERA.far))[None]
        for h in HORIZONS:
            m = torch.from_numpy(relative_motion(geo.pose[last], geo.pose[last + h]))[None]
            warped, ok = reproject(img, depth, m, mode="nearest")
            w = np.where(ok[0, 0].numpy()[..., None] > 0.5, warped[0].permute(1, 2, 0).numpy(), geo.base.frames[last])
            w[lv == 0] = geo.base.frames[last][lv == 0]
            errs[h].append(mse(np.clip(w, 0, 255), geo.base.frames[last + h]))
    print(json.dumps({"ceiling": {h: round(psnr_from_mse(np.mean(errs[h])), 2) for h in HORIZONS}}))


def revisit(data_dirs, count: int, world=None) -> None:
    """The eval's revisit script (eval_memory) from the look-back's starts, the session moved by
    the engine's own motion each step: what the memory scores when the camera comes back
    exactly as the engine's does."""
    from model.play.memory import relative_motion
    from model.train.eval_engine import Engine, held_out_starts, resize
    from model.train.eval_memory import RETURN_UNITS, revisit_script, score
    session = open_world(world).session(backend="cpu")
    oracle = Oracle(session.backend, {"motion"})
    session.backend = oracle
    engine = Engine()
    script, marks = revisit_script()
    runs = []
    try:
        for n, start in enumerate(held_out_starts(data_dirs, count, 1)):
            seed = engine.goto(start)
            raw, poses = [engine.screen()], [engine.pose()]
            for action in script:
                engine.game.make_action(np.asarray(action).tolist(), 1)
                if engine.game.is_episode_finished():
                    break
                raw.append(engine.screen())
                poses.append(engine.pose())
            if len(raw) <= len(script):           # the episode ended (an exit), as Engine.play
                continue
            real = resize(raw)
            oracle.motion = None
            session.reset(SceneSeed("start", seed, start.actions[-(CONTEXT - 1):]), n)
            gen = [session.frame]
            for i, action in enumerate(script):
                oracle.motion = relative_motion(poses[i], poses[i + 1])
                gen.append(session.step(action))
            back = float(np.hypot(*(poses[-1][:2] - poses[0][:2])))
            runs.append({"start": n, "engine_back_units": round(back, 1), "engine_db": round(score(real, marks), 2),
                         "model_db": round(score(np.stack(gen), marks), 2)})
    finally:
        engine.close()
    back = [r for r in runs if r["engine_back_units"] <= RETURN_UNITS]
    print(json.dumps({"runs": runs, "engine_came_back": len(back),
                      "median_where_it_came_back": {k: float(np.median([r[k] for r in back])) if back else None
                                                    for k in ("engine_db", "model_db")}}))


if __name__ == "__main__":
    main()
