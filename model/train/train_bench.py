"""`train --benchmark`: training throughput of each stage, fp32 against bf16 autocast.

    python main.py train --benchmark --preset cpu --batch 8 --seq 6

Random frames and latents of the preset's sizes (no data needed) go through the real
stages (`tokenizer_stage`, `dynamics_stage`, `decoder_stage`, one `train_step` at a time).
The fp32 and bf16 steps alternate, so that cores shared with other jobs slow both alike,
and each reports its fastest step, the one other jobs slowed least: read the two as a
ratio. Frames per step: the tokenizer's 48x64 crops (2 x batch), the dynamics' batch x
seq, the decoder's batch x (seq - 1). FLOPs are counted on one step of each by
FlopCounterMode (matmuls, attention and convs, forward and backward).
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from model.nets.dynamics import Dynamics
from model.nets.tokenizer import Tokenizer, tokenizer_preset
from model.train.runs import dynamics_config
from model.train.train_data import FrameData
from model.train.trainer import (
    Stage,
    cpu_has_bf16,
    decoder_stage,
    dynamics_stage,
    pick_device,
    tokenizer_stage,
    train_step,
)

PRECISIONS = (("fp32", False), ("bf16", True))


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    bf16 = "native bf16" if cpu_has_bf16() else "no native bf16 (bf16 is emulated)"
    threads = torch.get_num_threads()
    return f"{cpu_name()}, {threads} thread{'s' if threads > 1 else ''}, {bf16}, torch {torch.__version__}"


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def synthetic(preset: str, n: int, device) -> tuple[Tokenizer, Dynamics, FrameData, torch.Tensor]:
    """Fresh modules of the preset, n random frames (one episode) and their random latents."""
    torch.manual_seed(0)
    tok = Tokenizer(tokenizer_preset(preset)).to(device)
    dyn = Dynamics(dynamics_config(preset, tok.cfg)).to(device)
    rng = np.random.default_rng(0)
    cfg = tok.cfg
    data = FrameData(rng.integers(0, 256, (n, cfg.frame_h, cfg.frame_w, 3), dtype=np.uint8),
                     rng.integers(0, 2, (n, 8), dtype=np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64))
    latents = torch.randn(n, cfg.latent_channels, *cfg.latent_hw)
    return tok, dyn, data, latents


def stages(a, device) -> list[tuple[Stage, int]]:
    """The three stages as `train` builds them, each with the frames one step trains on."""
    n = max(64, 2 * a.batch * a.seq)
    tok, _, data, _ = synthetic(a.preset, n, device)
    tokenizer = tokenizer_stage(tok, data, 2 * a.batch, device, a.lr)
    _, dyn, data, latents = synthetic(a.preset, n, device)
    dynamics = dynamics_stage(dyn, latents, data, a.seq, a.batch, device, a.lr)
    tok, dyn, data, latents = synthetic(a.preset, n, device)
    decoder = decoder_stage(tok, dyn, latents, data, a.seq, a.batch, device, a.lr)
    return [(tokenizer, 2 * a.batch), (dynamics, a.batch * a.seq), (decoder, a.batch * (a.seq - 1))]


def geo_stages(a, device) -> list[tuple[Stage, int]]:
    """The geometry design's three stages (`train --design geometry --benchmark`), on random
    frames of one episode, as `geotrain` builds them."""
    from model.nets.geonets import GEO_PRESETS, DepthNet, MotionNet, Painter
    from model.train.geodata import GeoData
    from model.train.geotrain import DepthLoss, MotionLoss, PainterLoss
    n, rng = 256, np.random.default_rng(0)
    base = FrameData(rng.integers(0, 256, (n, 96, 128, 3), dtype=np.uint8), rng.integers(0, 2, (n, 8), dtype=np.uint8),
                     np.zeros(n, np.int64), np.zeros(n, np.int64))
    data = GeoData(base, rng.integers(1, 64, (n, 96, 128)).astype(np.uint8),
                   rng.normal(0, 2, (n, 4)).astype(np.float32), np.zeros((n, 4), np.float32))
    cfg = GEO_PRESETS[a.preset]
    depth, motion, painter = DepthNet(cfg), MotionNet(cfg), Painter(cfg)
    objectives = (("geo_depth", depth, DepthLoss(depth, data, 2 * a.batch), 2 * a.batch),
                  ("geo_motion", motion, MotionLoss(motion, data, 256), 256),
                  ("geo_painter", painter, PainterLoss(painter, DepthNet(cfg), MotionNet(cfg), data, a.batch),
                   a.batch))     # the painter's own frozen copies: freezing would stop the other two stages
    out = []
    for name, module, objective, frames in objectives:
        module.to(memory_format=torch.channels_last)
        out.append((Stage(name, module, objective, lambda rng: (rng,), a.lr), frames))
    return out


def measure(stage: Stage, steps: int, device) -> dict[str, tuple[float, float]]:
    """Seconds of the fastest step and FLOPs per step of each precision, steps alternating."""
    stage.module.train()
    flops, times = {}, {name: [] for name, _ in PRECISIONS}
    for name, bf16 in PRECISIONS:
        train_step(stage, stage.objective, 0, 0, device, bf16)              # warm-up
        with FlopCounterMode(display=False) as counter:
            train_step(stage, stage.objective, 0, 1, device, bf16)
        flops[name] = counter.get_total_flops()
    for step in range(steps):
        for name, bf16 in PRECISIONS:
            _sync(device)
            start = time.perf_counter()
            train_step(stage, stage.objective, 0, 2 + step, device, bf16)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: (min(times[name]), flops[name]) for name, _ in PRECISIONS}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark(a, design: str = "latent") -> int:
    device = pick_device(a.device)
    print(f"hardware: {hardware(device)}")
    shape = f"batch {a.batch}" + (f" x seq {a.seq}" if design == "latent" else "")
    print(f"{design} design, preset {a.preset}, {shape}: fastest of {a.benchmark_steps} steps "
          f"per stage and precision, fp32 and bf16 alternating")
    print(f"{'stage':<10} {'frames':>6} {'GFLOP':>7} | {'fp32 ms':>8} {'frames/s':>8} {'GFLOP/s':>7} | "
          f"{'bf16 ms':>8} {'frames/s':>8} {'GFLOP/s':>7} | bf16/fp32")
    for stage, frames in (geo_stages(a, device) if design == "geometry" else stages(a, device)):
        result = measure(stage, a.benchmark_steps, device)
        cells = [f"{t * 1e3:8.0f} {frames / t:8.1f} {f / t / 1e9:7.1f}" for t, f in result.values()]
        speedup = result["fp32"][0] / result["bf16"][0]
        print(f"{stage.name:<10} {frames:>6} {result['fp32'][1] / 1e9:7.2f} | {cells[0]} | {cells[1]} | "
              f"{speedup:5.2f}x", flush=True)
    return 0
