"""Fit the light (model.nets.geonets.Light) to engine frames: how a surface's brightness
follows its distance.

For pairs of frames a few tics apart in one episode, every pixel of the earlier frame is
carried into the later view by the engine's own depth and poses (occlusion-tested), and the
log of its brightness change is modelled as

    log(new / old) = response[band of its 9x9 local brightness] x (falloff[new level] - falloff[old level])

`falloff` is fitted by least squares with a smoothness prior (its far end fixed at 0),
`response` in closed form given it, alternating a few times. Half the pairs fit, the
other half measure: the brightness error of carried pixels with the light against without.

    python -m model.train.light_fit --data data/geo200k --out runs/ship_a
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.nets.checkpoint import atomic_save
from model.nets.geometry import CAMERA, reproject
from model.nets.geonets import LIGHT_BANDS, LIGHT_LEVELS, LIGHT_WINDOW, Light
from model.play.memory import relative_motion
from model.train.geodata import GeoData

STAGE = "geo_light"
GAPS = (4, 8, 16)            # tics between the frames of a pair
PAIRS = 1800                 # pairs sampled (about 12 million carried pixels)
SMOOTH = 0.01                # weight of the falloff's second differences, per pixel and level
DARKEST = 6                  # grey levels: darker pixels are left out of the fit (8-bit noise)
OUTLIER = 0.3                # log brightness: a change further than this from the fit's is no light's


def carried_pixels(data: GeoData, pairs: np.ndarray, gap: int) -> np.ndarray:
    """(N, 5): old depth, new depth, old brightness, new brightness, old local brightness."""
    rows = []
    for chunk in np.array_split(pairs, max(1, len(pairs) // 100)):
        src = torch.from_numpy(np.asarray(data.base.frames[chunk])).float().permute(0, 3, 1, 2)   # (B, 3, H, W)
        dst = torch.from_numpy(np.asarray(data.base.frames[chunk + gap])).float().mean(-1)        # (B, H, W)
        d0 = torch.from_numpy(np.asarray(data.depth[chunk]).astype(np.float32)) * CAMERA.depth_unit
        d1 = torch.from_numpy(np.asarray(data.depth[chunk + gap]).astype(np.float32)) * CAMERA.depth_unit
        motion = torch.from_numpy(np.stack([relative_motion(data.pose[i].astype(np.float64),
                                                            data.pose[i + gap].astype(np.float64)) for i in chunk]))
        level = src.mean(1, keepdim=True)
        local = F.avg_pool2d(level, LIGHT_WINDOW, 1, LIGHT_WINDOW // 2, count_include_pad=False)
        warped, valid, seen, _ = reproject(torch.cat([level, local], 1), d0.clamp_min(1.0), motion.float(),
                                           mode="nearest", depths=True)
        near = 0.95 * CAMERA.far
        keep = (valid[:, 0] > 0.5) & (seen > 0) & (seen < near) & (d1 > 0) & (d1 < near)
        rows.append(torch.stack([seen[keep], d1[keep], warped[:, 0][keep], dst[keep], warped[:, 1][keep]], 1))
    return torch.cat(rows).numpy()


def fit(rows: np.ndarray, rounds: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(falloff, response) for rows of `carried_pixels`."""
    z0, z1, l0, l1, local = rows.T
    use = (l0 > DARKEST) & (l1 > DARKEST) & (l0 < 250) & (l1 < 250)
    y = np.log(l1[use] / l0[use])
    a, c, band = _level(z1[use]), _level(z0[use]), _band(local[use])
    response, falloff = np.ones(LIGHT_BANDS), np.zeros(LIGHT_LEVELS)
    second = np.diff(np.eye(LIGHT_LEVELS), 2, axis=0)
    inlier = np.ones(len(y), bool)
    for _ in range(rounds):
        w = response[band] ** 2 * inlier     # y ~ response * (falloff[a] - falloff[c]): normal equations
        lhs = np.zeros((LIGHT_LEVELS, LIGHT_LEVELS))
        for p, q, sign in ((a, a, 1), (c, c, 1), (a, c, -1), (c, a, -1)):
            np.add.at(lhs, (p, q), sign * w)
        ry = response[band] * y * inlier
        rhs = np.bincount(a, ry, LIGHT_LEVELS) - np.bincount(c, ry, LIGHT_LEVELS)
        lhs += SMOOTH * len(y) / LIGHT_LEVELS * second.T @ second
        lhs[-1, -1] += 1e9                   # the far clip: no change
        falloff = np.linalg.solve(lhs, rhs)
        g = falloff[a] - falloff[c]
        response = (np.bincount(band, g * y * inlier, LIGHT_BANDS)
                    / np.maximum(np.bincount(band, g * g * inlier, LIGHT_BANDS), 1e-9))
        # Never negative (light never darkens what comes nearer) and never rising with brightness
        # (a brighter neighbourhood is nearer its sector's full light; the bright bands are few
        # pixels, and unconstrained they came out 1-4x the dark ones').
        response = np.minimum.accumulate(np.clip(response, 0.0, None))
        # Pixels whose change the light cannot explain (a muzzle flash lights the whole view, a
        # door opens, a sprite walks by, the pose is off a pixel) leave the next round's fit.
        inlier = np.abs(y - response[band] * (falloff[a] - falloff[c])) < OUTLIER
    return falloff, response


