"""`eval`: the world model against the engine (DESIGN.md section 7).

    python main.py eval --world freedoom --data data/eval-seen --unseen data/eval-unseen \
        --out reports/eval [--long]

On held-out engine trajectories: the first CONTEXT frames are the scene seed, the
engine's own actions drive the model, and frames are compared at horizons 1, 25, 100 by
PSNR/SSIM, next to the copy-last-frame baseline and the tokenizer's reconstruction (the
ceiling), plus sharpness (Laplacian variance, generated / real). An action-response check
turns and walks in the engine and the model from the same view. `--long` rolls out 5
minutes under a human-like policy and checks it does not collapse.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.progress import Progress
from model.play.runtime import open_world
from model.play.world import action_from_names
from model.train.dataset import tile, write_png
from model.train.metrics import (
    horizontal_shift,
    mse,
    psnr,
    psnr_from_mse,
    sharpness,
    ssim,
)
from model.train.train_data import load_frames

CONTEXT = 16
HORIZONS = (1, 25, 100)


def parse(argv):
    p = argparse.ArgumentParser(prog="reverie eval")
    p.add_argument("--world", default=None)
    p.add_argument("--data", nargs="+", required=True, help="held-out captures of training maps")
    p.add_argument("--unseen", nargs="*", default=[], help="held-out captures of unseen maps")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--trajectories", type=int, default=48)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--denoise-steps", type=int, default=None, help="override the pack's sampler steps")
    p.add_argument("--ctx-noise", type=float, default=None, help="override the pack's context noise level")
    p.add_argument("--long", action="store_true", help="also the 5-minute stability rollout")
    p.add_argument("--long-steps", type=int, default=7500)
    p.add_argument("--rng-seed", type=int, default=0)
    return p.parse_args(argv)


def trajectories(dirs, count: int, length: int, seed: int):
    """Up to `count` held-out windows of `length` frames (see spread_windows)."""
    data = load_frames(dirs)
    chosen = spread_windows(data, count, length, seed)
    if not chosen:
        raise UserError(f"no episode in {', '.join(map(str, dirs))} has {length} frames")
    return [(data.frames[s:s + length], data.actions[s:s + length]) for s in chosen], data


def spread_windows(data, count: int, length: int, seed: int) -> list[int]:
    """Starts of up to `count` non-overlapping windows, spread over the episodes: one from
    each episode in turn, episodes in a seeded random order."""
    by_episode: dict[int, list[int]] = {}
    for s in data.window_starts(length):       # consecutive within an episode
        by_episode.setdefault(int(data.episode[s]), []).append(int(s))
    queues = [sorted(v)[::length] for _, v in sorted(by_episode.items())]
    queues = [queues[i] for i in np.random.default_rng(seed).permutation(len(queues))]
    chosen: list[int] = []
    for rank in range(max(map(len, queues), default=0)):
        chosen += [q[rank] for q in queues if rank < len(q)]
    return sorted(chosen[:count])


def evaluate_set(world, trajs, backend: str, sampler: dict, rng_seed: int, label: str) -> dict:
    from model.play.seeds import SceneSeed
    session = world.session(backend=backend, **sampler)
    horizon = max(HORIZONS)
    keys = ("mse", "copy_mse", "ceiling_mse", "ssim", "copy_ssim", "sharp_gen", "sharp_real", "sharp_ceiling")
    rows = {h: {k: [] for k in keys} for h in HORIZONS}
    curve, copy_curve = np.zeros(horizon), np.zeros(horizon)       # summed MSE per horizon
    progress = Progress(len(trajs), f"eval {label}")
    for n, (frames, actions) in enumerate(trajs):
        seed = SceneSeed(f"traj{n}", frames[:CONTEXT], actions[:CONTEXT - 1])
        session.reset(seed, rng_seed + n)
        last = frames[CONTEXT - 1]
        for h in range(1, horizon + 1):
            gen = session.step(actions[CONTEXT - 2 + h])
            real = frames[CONTEXT - 1 + h]
            err, copy_err = mse(gen, real), mse(last, real)
            curve[h - 1] += err
            copy_curve[h - 1] += copy_err
            if h in rows:
                r = rows[h]
                recon = np.asarray(session.backend.decode(session.backend.encode(real[None])[0]))
                r["mse"].append(err)
                r["copy_mse"].append(copy_err)
                r["ceiling_mse"].append(mse(recon, real))
                r["ssim"].append(ssim(gen, real))
                r["copy_ssim"].append(ssim(last, real))
                r["sharp_gen"].append(sharpness(gen))
                r["sharp_real"].append(sharpness(real))
                r["sharp_ceiling"].append(sharpness(recon))
        progress(n + 1)
    progress.close()
    return {"trajectories": len(trajs), "horizons": {str(h): horizon_figures(r) for h, r in rows.items()},
            "curve_psnr": [round(psnr_from_mse(v / len(trajs)), 3) for v in curve],
            "curve_copy_psnr": [round(psnr_from_mse(v / len(trajs)), 3) for v in copy_curve]}


def horizon_figures(r: dict) -> dict:
    """PSNR is that of the mean squared error over the set. The mean of per-frame PSNRs is
    kept beside it (`*_frame_mean`) but is no headline: a frame identical to the truth
    scores the 100 dB cap, so the few windows where the player stands still decide
    copy-last's average (28 to 38 dB at horizon 1 depending on how many of them a sample has)."""
    out = {}
    for name in ("", "copy_", "ceiling_"):
        out[f"{name}psnr"] = round(psnr_from_mse(float(np.mean(r[f"{name}mse"]))), 3)
        out[f"{name}psnr_frame_mean"] = round(float(np.mean([psnr_from_mse(m) for m in r[f"{name}mse"]])), 3)
    out["ssim"] = round(float(np.mean(r["ssim"])), 3)
    out["copy_ssim"] = round(float(np.mean(r["copy_ssim"])), 3)
    real = max(float(np.mean(r["sharp_real"])), 1e-9)
    out["sharpness_ratio"] = round(float(np.mean(r["sharp_gen"])) / real, 3)
    out["ceiling_sharpness_ratio"] = round(float(np.mean(r["sharp_ceiling"])) / real, 3)
    return out




