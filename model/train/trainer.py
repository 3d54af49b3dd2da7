"""`train`: the tokenizer, the dynamics, then the decoder fine-tune. Resumable; CPU, one
GPU, or several processes (torchrun) that train one model together.

    python main.py train --data data/capture200k --out runs/freedoom --preset small \
        --tokenizer-minutes 20 --dynamics-minutes 60
    python main.py train --benchmark --preset cpu --batch 8 --seq 6    # frames/s, fp32 vs bf16

Each stage checkpoints atomically every few minutes (weights, optimizer, step) and
resumes from there. Batches and noise are drawn from generators seeded by (seed, step)
and, past rank 0, the rank: a resumed run sees the same data as an uninterrupted one,
and data-parallel ranks see different data. Each stage's loss is a module whose forward
returns the loss (minRF's pattern, `objectives.py`); that is what DistributedDataParallel
wraps. Training runs under bf16 autocast where the hardware has it (fp32 master weights
and losses), see `use_bf16`.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from model.nets.checkpoint import atomic_save, read_tensors
from model.nets.dynamics import DYNAMICS_PRESETS, Dynamics
from model.nets.flow import RectifiedFlow
from model.nets.tokenizer import (
    Tokenizer,
    TokenizerConfig,
    frames_to_float,
    tokenizer_preset,
)
from model.play.progress import Progress
from model.train.objectives import (
    DecoderObjective,
    TokenizerObjective,
    decoder_batches,
    frame_batches,
    sequence_batches,
)
from model.train.runs import (
    decoder_is_current,
    dynamics_config,
    load_stage,
    save_stage,
    stage_config,
    stage_meta,
)
from model.train.train_data import FrameData, load_frames
from model.train.train_log import TrainLog

HOLDOUT_MAPS = (29, 30, 31)          # MAP30-MAP32 never train: the unseen-map eval set


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="reverie train")
    p.add_argument("--data", nargs="+", help="capture folders (required unless --benchmark)")
    p.add_argument("--out", help="run folder, resumed if it exists (required unless --benchmark)")
    p.add_argument("--preset", default="small", choices=sorted(DYNAMICS_PRESETS))
    p.add_argument("--stage", default="all", choices=("tokenizer", "dynamics", "decoder", "all"))
    p.add_argument("--tokenizer-minutes", type=float, default=20)
    p.add_argument("--dynamics-minutes", type=float, default=60)
    p.add_argument("--decoder-minutes", type=float, default=10,
                   help="decoder fine-tune on the dynamics' own predictions")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=12, help="frames per training sequence")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-steps", type=int, default=None, help="stop each stage after this many steps")
    p.add_argument("--self-forcing", type=float, default=0.0,
                   help="fraction of context frames replaced by the model's own predictions (fine-tune)")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="auto: bf16 autocast on CUDA and on CPUs with native bf16, else fp32")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: one per core; fewer can be faster where other jobs share the cores)")
    p.add_argument("--benchmark", action="store_true",
                   help="time each stage on synthetic data at --preset/--batch/--seq, fp32 against bf16")
    p.add_argument("--benchmark-steps", type=int, default=5, help="timed steps per stage and precision")
    a = p.parse_args(argv)
    if not a.benchmark and (a.data is None or a.out is None):
        p.error("--data and --out are required (unless --benchmark)")
    return a


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX): where bf16 autocast pays on a CPU."""
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def use_bf16(device: torch.device, precision: str) -> bool:
    """Whether to train under bf16 autocast. "auto" takes it on CUDA and on CPUs with
    native bf16, where matmuls and convs run several times faster than in fp32; elsewhere
    bf16 would be emulated, slower than fp32."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


# -- the loop ---------------------------------------------------------------------------
class Stage:
    """One trainable stage. `module` is what its checkpoint holds; `objective`, a module
    whose forward returns the loss (wrapped in DDP when ranks train together), scores
    the batch that `batches(rng)` draws from a step-seeded generator."""

    def __init__(self, name: str, module: nn.Module, objective: nn.Module, batches, lr: float,
                 params=None):
        self.name, self.module, self.objective, self.batches = name, module, objective, batches
        params = module.parameters() if params is None else params
        self.opt = make_optimizer(params, lr)
        self.lr = lr


def make_optimizer(params, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Every stage's optimizer (its rate is set each step: warm-up)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.99))


def step_seeds(seed: int, step: int, rank: int = 0) -> tuple[np.random.Generator, int]:
    """The batch generator and the torch noise seed of one training step. Rank 0 keeps the
    single-process streams, so that old runs resume bit for bit; every other rank has
    streams of its own, so that data-parallel ranks train on different batches and noise."""
    if rank == 0:
        return np.random.default_rng([seed, step]), seed * 1_000_003 + step
    return np.random.default_rng([seed, step, rank]), seed * 1_000_003 + step + (rank << 48)


def train_step(stage: Stage, objective: nn.Module, seed: int, step: int, device, bf16: bool) -> float:
    """One optimizer step on the batch and the noise of (seed, step, rank); returns the loss."""
    rng, noise_seed = step_seeds(seed, step, rank())
    torch.manual_seed(noise_seed)
    for group in stage.opt.param_groups:     # linear warm-up, then constant
        group["lr"] = stage.lr * min(1.0, (step + 1) / 200)
    batch = stage.batches(rng)
    # Autocast leaves the fp32 weights the master copy; the objectives take their losses in fp32.
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = objective(*batch)
    stage.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(stage.module.parameters(), 1.0)
    stage.opt.step()
    return loss.item()


def train_stage(stage: Stage, run: Path, minutes: float, seed: int, device, max_steps=None,
                log=print, extra=None, bf16: bool = False) -> int:
    step = 0
    if (run / f"{stage.name}.safetensors").is_file():
        step, _ = load_stage(run, stage.name, stage.module, stage.opt, device)
        log(f"{stage.name}: resumed at step {step}")
    objective = _maybe_ddp(stage.objective, device)
    stage.module.train()
    deadline = time.monotonic() + minutes * 60
    last_save, losses = time.monotonic(), []
    progress = Progress(None, f"train {stage.name}", initial=step)      # the rate: this run's steps
    train_log = TrainLog(run, stage.name) if rank() == 0 else None
    start_step = step
    while not _any_rank_stops(time.monotonic() >= deadline or step - start_step == max_steps, device):
        losses.append(train_step(stage, objective, seed, step, device, bf16))
        step += 1
        progress(step, f"loss {np.mean(losses[-50:]):.4f}")
        if train_log:
            train_log.add(step, losses[-1], stage.opt.param_groups[0]["lr"])
        if time.monotonic() - last_save > 120:
            _save_if_main(run, stage, step, extra)
            last_save = time.monotonic()
    progress.close()
    if train_log:
        train_log.close()
    _save_if_main(run, stage, step, extra)
    barrier()                   # no rank reads this stage's checkpoint before it is written
    log(f"{stage.name}: {step} steps, loss {np.mean(losses[-50:]) if losses else float('nan'):.4f}")
    stage.module.eval()
    return step


# -- the three stages -------------------------------------------------------------------
def tokenizer_stage(tok: Tokenizer, data: FrameData, batch: int, device, lr: float) -> Stage:
    """The autoencoder, on 48x64 crops of `batch` random frames."""
    return Stage("tokenizer", tok, TokenizerObjective(tok, crop=(48, 64)), frame_batches(data, batch, device), lr)


def dynamics_stage(dyn: Dynamics, latents: torch.Tensor, data: FrameData, seq: int, batch: int, device,
                   lr: float, self_forcing: float = 0.0) -> Stage:
    """The flow objective on `batch` windows of `seq` frames' latents."""
    return Stage("dynamics", dyn, RectifiedFlow(dyn, self_forcing=self_forcing),
                 sequence_batches(latents, data, seq, batch, device), lr)


