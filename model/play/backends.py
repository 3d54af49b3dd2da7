"""Runtime backends: where the three networks run and where the ring buffer lives.

Each backend exposes the same four calls on host numpy inputs:
  encode(frames_u8 (T,H,W,3)) -> latents (T,C,h,w)
  frame_pass(z, z_prev (F,C,h,w), tau (F,), action (F,9), ages (F,W+F)) -> x0 (F,C,h,w),
      reading the ring buffer; the new keys/values stay inside the backend
  write_slot(slot) -> stores the first frame of the last pass's keys/values in ring slot `slot`
  decode(z (C,h,w)) -> frame (H,W,3) uint8, the only per-frame copy to the host
and snapshot/restore of the ring. ONNX Runtime on CPU is the default everywhere;
PyTorch (`model.nets.torch_backend`, imported only when asked for) keeps the ring and
every intermediate on the GPU.
"""
from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.pack import MODEL_ROLES, WorldPack

# What a session runs on (its `backend_name`, written into every session file). Each name is
# also the choice that opens exactly that backend again, so a recording replays on its own:
#   cpu        ONNX Runtime on the CPU (what ships)
#   cuda-onnx  ONNX Runtime's CUDA provider (onnxruntime-gpu)
#   cuda       PyTorch on a CUDA GPU
#   torch      PyTorch on the CPU (the reference the tests compare against)
BACKENDS = ("cpu", "cuda-onnx", "cuda", "torch")
BACKEND_CHOICES = ("auto", *BACKENDS)      # auto: the fastest available (cuda, cuda-onnx, cpu)
CUDA_PROVIDER = "CUDAExecutionProvider"


def cpu_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class RingBackend:
    """What both backends share: the ring of keys/values, (depth, 1, heads, W * tokens, head_dim)
    numpy or torch arrays, and the last pass's new keys/values, which `frame_pass` leaves in
    `_new_k`/`_new_v`."""

    def __init__(self, window: int, tokens: int, k, v):
        self.window, self.tokens = window, tokens
        self.k, self.v = k, v
        self._new_k = self._new_v = None

    def write_slot(self, slot: int) -> None:
        """Store the first frame of the last pass in ring slot `slot`."""
        n = self.tokens
        self.k[:, :, :, slot * n:(slot + 1) * n] = self._new_k[:, :, :, :n]
        self.v[:, :, :, slot * n:(slot + 1) * n] = self._new_v[:, :, :, :n]


class OrtBackend(RingBackend):
    """ONNX Runtime. The ring buffer is a pair of numpy arrays handed to every pass."""

    def __init__(self, pack: WorldPack, provider: str = "CPUExecutionProvider"):
        self.name = "cuda-onnx" if provider == CUDA_PROVIDER else "cpu"
        opts = session_options()
        self._sessions = {role: ort_session(pack.verified_model(role), opts, provider) for role in MODEL_ROLES}
        for role, inputs in ORT_INPUTS.items():
            _check_inputs(self._sessions[role], inputs, pack.model_path(role))
        d = pack.config["dynamics"]
        window, tokens = d["window"], (d["latent_h"] // d["patch"]) * (d["latent_w"] // d["patch"])
        shape = (d["depth"], 1, d["heads"], window * tokens, d["width"] // d["heads"])
        super().__init__(window, tokens, np.zeros(shape, np.float32), np.zeros(shape, np.float32))

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


def session_options():
    """ONNX Runtime options for the runtime's graphs on few cores."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cpu_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # Several sessions take turns on few cores: threads spinning after one session's
    # run would steal the cores from the next (measured: 40 -> 24 ms a frame on 2 cores).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def ort_session(path: Path, opts, provider: str):
    import onnxruntime as ort
    try:
        return ort.InferenceSession(str(path), opts, providers=[provider])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"{path}: cannot load model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def open_backend(pack: WorldPack, choice: str = "auto"):
    """The backend asked for, or for 'auto' the fastest available; UserError if absent."""
    if choice not in BACKEND_CHOICES:
        raise UserError(f"unknown backend '{choice}' (choose from {', '.join(BACKEND_CHOICES)})")
    if choice == "cpu":
        return _ort_backend(pack)
    if choice == "torch":
        _require_torch(pack)
        return _torch_backend(pack, "cpu")
    if choice == "cuda-onnx":
        if not _ort_cuda():
            raise UserError("backend 'cuda-onnx' is not available: no CUDA GPU with onnxruntime-gpu")
        return _ort_backend(pack, CUDA_PROVIDER)
    if _torch_cuda():                          # 'cuda' or 'auto': PyTorch on the GPU first
        try:
            return _torch_backend(pack, "cuda")
        except UserError:
            if choice == "cuda":
                raise                          # asked for by name: say why; 'auto' goes on
    if _ort_cuda():
        return _ort_backend(pack, CUDA_PROVIDER)
    if choice == "cuda":
        raise UserError("backend 'cuda' is not available: no CUDA GPU with PyTorch or onnxruntime-gpu")
    return _ort_backend(pack)


def _ort_backend(pack: WorldPack, provider: str = "CPUExecutionProvider"):
    """ONNX Runtime for the pack's design (latent dynamics, or the geometry-aware world)."""
    if pack.design == "geometry":
        from model.play.geo_session import OrtGeoBackend
        return OrtGeoBackend(pack, provider)
    return OrtBackend(pack, provider)


def _torch_backend(pack: WorldPack, device: str):
    """A CUDA driver or GPU that fails at start-up is bad setup, not a bug: one line, exit 2."""
    # Imported here so that torch loads only when a torch backend is asked for.
    if pack.design == "geometry":
        from model.nets.geo_backend import TorchGeoBackend as TorchBackend
    else:
        from model.nets.torch_backend import TorchBackend
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
    return CUDA_PROVIDER in ort.get_available_providers()


def _require_torch(pack: WorldPack) -> None:
    if find_spec("torch") is None:
        raise UserError("backend 'torch' needs PyTorch: pip install -e '.[train]'")
    if "torch" not in pack.meta["models"]:
        raise UserError(f"{pack.root / 'world.json'}: no torch weights listed for backend 'torch'")
