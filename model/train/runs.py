"""A run folder: one safetensors checkpoint per stage (weights, optimizer, step, config).

Export, eval and the roofline read runs through here, without importing the trainer.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from model.nets.checkpoint import atomic_save, read_tensors
from model.nets.dynamics import DYNAMICS_PRESETS, Dynamics, DynamicsConfig
from model.nets.tokenizer import Tokenizer, TokenizerConfig
from model.play.errors import UserError


def save_stage(run: Path, stage: str, module, opt, step: int, extra: dict | None = None) -> None:
    tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, st in opt_state["state"].items():
        for name, value in st.items():
            tensors[f"opt.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    meta = {"config": module.cfg.to_dict(), "step": step, "param_groups": opt_state["param_groups"],
            "extra": extra or {}}
    atomic_save(tensors, run / f"{stage}.safetensors", meta)


def load_stage(run: Path, stage: str, module, opt=None, device="cpu") -> tuple[int, dict]:
    tensors, meta = read_tensors(run / f"{stage}.safetensors", device)
    module.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None:
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), meta.get("extra", {})


def stage_meta(run: Path, stage: str) -> dict | None:
    """A stage checkpoint's metadata (config, step), without reading its tensors."""
    from safetensors import safe_open
    path = run / f"{stage}.safetensors"
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def stage_config(run: Path, stage: str) -> dict | None:
    meta = stage_meta(run, stage)
    return meta["config"] if meta else None


def load_run(run: Path):
    """Trained tokenizer + dynamics of a run folder (for export and eval); the decoder
    fine-tune replaces the tokenizer's decoder when it was made on this tokenizer."""
    tcfg, dcfg = stage_config(run, "tokenizer"), stage_config(run, "dynamics")
    if tcfg is None or dcfg is None:
        raise UserError(f"{run}: needs tokenizer.safetensors and dynamics.safetensors")
    tokenizer = Tokenizer(TokenizerConfig.from_dict(tcfg))
    dynamics = Dynamics(DynamicsConfig.from_dict(dcfg))
    t_step, t_extra = load_stage(run, "tokenizer", tokenizer)
    d_step, d_extra = load_stage(run, "dynamics", dynamics)
    info = {"tokenizer_steps": t_step, "dynamics_steps": d_step, **t_extra, **d_extra}
    if decoder_is_current(run, t_step):
        info["decoder_steps"], _ = load_stage(run, "decoder", tokenizer)
    return tokenizer.eval(), dynamics.eval(), info


def decoder_is_current(run: Path, tokenizer_step: int) -> bool:
    meta = stage_meta(run, "decoder")
    return meta is not None and meta.get("extra", {}).get("tokenizer_step") == tokenizer_step


def dynamics_config(preset: str, tcfg: TokenizerConfig) -> DynamicsConfig:
    """The preset, fitted to the tokenizer's latents: patches sized for 48 tokens a frame."""
    h, w = tcfg.latent_hw
    patch = max(1, h // 6)
    if h % patch or w % patch:
        raise UserError(f"latents {h}x{w} do not split into {patch}x{patch} patches")
    return replace(DYNAMICS_PRESETS[preset], latent_channels=tcfg.latent_channels,
                   latent_h=h, latent_w=w, patch=patch)
