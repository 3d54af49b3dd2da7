"""`bench`: frames per second of the world session, and where the time goes.

Steps the session back to back (no 40 ms wait) under a human-like action pattern and
reports fps, p50/p99 step time, the per-stage split and process memory.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import time

import numpy as np

from model.play.errors import UserError
from model.play.progress import Progress
from model.play.runtime import open_world
from model.play.sampler import denoise_option
from model.play.world import action_from_names

WARMUP = 20


def bench_actions(n: int, seed: int = 0) -> np.ndarray:
    """Held keys of random lengths, like a person walking and turning."""
    rng = np.random.default_rng(seed)
    combos = [{"MOVE_FORWARD"}, {"MOVE_FORWARD", "TURN_LEFT"}, {"MOVE_FORWARD", "TURN_RIGHT"},
              {"TURN_LEFT"}, {"TURN_RIGHT"}, {"MOVE_LEFT"}, {"MOVE_RIGHT"}, {"MOVE_BACKWARD"},
              {"ATTACK"}, {"USE"}, set()]
    out = []
    while len(out) < n:
        out += [action_from_names(combos[rng.integers(len(combos))])] * int(rng.integers(5, 40))
    return np.stack(out[:n])


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start(world):
    """The pack's first scene seed; a pack with none yet (a fresh export) starts from grey:
    a step costs the same whatever the picture."""
    if world.seed_names():
        return world.load_seed(None)
    from model.play.seeds import SceneSeed
    h, w = world.pack.frame_hw
    return SceneSeed(name="grey", frames=np.full((1, h, w, 3), 128, np.uint8), actions=None)


def run_bench(world_id, frames: int, backend: str, denoise_steps=None, show_progress=True) -> dict:
    if frames < 1:
        raise UserError(f"--frames must be at least 1, got {frames}")
    world = open_world(world_id)
    session = world.session(backend=backend, **denoise_option(denoise_steps))
    session.reset(_start(world), rng_seed=0)
    actions = bench_actions(frames + WARMUP)
    for a in actions[:WARMUP]:
        session.step(a)
    step_ms, stages = np.zeros(frames), np.zeros((frames, 4))
    pass_ms = np.zeros((frames, 4))
    rss = []
    progress = Progress(frames, "bench") if show_progress else None
    for i, a in enumerate(actions[WARMUP:]):
        t = time.perf_counter()
        session.step(a)
        step_ms[i] = (time.perf_counter() - t) * 1e3
        tm = session.timings
        geometry = getattr(tm, "geometry_ms", 0.0)       # depth, motion, warp and memory (geometry worlds)
        stages[i] = tm.dynamics_ms, tm.decode_ms, geometry, step_ms[i] - tm.dynamics_ms - tm.decode_ms - geometry
        pass_ms[i, :len(tm.pass_ms)] = tm.pass_ms
        if i % 100 == 0:
            rss.append(rss_mb())
        if progress:
            progress(i + 1)
    if progress:
        progress.close()
    return {
        "backend": session.backend_name, "world": world.id, "frames": frames,
        "denoise_steps": session.steps,
        "fps": round(frames / (step_ms.sum() / 1e3), 2),
        "p50_step_ms": round(float(np.percentile(step_ms, 50)), 2),
        "p99_step_ms": round(float(np.percentile(step_ms, 99)), 2),
        "stages_ms": {name: round(float(stages[:, k].mean()), 2)
                      for k, name in enumerate(("dynamics", "decode", "geometry", "other"))},
        "memory_keyframes": getattr(getattr(session, "memory", None), "count", None),
        "pass_ms": [round(float(pass_ms[:, k].mean()), 2) for k in range(session.steps)],
        **_drift(step_ms),
        "rss_mb_first": round(rss[0], 1), "rss_mb_last": round(rss[-1], 1),
        "machine": machine_description(session.backend_name),
    }


def machine_description(backend: str = "cpu") -> str:
    """CPU model and cores (and the GPU when the backend uses one), for every reported figure."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{name}, {os.cpu_count()} cores"
    if backend == "cuda":               # torch is loaded already; never import it for the CPU path
        import torch
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def _drift(step_ms: np.ndarray) -> dict:
    """fps over frames 1,000-2,000 and over the last 1,000: cost must not grow with length."""
    if len(step_ms) < 3000:
        return {}
    return {"fps_frames_1000_2000": round(1e3 / float(step_ms[1000:2000].mean()), 2),
            "fps_last_1000": round(1e3 / float(step_ms[-1000:].mean()), 2)}


def run(args) -> int:
    result = run_bench(args.world, args.frames, args.backend, args.denoise_steps, show_progress=not args.json)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['backend']}: {result['fps']} fps over {result['frames']} frames, "
              f"p50 {result['p50_step_ms']} ms, p99 {result['p99_step_ms']} ms "
              f"(dynamics {result['stages_ms']['dynamics']}, decode {result['stages_ms']['decode']}, "
              f"other {result['stages_ms']['other']}), memory {result['rss_mb_last']} MB")
    return 0