PROBES = {"TURN_LEFT": {"TURN_LEFT"}, "TURN_RIGHT": {"TURN_RIGHT"}, "MOVE_FORWARD": {"MOVE_FORWARD"}}


def engine_probe(map_name: str, probe: set[str], idle: int, steps: int, seed: int):
    """Engine frames (resized): `idle` still tics, then `steps` tics of `probe`."""
    from model.play.world import FRAME_H, FRAME_W, area_resize
    from model.train.capture import make_game, start_episode
    game = make_game(map_name, seed)
    try:
        start_episode(game, map_name, seed)
        frames, action = [], [0] * 8
        for i in range(idle + steps):
            frames.append(area_resize(game.get_state().screen_buffer, FRAME_H, FRAME_W))
            if i == idle - 1:
                action = action_from_names(probe).tolist()
            game.make_action(action, 1)
        frames.append(area_resize(game.get_state().screen_buffer, FRAME_H, FRAME_W))
        return np.stack(frames)
    finally:
        game.close()


def action_response(world, backend: str, sampler: dict, maps=("MAP01", "MAP05", "MAP10", "MAP15"),
                    steps: int = 8) -> dict:
    """Does the model move the view the way the engine does for each probe action?"""
    from model.play.seeds import SceneSeed
    session = world.session(backend=backend, **sampler)
    results = {name: {"engine_shift": [], "model_shift": [], "model_psnr": [], "still_psnr": []} for name in PROBES}
    for i, map_name in enumerate(maps):
        for name, probe in PROBES.items():
            eng = engine_probe(map_name, probe, CONTEXT, steps, seed=i)
            session.reset(SceneSeed("probe", eng[:CONTEXT], np.zeros((CONTEXT - 1, 8), np.uint8)), i)
            gen = None
            for _ in range(steps):
                gen = session.step(action_from_names(probe))
            start, truth = eng[CONTEXT - 1], eng[-1]
            r = results[name]
            r["engine_shift"].append(horizontal_shift(start, truth))
            r["model_shift"].append(horizontal_shift(start, gen))
            r["model_psnr"].append(psnr(gen, truth))
            r["still_psnr"].append(psnr(start, truth))
    out = {}
    for name, r in results.items():
        eng, mod = np.array(r["engine_shift"]), np.array(r["model_shift"])
        out[name] = {"engine_shift_px": round(float(eng.mean()), 2), "model_shift_px": round(float(mod.mean()), 2),
                     "sign_agrees": float(np.mean(np.sign(eng) == np.sign(mod))),
                     "model_psnr": round(float(np.mean(r["model_psnr"])), 2),
                     "standing_still_psnr": round(float(np.mean(r["still_psnr"])), 2)}
    return out


