"""Roofline: FLOPs per frame of each stage, from the configs alone, before training.

    python -m model.train.roofline [--preset small] [--steps 2]

Matmul FLOPs are 2 x multiply-adds. A frame costs: one fused pass of 2 frames (write
frame t to the cache + first denoising step of t+1), steps-1 single-frame passes, and
one decode. Attention reads the whole ring (W frames) whatever the session length.
"""
from __future__ import annotations

import argparse

import torch

from model.nets.dynamics import DYNAMICS_PRESETS, DynamicsConfig
from model.nets.tokenizer import Tokenizer, tokenizer_preset


def pass_flops(cfg: DynamicsConfig, frames: int) -> dict[str, float]:
    """One dynamics call over `frames` frames against a full ring of W frames."""
    n, d = cfg.tokens_per_frame * frames, cfg.width
    hidden = int(d * cfg.mlp_ratio)
    per_layer_proj = 2 * n * (d * 3 * d + d * d + 2 * d * hidden)        # qkv, out, mlp
    keys = cfg.tokens_per_frame * (cfg.window + frames)
    per_layer_attn = 2 * 2 * n * keys * d                                # q.k and attn.v
    per_layer_ada = 2 * frames * d * 6 * d                               # adaLN, per frame
    io = 2 * n * (2 * cfg.patch_dim * d + d * cfg.patch_dim)
    return {"matmul": cfg.depth * per_layer_proj + io, "attention": cfg.depth * per_layer_attn,
            "adaln": cfg.depth * per_layer_ada}


def decoder_flops(tokenizer: Tokenizer) -> float:
    """Conv FLOPs of one decode, counted with forward hooks on a real pass."""
    total = [0.0]

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        total[0] += 2 * module.in_channels * module.out_channels * k * output.shape[-2] * output.shape[-1] / module.groups

    handles = [m.register_forward_hook(hook) for m in tokenizer.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    h, w = tokenizer.cfg.latent_hw
    with torch.no_grad():
        tokenizer.decoder(torch.zeros(1, tokenizer.cfg.latent_channels, h, w))
    for handle in handles:
        handle.remove()
    return total[0]


def frame_budget(preset: str, steps: int) -> dict[str, float]:
    from model.train.runs import dynamics_config
    tokenizer = Tokenizer(tokenizer_preset(preset))
    cfg = dynamics_config(preset, tokenizer.cfg)
    fused = sum(pass_flops(cfg, 2).values())
    single = sum(pass_flops(cfg, 1).values())
    dec = decoder_flops(tokenizer)
    return {"fused pass (cache write + step 1)": fused, "each further step": single,
            "decode": dec, "total": fused + (steps - 1) * single + dec}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.train.roofline")
    p.add_argument("--preset", default="small", choices=sorted(DYNAMICS_PRESETS))
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--gflops", type=float, default=50.0, help="sustained GFLOP/s to assume")
    a = p.parse_args(argv)
    budget = frame_budget(a.preset, a.steps)
    print(f"preset {a.preset}, {a.steps} steps, at {a.gflops:.0f} GFLOP/s sustained:")
    for name, flops in budget.items():
        print(f"  {name:<36} {flops / 1e9:6.3f} GFLOP  {flops / (a.gflops * 1e9) * 1e3:6.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
