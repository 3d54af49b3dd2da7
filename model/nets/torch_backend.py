"""The PyTorch backend: the ring buffer and every intermediate stay on the device.

`model.play.backends.open_backend` imports this module only when a torch backend
('cuda' or 'torch') is asked for, so the shipped runtime never imports torch.
"""
from __future__ import annotations

import numpy as np
import torch

from model.nets.checkpoint import load_world_modules
from model.play.backends import RingBackend
from model.play.pack import WorldPack


class TorchBackend(RingBackend):
    """PyTorch on `device`: named 'cuda' on a GPU, 'torch' on the CPU."""

    def __init__(self, pack: WorldPack, device: str = "cuda"):
        self.device = torch.device(device)
        self.name = "cuda" if self.device.type == "cuda" else "torch"
        self.tokenizer, self.dynamics = load_world_modules(pack, self.device)
        cfg = self.dynamics.cfg
        shape = (cfg.depth, 1, cfg.heads, cfg.window * cfg.tokens_per_frame, cfg.head_dim)
        super().__init__(cfg.window, cfg.tokens_per_frame, torch.zeros(shape, device=self.device),
                         torch.zeros(shape, device=self.device))

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    def put(self, a):
        return a if isinstance(a, torch.Tensor) else self._t(np.asarray(a, dtype=np.float32))

    def stack(self, arrays):
        return torch.stack([self.put(a) for a in arrays])

    @torch.inference_mode()
    def encode(self, frames_u8: np.ndarray) -> np.ndarray:
        return self.tokenizer.encode(self._t(frames_u8)).float().cpu().numpy()

    @torch.inference_mode()
    def frame_pass(self, z, z_prev, tau, action, ages):
        x0, self._new_k, self._new_v = self.dynamics.frame_pass(
            self.put(z)[None], self.put(z_prev)[None], self._t(tau)[None], self._t(action)[None],
            self.k, self.v, self._t(ages))
        return x0[0]

    @torch.inference_mode()
    def decode(self, z) -> np.ndarray:
        return self.tokenizer.decode(self.put(z)[None])[0].cpu().numpy()

    def snapshot(self):
        return self.k.clone(), self.v.clone()

    def restore(self, snap) -> None:
        self.k.copy_(snap[0])
        self.v.copy_(snap[1])
