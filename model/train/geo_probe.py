"""How good is each part of a geometry-aware run, one step ahead, on held-out frames?

    python -m model.train.geo_probe --run runs/geo --data data/eval-seen [--pairs 300]

Per kind of step (static, turning, walking, both): PSNR over the top rows of copy-last,
of the warp with the engine's depth and motion, of the warp with the run's predicted depth
and motion, and of the painter's frame (teacher-forced: the real frame t as context);
plus the depth net's log-depth error and the motion net's error against the engine.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from model.nets.geonets import make_prior
from model.nets.tokenizer import frames_to_float
from model.train.geo_export import load_geo_run
from model.train.geodata import load_geo
from model.train.geometry_fit import TOP_ROWS, step_kind
from model.train.geotrain import depth_map, motion_inputs
from model.train.metrics import psnr_from_mse

KINDS = ("static", "turning", "walking", "turning+walking")


def _psnr(pred: torch.Tensor, truth: torch.Tensor, rows=TOP_ROWS) -> float:
    """PSNR (set MSE) of [-1, 1] frames as 8-bit pixels, over the top rows."""
    p = ((pred.clamp(-1, 1) + 1) * 127.5).round()
    t = (truth + 1) * 127.5
    return psnr_from_mse(float(((p - t)[:, :, :rows] ** 2).mean()))


@torch.no_grad()
def paint(world, prior, valid, prev, weapon, action, steps: int, seed: int = 0) -> torch.Tensor:
    """The session's Euler sampler, in torch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(prev.shape, generator=g)
    taus = torch.linspace(1.0, 0.0, steps + 1)
    ctx = torch.zeros(len(prev))
    blank = torch.zeros_like(prev)                       # one step ahead: nothing to recall
    for k in range(steps):
        x0 = world.painter(x, taus[k].expand(len(prev)), prior, valid, prev, weapon, action, ctx, blank,
                           blank[:, :1])
        x = x0 + (taus[k + 1] / taus[k]) * (x - x0)
    return x0


@torch.no_grad()
def probe(run: Path, data_dirs, pairs: int, steps=(1, 2)) -> dict:
    world, info = load_geo_run(run)
    data = load_geo(data_dirs, max_frames=max(4000, pairs * 10))
    rng = np.random.default_rng(0)
    ok = np.flatnonzero(data.has_next)
    t = np.sort(rng.choice(ok, size=min(pairs, len(ok)), replace=False))
    prev = frames_to_float(torch.from_numpy(data.base.frames[t]))
    truth = frames_to_float(torch.from_numpy(data.base.frames[t + 1]))
    true_depth = depth_map(data.depth[t])
    true_motion = torch.from_numpy(data.motion[t])
    depth, weapon_logit = world.depth(prev)
    actions, motions = motion_inputs(data, t, world.cfg.history)
    motion = world.motion(actions, motions, depth)
    engine_prior, _, _ = make_prior(prev, true_depth, (torch.from_numpy(data.depth[t]) == 0).float() * 2 - 1,
                                    true_motion)
    prior, valid, weapon = make_prior(prev, depth, weapon_logit, motion)
    action = torch.from_numpy(data.base.actions[t]).float()
    frames = {f"painter_{s}step": paint(world, prior, valid, prev, weapon, action, s) for s in steps}
    kinds = step_kind(data.motion[t])
    report = {"run": str(run), **info, "pairs": len(t),
              "depth_log_error": float((torch.log(depth) - torch.log(true_depth.clamp(8, 504))).abs()
                                       [data.depth[t] > 0].mean()),
              "motion_mae": dict(zip(("dyaw_deg", "df", "dr", "dz"),
                                     (motion - true_motion).abs().mean(0).tolist()))}
    for k, name in enumerate(KINDS):
        sel = torch.from_numpy(kinds == k)
        if sel.any():
            row = {"pairs": int(sel.sum()), "copy_last": _psnr(prev[sel], truth[sel]),
                   "engine_warp": _psnr(engine_prior[sel], truth[sel]), "predicted_warp": _psnr(prior[sel], truth[sel])}
            row.update({n: _psnr(f[sel], truth[sel]) for n, f in frames.items()})
            row.update({f"{n}_full_frame": _psnr(f[sel], truth[sel], rows=96) for n, f in frames.items()})
            report[name] = {k2: round(v, 2) if isinstance(v, float) else v for k2, v in row.items()}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.train.geo_probe")
    p.add_argument("--run", required=True)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--pairs", type=int, default=300)
    a = p.parse_args(argv)
    print(json.dumps(probe(Path(a.run), a.data, a.pairs), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
