"""The PyTorch backend of the geometry-aware world: 'cuda' on a GPU, 'torch' on the CPU.

Loaded by `model.play.backends` only when a torch backend is asked for. Inputs and outputs
are numpy, as with ONNX Runtime; on a GPU the networks and their intermediates stay there.
"""
from __future__ import annotations

import numpy as np
import torch

from model.nets.checkpoint import read_tensors
from model.nets.geonets import GeoConfig, GeoWorld, make_prior, recall
from model.play.errors import UserError
from model.play.pack import WorldPack

LIGHT_KEYS = {"light.falloff", "light.response"}


class TorchGeoBackend:
    recall_channels = 5          # colour, trust, seen depth: the light is always there (zero: no change)

    def __init__(self, pack: WorldPack, device: str = "cuda"):
        self.device = torch.device(device)
        self.name = "cuda" if self.device.type == "cuda" else "torch"
        path = pack.verified_model("torch")
        tensors, meta = read_tensors(path)
        self.world = GeoWorld(GeoConfig.from_dict(meta["geometry"]))
        try:
            missing, unexpected = self.world.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
        except (KeyError, RuntimeError) as exc:
            raise UserError(f"{path}: weights do not match their config ({exc})") from None
        if unexpected or set(missing) - LIGHT_KEYS:     # a pack from before the light keeps none (no change)
            raise UserError(f"{path}: weights do not match their config (missing {sorted(set(missing) - LIGHT_KEYS)}, "
                            f"unexpected {sorted(unexpected)})")
        self.world.eval().to(self.device)
        from model.play.backends import ort_session, session_options
        from model.play.geo_session import shows
        # as the pack's recall graph: the view read between pixels only if it gives one
        self.shows = shows(ort_session(pack.verified_model("recall"), session_options(), "CPUExecutionProvider"))

    def _t(self, a) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

    @torch.inference_mode()
    def observe(self, frame, actions, motions):
        frame = self._t(frame)
        depth, weapon_logit = self.world.depth(frame)
        motion = self.world.motion(self._t(actions), self._t(motions), depth)
        out = (*make_prior(frame, depth, weapon_logit, motion), motion, depth)
        return [o.cpu().numpy() for o in out]

    @torch.inference_mode()
    def recall(self, frame, depth, motion):
        out = recall(self._t(frame), self._t(depth), self._t(motion), self.world.light, smooth=self.shows)
        return [o.cpu().numpy() for o in out]

    @torch.inference_mode()
    def paint(self, **inputs) -> np.ndarray:
        t = {k: self._t(v) for k, v in inputs.items()}
        return self.world.painter(t["x_tau"], t["tau"], t["prior"], t["valid"], t["prev"], t["weapon"],
                                  t["action"], t["ctx_noise"], t["memory"], t["memory_valid"]).cpu().numpy()
