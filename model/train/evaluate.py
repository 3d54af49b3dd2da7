"""`eval`: the world model against the engine (docs/design.md, "Measuring fidelity" and "Spatial memory").

    python main.py eval --world freedoom --data data/eval-seen --unseen data/eval-unseen \
        --out reports/eval [--long] [--lookback] [--response-segments 30] [--teacher-forced 128]

On held-out engine trajectories: the first CONTEXT frames are the scene seed, the
engine's own actions drive the model, and frames are compared at horizons 1, 25, 100 by
PSNR/SSIM, next to the copy-last-frame baseline and the tokenizer's reconstruction (the
ceiling), plus sharpness (Laplacian variance, generated / real) and teacher-forced
horizon-1 PSNR on more windows. Action response (eval_response), look-back and revisit
(eval_memory, `--lookback`) and the 5-minute rollout (eval_long, `--long`) replay the engine
to held-out states and play key scripts in the engine and the model alike. Figures go to
report.json and report.md in --out, plots made by eval_plots.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
from pathlib import Path

import numpy as np

from model.play.bench import machine_description
from model.play.errors import UserError
from model.play.progress import Progress
from model.play.runtime import open_world
from model.train.eval_engine import CONTEXT, held_out_starts
from model.train.eval_long import long_rollout
from model.train.eval_memory import RETURN_DRAWS, memory_tests
from model.train.eval_plots import psnr_plot, response_plot, sharpness_plot
from model.train.eval_report import markdown, summary
from model.train.eval_response import action_response
from model.train.metrics import mse, psnr_from_mse, sharpness, ssim
from model.train.train_data import load_frames

HORIZONS = (1, 25, 100)


def parse(argv):
    p = argparse.ArgumentParser(prog="reverie eval")
    p.add_argument("--world", default=None)
    p.add_argument("--data", nargs="+", required=True, help="held-out captures of training maps")
    p.add_argument("--unseen", nargs="*", default=[], help="held-out captures of unseen maps")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--trajectories", type=int, default=48, help="held-out windows per set for PSNR")
    p.add_argument("--teacher-forced", type=int, default=128, help="windows per set for teacher-forced PSNR (0: off)")
    p.add_argument("--response-segments", type=int, default=30, help="held-out starts for action response (0: off)")
    p.add_argument("--lookback", action="store_true", help="also the look-back and revisit tests")
    p.add_argument("--lookback-starts", type=int, default=8)
    p.add_argument("--long", action="store_true", help="also the 5-minute rollout under the explorer")
    p.add_argument("--long-steps", type=int, default=7500)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--denoise-steps", type=int, default=None, help="override the pack's sampler steps")
    p.add_argument("--ctx-noise", type=float, default=None, help="override the pack's context noise level")
    p.add_argument("--no-memory", action="store_true", help="geometry worlds: the keyframe memory off (ablation)")
    p.add_argument("--no-imagine", action="store_true", help="geometry worlds: the atlas off (ablation)")
    p.add_argument("--no-map", action="store_true", help="geometry worlds: the map off (ablation)")
    p.add_argument("--no-carry", action="store_true", help="geometry worlds: the painter's frame as is (ablation)")
    p.add_argument("--rng-seed", type=int, default=0)
    a = p.parse_args(argv)
    minimum = {"trajectories": 1, "teacher_forced": 0, "response_segments": 0, "lookback_starts": 1, "long_steps": 1}
    for name, low in minimum.items():
        if getattr(a, name) < low:
            raise UserError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(a, name)}")
    existing = next(p for p in (Path(a.out), *Path(a.out).parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):     # refused before any data is read
        raise UserError(f"--out {a.out}: {existing} is not a writable folder")
    return a


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


def evaluate_set(session, trajs, rng_seed: int, label: str) -> dict:
    """Roll out each window from its seed frames under the engine's actions."""
    from model.play.seeds import SceneSeed
    horizon = max(HORIZONS)
    rows = {h: {k: [] for k in ROW_KEYS} for h in HORIZONS}
    curve, copy_curve = np.zeros(horizon), np.zeros(horizon)       # summed MSE per horizon
    progress = Progress(len(trajs), f"eval {label}")
    for n, (frames, actions) in enumerate(trajs):
        session.reset(SceneSeed(f"traj{n}", frames[:CONTEXT], actions[:CONTEXT - 1]), rng_seed + n)
        last = frames[CONTEXT - 1]
        for h in range(1, horizon + 1):
            gen = session.step(actions[CONTEXT - 2 + h])
            real = frames[CONTEXT - 1 + h]
            err, copy_err = mse(gen, real), mse(last, real)
            curve[h - 1] += err
            copy_curve[h - 1] += copy_err
            if h in rows:
                _record(rows[h], session, gen, real, last, err, copy_err)
        progress(n + 1)
    progress.close()
    return {"trajectories": len(trajs), "horizons": {str(h): horizon_figures(r) for h, r in rows.items()},
            "curve_psnr": [round(psnr_from_mse(v / len(trajs)), 3) for v in curve],
            "curve_copy_psnr": [round(psnr_from_mse(v / len(trajs)), 3) for v in copy_curve]}


