"""The geometry-aware world at play time: one session step per 40 ms frame.

    prior, valid, weapon, motion, depth = observe(frame_t, actions, motions)  # depth, motion, warp
    memory, memory_valid = recall(keyframe, its depth, motion keyframe -> new camera)
    x0 = paint(x_tau, tau, prior, valid, frame_t, weapon, action, ctx, memory, memory_valid)

The context is fixed-size: the newest frame, rings of the last K actions and camera
motions (the motion net's inputs), the camera's pose (the sum of its predicted motions)
and the keyframe memory (model.play.memory). Every frame is quantized to uint8 before it becomes
the next context, exactly as the player shows it and as the training frames were, so a
replay from the same inputs rebuilds the same frames bit for bit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from model.play.errors import UserError
from model.play.memory import KeyframeMemory, MemorySnapshot, advance_pose
from model.play.pack import WorldPack
from model.play.runtime import SessionControls, relative_change
from model.play.sampler import SamplerSettings
from model.play.seeds import SceneSeed
from model.play.world import N_BUTTONS

GEO_MODELS = ("observe", "recall", "painter")   # the ONNX files a geometry pack needs
MEMORY_KEYFRAMES = 64                          # 64 x 86 KB: 5.5 MB of keyframes at most


@dataclass
class GeoTimings:
    dynamics_ms: float = 0.0         # the painter's Euler steps
    geometry_ms: float = 0.0         # depth, camera motion and the warp
    other_ms: float = 0.0
    decode_ms: float = 0.0           # no decoder: frames are made in pixel space
    passes: int = 0
    pass_ms: list[float] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.dynamics_ms + self.geometry_ms + self.other_ms


@dataclass(frozen=True)
class GeoSnapshot:
    frame_index: int
    frame: np.ndarray
    actions: np.ndarray
    motions: np.ndarray
    rng_state: dict
    pose: np.ndarray
    memory: MemorySnapshot


def to_float(frame_u8: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    return (frame_u8.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)


def to_u8(x: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return np.clip(np.rint((x[0].transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


class OrtGeoBackend:
    """ONNX Runtime sessions for the two graphs."""

    def __init__(self, pack: WorldPack, provider: str = "CPUExecutionProvider"):
        from model.play.backends import ort_session, session_options    # backends imports this module
        self.name = "cpu" if provider == "CPUExecutionProvider" else "cuda-onnx"
        opts = session_options()
        self._sessions = {role: ort_session(pack.verified_model(role), opts, provider) for role in GEO_MODELS}

    def observe(self, frame, actions, motions):
        return self._sessions["observe"].run(None, {"frame": frame, "actions": actions, "motions": motions})

    def paint(self, **inputs) -> np.ndarray:
        return self._sessions["painter"].run(None, inputs)[0]

    def recall(self, frame, depth, motion):
        return self._sessions["recall"].run(None, {"frame": frame, "depth": depth, "motion": motion})


class GeoSession(SessionControls):
    """reset / step / snapshot / restore, as `runtime.WorldSession`."""

    def __init__(self, pack: WorldPack, backend, settings: SamplerSettings):
        self.pack, self.backend, self.settings = pack, backend, settings
        self.history = int(pack.config["geometry"]["history"])
        self.timings = GeoTimings()
        self.frame_index = -1
        self.last_steps_used = settings.steps
        self._rng = np.random.Generator(np.random.PCG64(0))
        self._frame = None
        self._actions = np.zeros((self.history, N_BUTTONS), np.float32)   # applied before now, oldest first
        self._motions = np.zeros((self.history, 4), np.float32)
        self._pose = np.zeros(4)                   # x, y, eye z, yaw: the session's own coordinates
        self.memory = KeyframeMemory(MEMORY_KEYFRAMES, pack.frame_hw)
        self.memory_share = 0.0                    # of the last frame: pixels only the memory covered

    @property
    def pose(self) -> np.ndarray:
        """The camera (x, y, eye z, yaw degrees) in the session's own coordinates: the sum of
        the model's predicted motions since reset (nothing comes from an engine)."""
        return self._pose.copy()

    def reset(self, seed: SceneSeed, rng_seed: int = 0) -> np.ndarray:
        """Start from the seed's last frame; its actions, if any, fill the action history.
        The camera is taken to be at rest: the seed says nothing of its motion."""
        self._rng = np.random.Generator(np.random.PCG64(int(rng_seed)))
        self._actions = np.zeros((self.history, N_BUTTONS), np.float32)
        if seed.actions is not None and len(seed.actions):
            last = np.asarray(seed.actions[-(self.history - 1):], np.float32)
            self._actions[-len(last) - 1:-1] = last
        self._motions = np.zeros((self.history, 4), np.float32)
        self._pose = np.zeros(4)
        self.memory.clear()
        self.memory_share = 0.0
        self.frame_index = len(seed.frames) - 1
        self._frame = np.ascontiguousarray(seed.frames[-1]).copy()
        return self._frame

    def step(self, action: np.ndarray) -> np.ndarray:
        if self._frame is None:
            raise RuntimeError("reset() the session before step()")
        t0 = time.perf_counter()
        a = np.asarray(action, np.float32).reshape(N_BUTTONS)
        actions = np.concatenate([self._actions[1:], a[None]])          # K actions, the current last
        prev = to_float(self._frame)
        prior, valid, weapon, motion, depth = self.backend.observe(prev, actions[None], self._motions[None])
        motion = np.asarray(motion, np.float32).reshape(4)
        pose = advance_pose(self._pose, motion)
        memory, memory_valid = self._recall(depth, pose, valid)
        t1 = time.perf_counter()
        x0, pass_ms = self._paint(prior, valid, prev, weapon, a, memory, memory_valid)
        t2 = time.perf_counter()
        self._frame = to_u8(np.asarray(x0))
        self._actions, self._pose = actions, pose
        self._motions = np.concatenate([self._motions[1:], motion[None]])
        self.frame_index += 1
        self.timings = GeoTimings(dynamics_ms=(t2 - t1) * 1e3, geometry_ms=(t1 - t0) * 1e3,
                                  other_ms=(time.perf_counter() - t2) * 1e3, passes=len(pass_ms), pass_ms=pass_ms)
        return self._frame

    def _recall(self, depth, pose: np.ndarray, valid):
        """Keep the current frame if it shows something new; recall what saw the next view."""
        shape = (1, 1) + tuple(self.pack.frame_hw)
        if not self.settings.memory:
            self.memory_share = 0.0
            return np.zeros((1, 3) + shape[2:], np.float32), np.zeros(shape, np.float32)
        self.memory.consider(self._frame, np.asarray(depth)[0], self._pose, self.frame_index)
        found = self.memory.recall(pose, self.frame_index + 1)
        if found is None:
            self.memory_share = 0.0
            return np.zeros((1, 3) + shape[2:], np.float32), np.zeros(shape, np.float32)
        frame, depth_k, motion = found
        memory, memory_valid = self.backend.recall(to_float(frame), depth_k[None], motion[None])
        self.memory_share = float(((np.asarray(memory_valid) > 0.5) & (np.asarray(valid) < 0.5)).mean())
        return np.asarray(memory, np.float32), np.asarray(memory_valid, np.float32)

    def _paint(self, prior, valid, prev, weapon, action, memory, memory_valid):
        """Euler steps of the straight path x_tau = (1 - tau) x0 + tau noise, tau 1 -> 0.
        Returns the clean frame and the milliseconds of each pass."""
        taus = np.linspace(1.0, 0.0, self.settings.steps + 1, dtype=np.float32)
        x = self._rng.standard_normal(prev.shape, dtype=np.float32)
        fixed = {"prior": prior, "valid": valid, "prev": prev, "weapon": weapon, "action": action[None],
                 "ctx_noise": np.array([self.settings.ctx_noise], np.float32), "memory": memory,
                 "memory_valid": memory_valid}
        last, pass_ms = None, []
        for k in range(self.settings.steps):
            tic = time.perf_counter()
            x0 = np.asarray(self.backend.paint(x_tau=x, tau=taus[k:k + 1], **fixed))
            pass_ms.append((time.perf_counter() - tic) * 1e3)
            # DISK-style skip: stop once the prediction has settled.
            if self.settings.adaptive and last is not None and relative_change(x0, last) < self.settings.adaptive_threshold:
                break
            x, last = x0 + (taus[k + 1] / taus[k]) * (x - x0), x0
        self.last_steps_used = len(pass_ms)
        return x0, pass_ms

    def snapshot(self) -> GeoSnapshot:
        return GeoSnapshot(self.frame_index, self._frame, self._actions.copy(), self._motions.copy(),
                           self._rng.bit_generator.state, self._pose.copy(), self.memory.snapshot())

    def restore(self, snap: GeoSnapshot) -> np.ndarray:
        if not isinstance(snap, GeoSnapshot):
            raise UserError("snapshot is not of a geometry world session")
        self.frame_index, self._frame = snap.frame_index, snap.frame
        self._actions, self._motions = snap.actions.copy(), snap.motions.copy()
        self._rng.bit_generator.state = snap.rng_state
        self._pose = snap.pose.copy()
        self.memory.restore(snap.memory)
        return self._frame