def long_rollout(world, traj, data, backend: str, sampler: dict, steps: int, out_dir: Path) -> dict:
    """Roll out `steps` frames under held-key human-like input; check for collapse."""
    from model.play.bench import bench_actions
    from model.play.seeds import SceneSeed
    frames, actions = traj
    session = world.session(backend=backend, **sampler)
    session.reset(SceneSeed("long", frames[:CONTEXT], actions[:CONTEXT - 1]), 0)
    every = 30 * 25
    sheet, sharp, means = [session.frame], [], []
    progress = Progress(steps, "eval long")
    for i, a in enumerate(bench_actions(steps, seed=1)):
        frame = session.step(a)
        if i % 25 == 0:
            sharp.append(sharpness(frame))
            means.append(frame.reshape(-1, 3).mean(0))
        if (i + 1) % every == 0:
            sheet.append(frame)
        progress(i + 1)
    progress.close()
    write_png(out_dir / "long_contact_sheet.png", tile(sheet, 6))
    real = data.frames[np.random.default_rng(0).choice(len(data), min(500, len(data)), replace=False)]
    real_sharp = np.mean([sharpness(f) for f in real])
    real_means = real.reshape(len(real), -1, 3).mean(1)
    lo, hi = real_means.min(0), real_means.max(0)
    means = np.array(means)
    turn = turn_check(session)
    return {"steps": steps, "sharpness_ratio_first_minute": round(float(np.mean(sharp[:60]) / real_sharp), 3),
            "sharpness_ratio_last_minute": round(float(np.mean(sharp[-60:]) / real_sharp), 3),
            "colour_in_real_range": float(np.mean(np.all((means >= lo) & (means <= hi), axis=1))),
            "turn_at_end": turn}


def turn_check(session, steps: int = 8) -> dict:
    snap = session.snapshot()
    start = session.frame
    shifts = {}
    for name in ("TURN_LEFT", "TURN_RIGHT"):
        session.restore(snap)
        for _ in range(steps):
            frame = session.step(action_from_names({name}))
        shifts[name] = horizontal_shift(start, frame)
    session.restore(snap)
    return {"left_shift_px": shifts["TURN_LEFT"], "right_shift_px": shifts["TURN_RIGHT"]}


def plot_png(path: Path, curves: dict[str, list[float]], colours: dict[str, tuple]) -> None:
    """PSNR against horizon as a small line chart (numpy raster; model/ has no Qt)."""
    w, h, pad = 640, 360, 30
    img = np.full((h, w, 3), 255, np.uint8)
    img[h - pad, pad:w - pad] = img[pad:h - pad, pad] = 0
    lo, hi = 5.0, 45.0
    for y_db in range(10, 45, 5):                       # grid every 5 dB
        y = int(h - pad - (y_db - lo) / (hi - lo) * (h - 2 * pad))
        img[y, pad:w - pad:4] = 180
    for name, values in curves.items():
        xs = np.linspace(pad, w - pad, len(values))
        ys = h - pad - (np.clip(values, lo, hi) - lo) / (hi - lo) * (h - 2 * pad)
        for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
            for t in np.linspace(0, 1, 12):
                x, y = int(x0 + t * (x1 - x0)), int(y0 + t * (y1 - y0))
                img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = colours[name]
    write_png(path, img)