ROW_KEYS = ("mse", "copy_mse", "ceiling_mse", "ssim", "copy_ssim", "sharp_gen", "sharp_real", "sharp_ceiling")


def _record(r: dict, session, gen, real, last, err: float, copy_err: float) -> None:
    # The ceiling is the world's own tokenizer round trip: no public session call gives it,
    # so it goes through the session's backend. A pixel-space (geometry) world has no
    # tokenizer and so no ceiling: its figures stay None.
    if hasattr(session.backend, "encode"):
        recon = np.asarray(session.backend.decode(session.backend.encode(real[None])[0]))
        r["ceiling_mse"].append(mse(recon, real))
        r["sharp_ceiling"].append(sharpness(recon))
    for key, value in (("mse", err), ("copy_mse", copy_err), ("ssim", ssim(gen, real)),
                       ("copy_ssim", ssim(last, real)), ("sharp_gen", sharpness(gen)), ("sharp_real", sharpness(real))):
        r[key].append(value)


def teacher_forced(session, data, count: int, rng_seed: int, label: str) -> dict:
    """Horizon-1 PSNR with real frames as the context (GameNGen's teacher-forced figure), at
    `count` places spread over the episodes: the same as horizon 1 above, on more windows."""
    from model.play.seeds import SceneSeed
    starts = spread_windows(data, count, CONTEXT + 1, rng_seed + 7)
    errors, copy_errors = [], []
    progress = Progress(len(starts), f"eval teacher-forced {label}")
    for n, s in enumerate(starts):
        session.reset(SceneSeed(f"tf{n}", data.frames[s:s + CONTEXT], data.actions[s:s + CONTEXT - 1]), rng_seed + n)
        gen = session.step(data.actions[s + CONTEXT - 1])
        errors.append(mse(gen, data.frames[s + CONTEXT]))
        copy_errors.append(mse(data.frames[s + CONTEXT - 1], data.frames[s + CONTEXT]))
        progress(n + 1)
    progress.close()
    return {"windows": len(starts), "psnr": round(psnr_from_mse(float(np.mean(errors))), 3),
            "copy_psnr": round(psnr_from_mse(float(np.mean(copy_errors))), 3),
            "psnr_frame_mean": round(float(np.mean([psnr_from_mse(e) for e in errors])), 3)}


def horizon_figures(r: dict) -> dict:
    """PSNR is that of the mean squared error over the set. The mean of per-frame PSNRs is
    kept beside it (`*_frame_mean`) but is no headline: a frame identical to the truth
    scores the 100 dB cap, so the few windows where the player stands still decide
    copy-last's average (28 to 38 dB at horizon 1 depending on how many of them a sample has)."""
    out = {}
    for name in ("", "copy_", "ceiling_"):
        if not r[f"{name}mse"]:                                    # no tokenizer: no ceiling
            out[f"{name}psnr"] = out[f"{name}psnr_frame_mean"] = None
            continue
        out[f"{name}psnr"] = round(psnr_from_mse(float(np.mean(r[f"{name}mse"]))), 3)
        out[f"{name}psnr_frame_mean"] = round(float(np.mean([psnr_from_mse(m) for m in r[f"{name}mse"]])), 3)
    out["ssim"] = round(float(np.mean(r["ssim"])), 3)
    out["copy_ssim"] = round(float(np.mean(r["copy_ssim"])), 3)
    real = max(float(np.mean(r["sharp_real"])), 1e-9)
    out["sharpness_ratio"] = round(float(np.mean(r["sharp_gen"])) / real, 3)
    out["ceiling_sharpness_ratio"] = (round(float(np.mean(r["sharp_ceiling"])) / real, 3)
                                      if r["sharp_ceiling"] else None)
    return out


