"""Weights on disk: safetensors only (never pickle), configs as JSON in the metadata.

Training checkpoints and the world pack's torch weights share this one format. Writes
go to a temporary name first and are renamed into place, so a crash never leaves a
half-written file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from model.nets.dynamics import Dynamics, DynamicsConfig
from model.nets.tokenizer import Tokenizer, TokenizerConfig
from model.play.errors import UserError


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
              metadata={k: json.dumps(v) for k, v in meta.items()})
    os.replace(tmp, path)


def read_tensors(path: Path, device="cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and JSON metadata of a safetensors file; UserError if unreadable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        return load_file(str(path), device=str(device)), meta
    except FileNotFoundError:
        raise UserError(f"{path}: weights file not found") from None
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a valid safetensors file ({exc})") from None


def save_world_modules(tokenizer: Tokenizer, dynamics: Dynamics, path: Path, dtype=torch.float16) -> None:
    tensors = {f"tokenizer.{k}": v.to(dtype) for k, v in tokenizer.state_dict().items()}
    tensors.update({f"dynamics.{k}": v.to(dtype) for k, v in dynamics.state_dict().items()})
    atomic_save(tensors, path, {"tokenizer": tokenizer.cfg.to_dict(), "dynamics": dynamics.cfg.to_dict()})


def build_modules(meta: dict, tensors: dict[str, torch.Tensor]) -> tuple[Tokenizer, Dynamics]:
    tokenizer = Tokenizer(TokenizerConfig.from_dict(meta["tokenizer"]))
    dynamics = Dynamics(DynamicsConfig.from_dict(meta["dynamics"]))
    for prefix, module in (("tokenizer.", tokenizer), ("dynamics.", dynamics)):
        state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state)
    return tokenizer.eval(), dynamics.eval()


def load_world_modules(pack, device) -> tuple[Tokenizer, Dynamics]:
    path = pack.verified_model("torch")
    tensors, meta = read_tensors(path)
    try:
        tokenizer, dynamics = build_modules(meta, tensors)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: weights do not match their config ({exc})") from None
    return tokenizer.to(device), dynamics.to(device)


def round_to(module: torch.nn.Module, dtype=torch.float16) -> None:
    """Round weights to what `dtype` can hold, so fp16 files and fp32 ONNX agree exactly."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
