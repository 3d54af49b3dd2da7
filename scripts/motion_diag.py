"""The motion net alone, closed loop: its own motions fed back as the session feeds them, over
the engine's frames (their depth from the depth net), against the engine's own poses (a
diagnostic of the camera's dead reckoning, not a figure of the world).

    python scripts/motion_diag.py --data data/eval-seen                  # the shipped pack's net
    python scripts/motion_diag.py --data data/eval-seen --motion RUN/geo_motion.safetensors

Two parts: the eval's PSNR windows (how far the camera is off the engine's after 25 and 100
tics), and the revisit script (walk 2 s out, 2 s back, then still) from held-out starts where
the engine itself comes back: how far from its own start the model's camera ends.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from model.nets.checkpoint import read_tensors
from model.nets.geonets import GeoWorld
from model.play.geo_session import WARM_UP, to_float
from model.play.memory import advance_pose, relative_motion
from model.play.pack import find_pack
from model.train.eval_engine import CONTEXT, Engine, held_out_starts
from model.train.eval_memory import RETURN_UNITS, SETTLE_TICS, engine_revisit, revisit_script
from model.train.evaluate import HORIZONS, spread_windows
from model.train.geo_export import pack_world
from model.train.geodata import load_geo


def load_world(pack_dir, motion_file=None) -> GeoWorld:
    world = pack_world(find_pack(pack_dir))
    if motion_file:
        state, _ = read_tensors(motion_file)
        world.motion.load_state_dict({k[len("model."):]: v.float() for k, v in state.items() if k.startswith("model.")})
    return world.eval()


@torch.no_grad()
def dead_reckon(world: GeoWorld, frames: np.ndarray, actions: np.ndarray, warm: int) -> np.ndarray:
    """Poses (T + 1, 4) from rest at frames[warm]: the motion net runs over the `warm` frames
    before it (as a session's reset), then on its own motions. actions[i] is applied at frame i."""
    k = world.cfg.history
    depth, _ = world.depth(torch.from_numpy(np.concatenate([to_float(f) for f in frames])))
    acts, mots = torch.zeros(1, k, 8), torch.zeros(1, k, 4)
    poses = [np.zeros(4)]
    for i in range(len(actions)):
        acts = torch.cat([acts[:, 1:], torch.from_numpy(actions[i:i + 1].astype(np.float32))[:, None]], dim=1)
        motion = world.motion(acts, mots, depth[i:i + 1])
        mots = torch.cat([mots[:, 1:], motion[:, None]], dim=1)
        if i >= warm:
            poses.append(advance_pose(poses[-1], motion[0].numpy()))
    return np.stack(poses)


def windows(world: GeoWorld, data_dirs, count: int) -> dict:
    geo = load_geo(data_dirs)
    length = CONTEXT + max(HORIZONS)
    errs = {h: [] for h in HORIZONS}
    turns = {h: [] for h in HORIZONS}
    heights = {h: [] for h in HORIZONS}
    for s in spread_windows(geo.base, count, length, 0):
        last = s + CONTEXT - 1              # the seed's last frame: the motion net ran over the seed before it
        warm = min(WARM_UP, CONTEXT - 1)
        poses = dead_reckon(world, geo.base.frames[last - warm:last + max(HORIZONS)],
                            geo.base.actions[last - warm:last + max(HORIZONS)], warm)
        for h in HORIZONS:
            real = relative_motion(geo.pose[last].astype(np.float64), geo.pose[last + h].astype(np.float64))
            model = relative_motion(np.zeros(4), poses[h])
            errs[h].append(float(np.hypot(*(real[1:3] - model[1:3]))))
            turns[h].append(float(abs((real[0] - model[0] + 180) % 360 - 180)))
            heights[h].append(float(abs(real[3] - model[3])))
    return {"windows": len(errs[1]),
            "position_error_units": {h: {"median": round(float(np.median(v)), 1), "mean": round(float(np.mean(v)), 1)}
                                     for h, v in errs.items()},
            "yaw_error_deg": {h: round(float(np.mean(v)), 2) for h, v in turns.items()},
            "eye_height_error_units": {h: round(float(np.mean(v)), 2) for h, v in heights.items()}}


def revisits(world: GeoWorld, data_dirs, count: int) -> dict:
    engine = Engine()
    script, marks = revisit_script()
    actions = np.stack(script)
    ends, engine_ends = [], []
    try:
        for start in held_out_starts(data_dirs, count, 1):
            seed = engine.goto(start)
            real, back = engine_revisit(engine, script)
            if real is None or back > RETURN_UNITS:
                continue
            warm_actions = start.actions[-(CONTEXT - 1):][-WARM_UP:]
            frames = np.concatenate([seed[-1 - len(warm_actions):-1], real])
            poses = dead_reckon(world, frames, np.concatenate([warm_actions, actions]), len(warm_actions))
            settled = poses[SETTLE_TICS]          # the score's start frame: the settle slides on
            ends.append(float(np.hypot(*(poses[-1][:2] - settled[:2]))))
            engine_ends.append(back)
    finally:
        engine.close()
    return {"returning_starts": len(ends), "of": count,
            "model_return_units": {"median": round(float(np.median(ends)), 1) if ends else None,
                                   "per_start": [round(v, 1) for v in ends]},
            "engine_return_units": [round(v, 1) for v in engine_ends]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--world", default=None)
    p.add_argument("--motion", default=None, help="a run's geo_motion.safetensors in place of the pack's motion net")
    p.add_argument("--windows", type=int, default=64)
    p.add_argument("--revisits", type=int, default=48, help="held-out starts tried (those the engine returns from are kept)")
    a = p.parse_args()
    torch.set_grad_enabled(False)
    world = load_world(a.world, a.motion)
    print(json.dumps({"windows": windows(world, a.data, a.windows), "revisit": revisits(world, a.data, a.revisits)}))


if __name__ == "__main__":
    main()
