"""Runtime backends: where the three networks run and where the ring buffer lives.

Each backend exposes the same four calls on host numpy inputs:
  encode(frames_u8 (T,H,W,3)) -> latents (T,C,h,w)
  frame_pass(z, z_prev (F,C,h,w), tau (F,), action (F,9), ages (F,W+F)) -> x0 (F,C,h,w),
      reading the ring buffer; the new keys/values stay inside the backend
  write_slot(slot, first_frame_of_last_pass) -> stores a frame's keys/values in the ring
  decode(z (C,h,w)) -> frame (H,W,3) uint8, the only per-frame copy to the host
and snapshot/restore of the ring. ONNX Runtime on CPU is the default everywhere;
PyTorch keeps the ring and every intermediate on the GPU.
"""
from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.pack import WorldPack

BACKEND_CHOICES = ("auto", "cpu", "cuda", "torch")


def cpu_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class OrtBackend:
    """ONNX Runtime. The ring buffer is a pair of numpy arrays handed to every pass."""

    def __init__(self, pack: WorldPack, provider: str = "CPUExecutionProvider"):
        import onnxruntime as ort
        self.name = "cpu" if provider == "CPUExecutionProvider" else "cuda-onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cpu_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Three sessions take turns on few cores: threads spinning after one session's
        # run would steal the cores from the next (measured: 40 -> 24 ms a frame on 2 cores).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._sessions = {role: _ort_session(ort, pack.verified_model(role), opts, provider)
                          for role in ("encoder", "dynamics", "decoder")}
        for role, inputs in ORT_INPUTS.items():
            _check_inputs(self._sessions[role], inputs, pack.model_path(role))
        d = pack.config["dynamics"]
        self.window, self.tokens = d["window"], (d["latent_h"] // d["patch"]) * (d["latent_w"] // d["patch"])
        head_dim = d["width"] // d["heads"]
        shape = (d["depth"], 1, d["heads"], self.window * self.tokens, head_dim)
        self.k = np.zeros(shape, np.float32)
        self.v = np.zeros(shape, np.float32)
        self._new_k = self._new_v = None

    @staticmethod
    def put(a):
        return np.asarray(a, dtype=np.float32)

    @staticmethod
    def stack(arrays):
        return np.stack(arrays)

    def encode(self, frames_u8: np.ndarray) -> np.ndarray:
        return self._sessions["encoder"].run(None, {"frames": frames_u8})[0]

    def frame_pass(self, z, z_prev, tau, action, ages) -> np.ndarray:
        feed = {"z": z[None], "z_prev": z_prev[None], "tau": tau[None], "action": action[None],
                "ctx_k": self.k, "ctx_v": self.v, "ages": ages}
        x0, self._new_k, self._new_v = self._sessions["dynamics"].run(None, feed)
        return x0[0]

    def write_slot(self, slot: int) -> None:
        """Store the first frame of the last pass in ring slot `slot`."""
        n = self.tokens
        self.k[:, :, :, slot * n:(slot + 1) * n] = self._new_k[:, :, :, :n]
        self.v[:, :, :, slot * n:(slot + 1) * n] = self._new_v[:, :, :, :n]

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self._sessions["decoder"].run(None, {"z": z[None]})[0][0]

    def snapshot(self):
        return self.k.copy(), self.v.copy()

    def restore(self, snap) -> None:
        np.copyto(self.k, snap[0])
        np.copyto(self.v, snap[1])


# What the runtime feeds each network: a pack exported by another version may differ.
ORT_INPUTS = {"encoder": {"frames"}, "dynamics": {"z", "z_prev", "tau", "action", "ctx_k", "ctx_v", "ages"},
              "decoder": {"z"}}


def _check_inputs(session, expected: set[str], path: Path) -> None:
    names = {i.name for i in session.get_inputs()}
    if names != expected:
        raise UserError(f"{path}: the model's inputs {sorted(names)} are not the {sorted(expected)} this "
                        "version runs (a pack exported by another version: export it again)")


def _ort_session(ort, path: Path, opts, provider: str):
    try:
        return ort.InferenceSession(str(path), opts, providers=[provider])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"{path}: cannot load model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


class TorchBackend:
    """PyTorch, on CUDA when present: ring buffer and intermediates stay on the device."""

    def __init__(self, pack: WorldPack, device: str = "cuda"):
        import torch

        from model.nets.checkpoint import load_world_modules
        self.torch = torch
        self.device = torch.device(device)
        self.name = "cuda" if self.device.type == "cuda" else "torch"
        self.tokenizer, self.dynamics = load_world_modules(pack, self.device)
        cfg = self.dynamics.cfg
        self.window, self.tokens = cfg.window, cfg.tokens_per_frame
        shape = (cfg.depth, 1, cfg.heads, self.window * self.tokens, cfg.head_dim)
        self.k = torch.zeros(shape, device=self.device)
        self.v = torch.zeros(shape, device=self.device)
        self._new_k = self._new_v = None
        self._z_out = None

    def _t(self, a: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    def put(self, a):
        return a if isinstance(a, self.torch.Tensor) else self._t(np.asarray(a, dtype=np.float32))

    def stack(self, arrays):
        return self.torch.stack([self.put(a) for a in arrays])

    def encode(self, frames_u8: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.tokenizer.encode(self._t(frames_u8)).float().cpu().numpy()

    def frame_pass(self, z, z_prev, tau, action, ages):
        with self.torch.inference_mode():
            x0, self._new_k, self._new_v = self.dynamics.frame_pass(
                self.put(z)[None], self.put(z_prev)[None], self._t(tau)[None], self._t(action)[None],
                self.k, self.v, self._t(ages))
            return x0[0]

    def write_slot(self, slot: int) -> None:
        n = self.tokens
        self.k[:, :, :, slot * n:(slot + 1) * n] = self._new_k[:, :, :, :n]
        self.v[:, :, :, slot * n:(slot + 1) * n] = self._new_v[:, :, :, :n]

    def decode(self, z) -> np.ndarray:
        with self.torch.inference_mode():
            zt = z if isinstance(z, self.torch.Tensor) else self._t(z)
            return self.tokenizer.decode(zt[None])[0].cpu().numpy()

    def snapshot(self):
        return self.k.clone(), self.v.clone()

    def restore(self, snap) -> None:
        self.k.copy_(snap[0])
        self.v.copy_(snap[1])


def open_backend(pack: WorldPack, choice: str = "auto"):
    """The backend asked for, or for 'auto' the fastest available; UserError if absent."""
    if choice not in BACKEND_CHOICES:
        raise UserError(f"unknown backend '{choice}' (choose from {', '.join(BACKEND_CHOICES)})")
    if choice == "cpu":
        return OrtBackend(pack)
    if choice == "torch":
        _require_torch(pack)
        return _torch_backend(pack, "cuda" if _torch_cuda() else "cpu")
    if choice == "cuda" or choice == "auto":
        if _torch_cuda():
            try:
                return _torch_backend(pack, "cuda")
            except UserError:
                if choice == "cuda":
                    raise                      # asked for by name: say why; 'auto' goes on to the CPU
        if _ort_cuda():
            return OrtBackend(pack, "CUDAExecutionProvider")
        if choice == "cuda":
            raise UserError("backend 'cuda' is not available: no CUDA GPU with PyTorch or onnxruntime-gpu")
    return OrtBackend(pack)


def _torch_backend(pack: WorldPack, device: str) -> "TorchBackend":
    """A CUDA driver or GPU that fails at start-up is bad setup, not a bug: one line, exit 2."""
    try:
        return TorchBackend(pack, device)
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"backend '{'cuda' if device == 'cuda' else 'torch'}' failed to start ({first})") from None


def _torch_cuda() -> bool:
    # Importing torch costs seconds and hundreds of MB: only ask it when a GPU can be there.
    if not _nvidia_driver_present() or find_spec("torch") is None:
        return False
    import torch
    return bool(torch.cuda.is_available())


def _nvidia_driver_present() -> bool:
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")
    if sys.platform == "win32":
        import ctypes.util
        return ctypes.util.find_library("nvcuda") is not None
    return False                                   # macOS: no CUDA


def _ort_cuda() -> bool:
    import onnxruntime as ort
    return "CUDAExecutionProvider" in ort.get_available_providers()


def _require_torch(pack: WorldPack) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError("backend 'torch' needs PyTorch: pip install -e '.[train]'") from None
    if "torch" not in pack.meta["models"]:
        raise UserError(f"{pack.root / 'world.json'}: no torch weights listed for backend 'torch'")