def _level(z: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(z / CAMERA.depth_unit).astype(int), 1, LIGHT_LEVELS - 1)


def _band(brightness: np.ndarray) -> np.ndarray:
    return np.clip((brightness / 16).astype(int), 0, LIGHT_BANDS - 1)


def brightness_error(rows: np.ndarray, light: Light | None) -> dict:
    """RMS and mean error (grey levels) of carried pixels' brightness against the engine's."""
    z0, z1, l0, l1, local = (torch.from_numpy(c.copy()) for c in rows.T)
    pred = l0 if light is None else (l0 * torch.exp(light.gain_log(local, z0, z1))).clamp(0, 255)
    err = (pred - l1).double()
    return {"rms": round(float(err.pow(2).mean().sqrt()), 3), "mean": round(float(err.mean()), 3)}


def sample_pairs(data: GeoData, gap: int, count: int, rng: np.random.Generator) -> np.ndarray:
    ep = np.asarray(data.base.episode)
    ok = np.flatnonzero(ep[:len(ep) - gap] == ep[gap:])
    return np.sort(rng.choice(ok, min(count, len(ok)), replace=False))


@torch.no_grad()
def fit_light(data: GeoData, pairs: int = PAIRS, seed: int = 0) -> tuple[Light, dict]:
    """The fitted light and its report (error on the pairs it was not fitted to)."""
    rng = np.random.default_rng(seed)
    fit_rows, test_rows = [], []
    for gap in GAPS:                          # alternate pairs fit and measure
        chosen = sample_pairs(data, gap, pairs // len(GAPS), rng)
        fit_rows.append(carried_pixels(data, chosen[0::2], gap))
        test_rows.append(carried_pixels(data, chosen[1::2], gap))
    light = Light()
    falloff, response = fit(np.concatenate(fit_rows))
    light.falloff.copy_(torch.from_numpy(falloff).float())
    light.response.copy_(torch.from_numpy(response).float())
    test = np.concatenate(test_rows)
    report = {"pixels": int(len(test)), "without": brightness_error(test, None), "with": brightness_error(test, light)}
    return light, report


def save_light(run: Path, light: Light, report: dict) -> Path:
    path = Path(run) / f"{STAGE}.safetensors"
    atomic_save({f"model.{k}": v for k, v in light.state_dict().items()}, path,
                {"config": {}, "step": 0, "extra": {"report": report}})
    return path


def main(argv: list[str] | None = None) -> int:
    from model.play.errors import UserError
    from model.train.geodata import load_geo
    from model.train.trainer import HOLDOUT_MAPS
    p = argparse.ArgumentParser(prog="python -m model.train.light_fit", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", required=True, help="capture folders with geometry")
    p.add_argument("--out", required=True, help="run folder: writes geo_light.safetensors there")
    p.add_argument("--max-frames", type=int, default=30000)
    p.add_argument("--pairs", type=int, default=PAIRS)
    a = p.parse_args(argv)
    try:
        data = load_geo(a.data, a.max_frames, exclude_maps=HOLDOUT_MAPS)
    except UserError as e:
        print(f"error: {e}")
        return 2
    light, report = fit_light(data, a.pairs)
    print(f"light: {report}")
    print(f"wrote {save_light(Path(a.out), light, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