def side_by_side_video(world, traj, backend: str, sampler: dict, path: Path, steps: int = 250) -> None:
    """engine | model for one held-out trajectory."""
    from model.play.seeds import SceneSeed
    from model.play.video import VideoWriter
    frames, actions = traj
    session = world.session(backend=backend, **sampler)
    session.reset(SceneSeed("sbs", frames[:CONTEXT], actions[:CONTEXT - 1]), 0)
    n = min(steps, len(frames) - CONTEXT)
    with VideoWriter(path, scale=2) as writer:
        for h in range(1, n + 1):
            gen = session.step(actions[CONTEXT - 2 + h])
            writer.write(np.concatenate([frames[CONTEXT - 1 + h], gen], axis=1))


def run(args) -> int:
    a = parse(args.rest)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    world = open_world(a.world)
    sampler = {k: v for k, v in (("steps", a.denoise_steps), ("ctx_noise", a.ctx_noise)) if v is not None}
    report = {"world": world.id, "models": world.pack.model_hashes(), "backend": a.backend,
              "sampler": {**world.pack.sampler, **sampler}, "context": CONTEXT}
    length = CONTEXT + max(HORIZONS)
    seen, seen_data = trajectories(a.data, a.trajectories, length, a.rng_seed)
    report["seen_maps"] = evaluate_set(world, seen, a.backend, sampler, a.rng_seed, "seen maps")
    if a.unseen:
        unseen, _ = trajectories(a.unseen, a.trajectories, length, a.rng_seed)
        report["unseen_maps"] = evaluate_set(world, unseen, a.backend, sampler, a.rng_seed, "unseen maps")
    report["action_response"] = action_response(world, a.backend, sampler)
    curves = {"model": report["seen_maps"]["curve_psnr"], "copy": report["seen_maps"]["curve_copy_psnr"]}
    colours = {"model": (30, 90, 220), "copy": (200, 60, 40)}
    if "unseen_maps" in report:
        curves["unseen"] = report["unseen_maps"]["curve_psnr"]
        colours["unseen"] = (40, 160, 60)
    plot_png(out / "psnr_vs_horizon.png", curves, colours)
    side_by_side_video(world, seen[0], a.backend, sampler, out / "engine_vs_model.mp4")
    if a.long:
        long_traj, long_data = trajectories(a.data, 1, CONTEXT, a.rng_seed + 1)
        report["long"] = long_rollout(world, long_traj[0], seen_data, a.backend, sampler, a.long_steps, out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    print(f"report: {out / 'report.json'}, plot: {out / 'psnr_vs_horizon.png'}")
    return 0


def summary(report: dict) -> str:
    """The headline figures as a few lines of text."""
    lines = []
    for name in ("seen_maps", "unseen_maps"):
        if name not in report:
            continue
        for h, r in report[name]["horizons"].items():
            lines.append(f"{name:<12} h={h:<4} PSNR {r['psnr']:6.2f} dB (copy-last {r['copy_psnr']:6.2f}, "
                         f"ceiling {r['ceiling_psnr']:6.2f})  SSIM {r['ssim']:.3f} (copy {r['copy_ssim']:.3f})  "
                         f"sharpness {r['sharpness_ratio']:.2f} (ceiling {r['ceiling_sharpness_ratio']:.2f})")
    for probe, r in report.get("action_response", {}).items():
        lines.append(f"response {probe:<12} shift engine {r['engine_shift_px']:+6.1f} px, model "
                     f"{r['model_shift_px']:+6.1f} px (sign agrees {r['sign_agrees']:.0%}); PSNR {r['model_psnr']:.2f} "
                     f"vs standing still {r['standing_still_psnr']:.2f}")
    if "long" in report:
        lines.append("long rollout: " + json.dumps(report["long"]))
    return "\n".join(lines)