def decoder_stage(tok: Tokenizer, dyn: Dynamics, latents: torch.Tensor, data: FrameData, seq: int,
                  batch: int, device, lr: float) -> Stage:
    """The decoder fine-tune. Only the decoder learns; the encoder and the dynamics are
    frozen, so that DDP holds no parameter that never receives a gradient."""
    dyn.eval().requires_grad_(False)
    tok.encoder.requires_grad_(False)
    return Stage("decoder", tok, DecoderObjective(tok, dyn),
                 decoder_batches(latents, data, seq, batch, device, tok.cfg.downsample), lr,
                 params=tok.decoder.parameters())


# -- data-parallel ranks ----------------------------------------------------------------
def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if distributed() else 0


def barrier() -> None:
    if distributed():
        dist.barrier()


def _maybe_ddp(objective: nn.Module, device) -> nn.Module:
    if not distributed():
        return objective
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)


def _any_rank_stops(stop: bool, device) -> bool:
    """True when any rank wants to stop (its time is up): then all stop at the same step,
    because a rank that stopped alone would leave the others waiting in an all-reduce."""
    if not distributed():
        return stop
    flag = torch.tensor([float(stop)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _save_if_main(run: Path, stage: Stage, step: int, extra) -> None:
    if rank() == 0:
        save_stage(run, stage.name, stage.module, stage.opt, step, extra)


@torch.no_grad()
def encode_all(tok: Tokenizer, frames: np.ndarray, device, batch: int = 256) -> torch.Tensor:
    tok.eval()
    out = [tok.encoder(frames_to_float(torch.from_numpy(frames[i:i + batch]).to(device))).float().cpu()
           for i in range(0, len(frames), batch)]
    return torch.cat(out)


def run(args) -> int:
    design, rest = _design(args.rest)
    if design == "geometry":
        from model.train.geotrain import run as train_geometry
        return train_geometry(rest)
    a = parse(rest)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.benchmark:
        from model.train.train_bench import benchmark
        return benchmark(a)
    torch.manual_seed(a.seed)
    device = init_device(a.device)
    bf16 = use_bf16(device, a.precision)
    run_dir = Path(a.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank() == 0:
        (run_dir / "args.json").write_text(json.dumps(vars(a), indent=2))
    data = load_frames(a.data, a.max_frames, exclude_maps=HOLDOUT_MAPS)
    print(f"data: {len(data)} frames, {len(np.unique(data.episode))} episodes, device {device}"
          f"{' (bf16 autocast)' if bf16 else ''}")
    tok, latents = train_tokenizer(run_dir, data, a, device, bf16)
    if a.stage == "tokenizer":
        return 0
    dyn = Dynamics(dynamics_config(a.preset, tok.cfg)).to(device)
    if a.stage in ("dynamics", "all"):
        if a.seq - 1 < dyn.cfg.window:
            print(f"warning: --seq {a.seq} trains frame ages up to {a.seq - 1}, but the window is "
                  f"{dyn.cfg.window}: play will show the model ages it never trained on")
        stage = dynamics_stage(dyn, latents, data, a.seq, a.batch, device, a.lr, a.self_forcing)
        extra = {"frames_trained_on": len(data), "device": str(device), "preset": a.preset}
        train_stage(stage, run_dir, a.dynamics_minutes, a.seed, device, a.max_steps, extra=extra, bf16=bf16)
    else:
        load_stage(run_dir, "dynamics", dyn, device=device)
    if a.stage in ("decoder", "all"):
        train_decoder(run_dir, tok, dyn, latents, data, a, device, bf16)
    return 0


def _design(argv: list[str]) -> tuple[str, list[str]]:
    """`--design latent|geometry` (default latent), and the rest of the arguments: each
    design parses its own options (`train --design geometry --help`)."""
    p = argparse.ArgumentParser(prog="reverie train", add_help=False)
    p.add_argument("--design", default="latent", choices=("latent", "geometry"))
    known, rest = p.parse_known_args(argv)
    return known.design, rest


def init_device(name: str) -> torch.device:
    """The training device. Under torchrun, joins the process group first (gloo on CPU,
    nccl on CUDA with one GPU per local rank)."""
    device = pick_device(name)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
    return device


def train_tokenizer(run_dir: Path, data: FrameData, a, device, bf16: bool) -> tuple[Tokenizer, torch.Tensor]:
    """Train (or load) the tokenizer; returns it, its latent statistics set, and the
    training frames' normalized latents."""
    tok = Tokenizer(tokenizer_preset(a.preset)).to(device)
    if stage_config(run_dir, "tokenizer") is not None:
        tok = Tokenizer(TokenizerConfig.from_dict(stage_config(run_dir, "tokenizer"))).to(device)
    if a.stage in ("tokenizer", "all"):
        stage = tokenizer_stage(tok, data, a.batch * 2, device, a.lr * 2)
        train_stage(stage, run_dir, a.tokenizer_minutes, a.seed, device, a.max_steps, bf16=bf16)
    else:
        load_stage(run_dir, "tokenizer", tok, device=device)
    latents = cached_latents(run_dir, tok, data, a, device)
    _set_latent_stats(tok, latents)
    if rank() == 0:
        _save_tokenizer_stats(run_dir, tok)
    barrier()
    return tok, (latents - tok.latent_mean.cpu()) / tok.latent_std.cpu()


def train_decoder(run_dir: Path, tok: Tokenizer, dyn: Dynamics, latents, data, a, device, bf16: bool) -> None:
    tok_step = stage_meta(run_dir, "tokenizer")["step"]
    path = run_dir / "decoder.safetensors"
    if path.is_file() and not decoder_is_current(run_dir, tok_step):
        if rank() == 0:
            path.replace(run_dir / "decoder.stale.safetensors")
        print("decoder: the tokenizer changed since the last fine-tune; starting it afresh")
    barrier()
    stage = decoder_stage(tok, dyn, latents, data, a.seq, a.batch, device, a.lr)
    train_stage(stage, run_dir, a.decoder_minutes, a.seed, device, a.max_steps,
                extra={"tokenizer_step": tok_step}, bf16=bf16)


def cached_latents(run: Path, tok: Tokenizer, data: FrameData, a, device) -> torch.Tensor:
    """Raw encoder latents of the training frames, cached beside the tokenizer checkpoint:
    encoding is minutes of CPU, and a resumed or fine-tuning run needs the same ones."""
    step = (stage_meta(run, "tokenizer") or {}).get("step", 0)
    key = {"tokenizer_step": step, "data": [str(d) for d in a.data], "max_frames": a.max_frames,
           "frames": len(data)}
    path = run / "latents.safetensors"
    if path.is_file():
        tensors, meta = read_tensors(path)
        if meta.get("key") == key:
            return tensors["latents"].float()
    latents = encode_all(tok, data.frames, device)
    if rank() == 0:
        atomic_save({"latents": latents.half()}, path, {"key": key})
    return latents.half().float()      # the same values whether cached or fresh


def _set_latent_stats(tok: Tokenizer, latents: torch.Tensor) -> None:
    mean = latents.mean(dim=(0, 2, 3), keepdim=True)
    std = latents.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    tok.latent_mean.copy_(mean.to(tok.latent_mean.device))
    tok.latent_std.copy_(std.to(tok.latent_std.device))


def _save_tokenizer_stats(run: Path, tok: Tokenizer) -> None:
    """Write the latent statistics into the tokenizer checkpoint (weights unchanged)."""
    tensors, meta = read_tensors(run / "tokenizer.safetensors")
    tensors["model.latent_mean"] = tok.latent_mean.cpu()
    tensors["model.latent_std"] = tok.latent_std.cpu()
    atomic_save(tensors, run / "tokenizer.safetensors", meta)

