"""`train`: the tokenizer, then the dynamics. Resumable; CPU, one GPU, or several (torchrun).

    python main.py train --data data/capture200k --out runs/freedoom --preset small \
        --tokenizer-minutes 20 --dynamics-minutes 60

Each stage checkpoints atomically every few minutes (weights, optimizer, step) and
resumes from there. Batches are drawn from a generator seeded by (seed, step), so a
resumed run sees the same data as an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.nets.checkpoint import atomic_save, read_tensors
from model.nets.dynamics import DYNAMICS_PRESETS, Dynamics
from model.nets.flow import flow_loss, teacher_forced_samples
from model.nets.tokenizer import (
    Tokenizer,
    TokenizerConfig,
    frames_to_float,
    tokenizer_preset,
)
from model.play.progress import Progress
from model.train.runs import (
    decoder_is_current,
    dynamics_config,
    load_stage,
    save_stage,
    stage_config,
    stage_meta,
)
from model.train.train_data import FrameData, load_frames

HOLDOUT_MAPS = (29, 30, 31)          # MAP30-MAP32 never train: the unseen-map eval set


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="reverie train")
    p.add_argument("--data", nargs="+", required=True, help="capture folders")
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
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
    return p.parse_args(argv)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# -- losses -----------------------------------------------------------------------------
def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images in [-1, 1] with an 7x7 box window (no downloads needed)."""
    x, y = (x + 1) / 2, (y + 1) / 2
    pool = lambda t: F.avg_pool2d(t, 7, 1, 3, count_include_pad=False)  # noqa: E731
    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx ** 2, pool(y * y) - my ** 2, pool(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean()


def tokenizer_loss(tok: Tokenizer, frames_u8: torch.Tensor, crop: tuple[int, int] | None = None) -> torch.Tensor:
    """The autoencoder's loss. `crop` (h, w), multiples of 8, trains on a random window of
    each batch: the autoencoder is fully convolutional, and crops cost less."""
    if crop is not None:
        h, w = frames_u8.shape[1:3]
        y0 = int(torch.randint(0, (h - crop[0]) // 8 + 1, ())) * 8
        x0 = int(torch.randint(0, (w - crop[1]) // 8 + 1, ())) * 8
        frames_u8 = frames_u8[:, y0:y0 + crop[0], x0:x0 + crop[1]]
    x = frames_to_float(frames_u8)
    z = tok.encoder(x)
    # Noise on the latents teaches the decoder to tolerate predicted, imperfect latents.
    z = z + 0.1 * z.detach().std() * torch.randn_like(z)
    return reconstruction_loss(tok.decoder(z), x)


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 + (1 - SSIM) + a spectrum-magnitude term (texture energy, whatever its phase)."""
    rec = rec.float()                    # losses in fp32 (FFT has no bf16 kernels)
    freq = (torch.fft.rfft2(rec).abs() - torch.fft.rfft2(x).abs()).abs().mean()
    return F.l1_loss(rec, x) + 0.2 * (1 - ssim(rec, x)) + 0.01 * freq


def decoder_loss(tok: Tokenizer, dyn: Dynamics, latents: torch.Tensor, data: FrameData, seq: int,
                 batch: int, device, steps: int = 2, crop: tuple[int, int] = (12, 16)):
    """The decoder fine-tune: decode what the dynamics generates at horizon 1 (teacher-forced,
    `steps` like play) into the real frame, so the frames on screen are the best the
    predicted latents allow. A quarter of the latents are the encoder's own, so reconstruction
    stays as good. The encoder and the dynamics are frozen: the latent space does not move."""
    starts = data.window_starts(seq)
    actions = torch.from_numpy(data.actions)
    frames = torch.from_numpy(data.frames)
    offsets = torch.arange(seq)
    down = tok.cfg.downsample

    def batch_loss(rng):
        idx = torch.from_numpy(starts[rng.integers(0, len(starts), batch)])[:, None] + offsets
        z = latents[idx].to(device)
        pred = teacher_forced_samples(dyn, z, actions[idx[:, :-1]].to(device), steps)
        own = torch.rand(pred.shape[:2], device=device) < 0.25
        z_in = torch.where(own[..., None, None, None], z[:, 1:], pred).flatten(0, 1)
        h, w = z_in.shape[-2:]
        y0, x0 = int(rng.integers(0, h - crop[0] + 1)), int(rng.integers(0, w - crop[1] + 1))
        z_in = z_in[..., y0:y0 + crop[0], x0:x0 + crop[1]]
        real = frames[idx[:, 1:]].flatten(0, 1)[:, y0 * down:(y0 + crop[0]) * down,
                                                  x0 * down:(x0 + crop[1]) * down]
        return reconstruction_loss(tok.decode_float(z_in), frames_to_float(real.to(device)))
    return batch_loss


# -- the loop ---------------------------------------------------------------------------
class Stage:
    """One trainable stage: a module, its loss on a batch drawn from a step-seeded rng."""

    def __init__(self, name: str, module, batch_loss, lr: float, params=None):
        self.name, self.module, self.batch_loss = name, module, batch_loss
        params = module.parameters() if params is None else params
        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.99))
        self.lr = lr


def train_stage(stage: Stage, run: Path, minutes: float, seed: int, device, max_steps=None,
                log=print, extra=None) -> int:
    step = 0
    if (run / f"{stage.name}.safetensors").is_file():
        step, _ = load_stage(run, stage.name, stage.module, stage.opt, device)
        log(f"{stage.name}: resumed at step {step}")
    module = _maybe_ddp(stage.module, device)
    module.train()
    deadline = time.monotonic() + minutes * 60
    last_save, losses = time.monotonic(), []
    progress = Progress(None, f"train {stage.name}")
    start_step = step
    while time.monotonic() < deadline and (max_steps is None or step - start_step < max_steps):
        rng = np.random.default_rng([seed, step])
        torch.manual_seed(seed * 1_000_003 + step)     # noise draws, too, are a function of the step
        for group in stage.opt.param_groups:     # linear warm-up, then constant
            group["lr"] = stage.lr * min(1.0, (step + 1) / 200)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = stage.batch_loss(rng)
        stage.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(stage.module.parameters(), 1.0)
        stage.opt.step()
        step += 1
        losses.append(loss.item())
        progress(step, f"loss {np.mean(losses[-50:]):.4f}")
        if time.monotonic() - last_save > 120:
            _save_if_main(run, stage, step, extra)
            last_save = time.monotonic()
    progress.close()
    _save_if_main(run, stage, step, extra)
    log(f"{stage.name}: {step} steps, loss {np.mean(losses[-50:]) if losses else float('nan'):.4f}")
    stage.module.eval()
    return step


def _maybe_ddp(module, device):
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    return module


def _save_if_main(run: Path, stage: Stage, step: int, extra) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        save_stage(run, stage.name, stage.module, stage.opt, step, extra)


def frame_batches(data: FrameData, batch: int, device):
    frames = torch.from_numpy(data.frames)

    def batch_loss_factory(tok):
        def batch_loss(rng):
            idx = torch.from_numpy(rng.integers(0, len(data), batch))
            return tokenizer_loss(tok, frames[idx].to(device), crop=(48, 64))
        return batch_loss
    return batch_loss_factory


@torch.no_grad()
def encode_all(tok: Tokenizer, frames: np.ndarray, device, batch: int = 256) -> torch.Tensor:
    tok.eval()
    out = [tok.encoder(frames_to_float(torch.from_numpy(frames[i:i + batch]).to(device))).float().cpu()
           for i in range(0, len(frames), batch)]
    return torch.cat(out)


def sequence_loss(dyn: Dynamics, latents: torch.Tensor, data: FrameData, seq: int, batch: int, device,
                  self_forcing: float = 0.0):
    starts = data.window_starts(seq)
    actions = torch.from_numpy(data.actions)
    offsets = torch.arange(seq)

    def batch_loss(rng):
        idx = torch.from_numpy(starts[rng.integers(0, len(starts), batch)])[:, None] + offsets   # (B, T)
        z = latents[idx].to(device)
        a = actions[idx[:, :-1]].to(device)            # actions[i] takes frame i to i+1
        return flow_loss(dyn, z, a, self_forcing=self_forcing)
    return batch_loss


def run(args) -> int:
    a = parse(args.rest)
    torch.manual_seed(a.seed)
    device = pick_device(a.device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
    run_dir = Path(a.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "args.json").write_text(json.dumps(vars(a), indent=2))
    data = load_frames(a.data, a.max_frames, exclude_maps=HOLDOUT_MAPS)
    print(f"data: {len(data)} frames, {len(np.unique(data.episode))} episodes, device {device}")
    tok = Tokenizer(tokenizer_preset(a.preset)).to(device)
    if stage_config(run_dir, "tokenizer") is not None:
        tok = Tokenizer(TokenizerConfig.from_dict(stage_config(run_dir, "tokenizer"))).to(device)
    if a.stage in ("tokenizer", "all"):
        stage = Stage("tokenizer", tok, frame_batches(data, a.batch * 2, device)(tok), a.lr * 2)
        train_stage(stage, run_dir, a.tokenizer_minutes, a.seed, device, a.max_steps)
    else:
        load_stage(run_dir, "tokenizer", tok, device=device)
    latents = cached_latents(run_dir, tok, data, a, device)
    _set_latent_stats(tok, latents)
    _save_tokenizer_stats(run_dir, tok)
    latents = (latents - tok.latent_mean.cpu()) / tok.latent_std.cpu()
    if a.stage == "tokenizer":
        return 0
    dyn = Dynamics(dynamics_config(a.preset, tok.cfg)).to(device)
    if a.stage in ("dynamics", "all"):
        if a.seq - 1 < dyn.cfg.window:
            print(f"warning: --seq {a.seq} trains frame ages up to {a.seq - 1}, but the window is "
                  f"{dyn.cfg.window}: play will show the model ages it never trained on")
        loss = sequence_loss(dyn, latents, data, a.seq, a.batch, device, a.self_forcing)
        stage = Stage("dynamics", dyn, loss, a.lr)
        extra = {"frames_trained_on": len(data), "device": str(device), "preset": a.preset}
        train_stage(stage, run_dir, a.dynamics_minutes, a.seed, device, a.max_steps, extra=extra)
    else:
        load_stage(run_dir, "dynamics", dyn, device=device)
    if a.stage in ("decoder", "all"):
        train_decoder(run_dir, tok, dyn, latents, data, a, device)
    return 0


def train_decoder(run_dir: Path, tok: Tokenizer, dyn: Dynamics, latents, data, a, device) -> None:
    tok_step = stage_meta(run_dir, "tokenizer")["step"]
    path = run_dir / "decoder.safetensors"
    if path.is_file() and not decoder_is_current(run_dir, tok_step):
        path.replace(run_dir / "decoder.stale.safetensors")
        print("decoder: the tokenizer changed since the last fine-tune; starting it afresh")
    dyn.eval().requires_grad_(False)
    loss = decoder_loss(tok, dyn, latents, data, a.seq, a.batch, device)
    stage = Stage("decoder", tok, loss, a.lr, params=tok.decoder.parameters())
    train_stage(stage, run_dir, a.decoder_minutes, a.seed, device, a.max_steps,
                extra={"tokenizer_step": tok_step})


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