def side_by_side_video(session, traj, path: Path, steps: int = 250) -> None:
    """engine | model for one held-out trajectory."""
    from model.play.seeds import SceneSeed
    from model.play.video import VideoWriter
    frames, actions = traj
    session.reset(SceneSeed("sbs", frames[:CONTEXT], actions[:CONTEXT - 1]), 0)
    n = min(steps, len(frames) - CONTEXT)
    with VideoWriter(path, scale=2) as writer:
        for h in range(1, n + 1):
            gen = session.step(actions[CONTEXT - 2 + h])
            writer.write(np.concatenate([frames[CONTEXT - 1 + h], gen], axis=1))




def run(args) -> int:
    a = parse(args.rest)
    world = open_world(a.world)
    sampler = {k: v for k, v in (("steps", a.denoise_steps), ("ctx_noise", a.ctx_noise)) if v is not None}
    sampler.update({k: False for k, off in (("memory", a.no_memory), ("carry", a.no_carry),
                                            ("imagine", a.no_imagine), ("map", a.no_map)) if off})
    session = world.session(backend=a.backend, **sampler)
    # Every input is read before --out is made: bad data leaves no empty report folder.
    length = CONTEXT + max(HORIZONS)
    seen = trajectories(a.data, a.trajectories, length, a.rng_seed)
    unseen = trajectories(a.unseen, a.trajectories, length, a.rng_seed) if a.unseen else None
    response_starts = held_out_starts(a.data, a.response_segments, a.rng_seed) if a.response_segments else []
    # the look-back's starts, then more for the revisit the engine comes back from (the same first ones)
    memory_starts = held_out_starts(a.data, a.lookback_starts * RETURN_DRAWS, a.rng_seed + 1) if a.lookback else []
    lookback_starts = memory_starts[:a.lookback_starts]
    long_start = held_out_starts(a.data, 1, a.rng_seed + 2)[0] if a.long else None
    out = make_out(a.out)
    report = header(world, a, {**world.pack.sampler, **sampler}, args.rest)
    report["seen_maps"] = measure_set(session, *seen, a, "seen maps")
    if unseen:
        report["unseen_maps"] = measure_set(session, *unseen, a, "unseen maps")
    if response_starts:
        report["action_response"] = action_response(session, response_starts, a.rng_seed)
    if lookback_starts:
        report["memory"] = memory_tests(session, lookback_starts, out, a.rng_seed, memory_starts[a.lookback_starts:])
    side_by_side_video(session, seen[0][0], out / "engine_vs_model.mp4")
    if long_start is not None:
        frames = seen[1].frames
        real = frames[np.random.default_rng(0).choice(len(frames), min(500, len(frames)), replace=False)]
        report["long"] = long_rollout(session, long_start, a.long_steps, real, out, a.rng_seed)
    report["figures"] = write_plots(out, report)
    write_report(out, report)
    print(summary(report))
    print(f"report: {out / 'report.json'}, {out / 'report.md'}")
    return 0


def measure_set(session, trajs, data, a, label: str) -> dict:
    figures = evaluate_set(session, trajs, a.rng_seed, label)
    if a.teacher_forced:
        figures["teacher_forced"] = teacher_forced(session, data, a.teacher_forced, a.rng_seed, label)
    return figures


def make_out(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as exc:
        raise UserError(f"--out {out}: not a writable folder ({exc.strerror or exc})") from None
    return out


def header(world, a, sampler: dict, argv: list[str]) -> dict:
    return {"world": world.id, "models": world.pack.model_hashes(), "backend": a.backend, "sampler": sampler,
            "context": CONTEXT, "date": datetime.date.today().isoformat(),
            "command": "python main.py eval " + shlex.join(argv),
            "hardware": machine_description(a.backend)}


def write_plots(out: Path, report: dict) -> dict:
    """The plots this report has data for: {name: file in --out}."""
    title = f"{report['world']} world, {report['date']}"
    figures = {"psnr_vs_horizon": "psnr_vs_horizon.png"}
    psnr_plot(out / figures["psnr_vs_horizon"], report, title)
    if report.get("action_response"):
        figures["action_response"] = "action_response.png"
        response_plot(out / figures["action_response"], report["action_response"], title)
    if "memory" in report:
        figures["lookback_contact_sheet"] = "lookback_contact_sheet.png"
    if "long" in report:
        figures["sharpness_over_minutes"] = "sharpness_over_minutes.png"
        sharpness_plot(out / figures["sharpness_over_minutes"], report["long"], title)
        figures["long_contact_sheet"] = "long_contact_sheet.png"
    return {name: f for name, f in figures.items() if (out / f).exists()}


def write_report(out: Path, report: dict) -> None:
    """report.json and report.md, each written whole and then renamed into place."""
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", markdown(report))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
