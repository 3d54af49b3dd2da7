"""The world session: the only API the player and the command line use.

    world = open_world("freedoom")               # a WorldModel
    session = world.session(backend="auto", steps=2)
    frame = session.reset(seed, rng_seed=7)       # (H, W, 3) uint8
    frame = session.step(action)                 # one 40 ms frame

Context lives in a ring buffer of the last W frames' keys/values. Frame numbers are
Python ints (they never overflow); the model only ever sees ages 0..W, so a session of
any length costs the same per frame. The newest frame's keys/values are written once,
by a pass fused with the next frame's first denoising pass ([clean t | noisy t+1]).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from model.play.backends import open_backend
from model.play.errors import UserError
from model.play.pack import WorldPack, find_pack
from model.play.sampler import SamplerSettings
from model.play.seeds import SceneSeed, load_seed
from model.play.world import ACTION_DIM, MASKED_AGE, N_BUTTONS


@dataclass
class StepTimings:
    dynamics_ms: float = 0.0
    decode_ms: float = 0.0
    other_ms: float = 0.0
    passes: int = 0
    pass_ms: list[float] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.dynamics_ms + self.decode_ms + self.other_ms


@dataclass(frozen=True)
class Snapshot:
    frame_index: int
    slot_frames: tuple[int, ...]
    pending: tuple
    rng_state: dict
    ring: object
    frame: np.ndarray


class WorldModel:
    """A loaded world pack: its seeds and its default sampler settings."""

    def __init__(self, pack: WorldPack):
        self.pack = pack
        self.sampler = SamplerSettings(**SamplerSettings.known(pack.sampler))

    @property
    def id(self) -> str:
        return self.pack.id

    def seed_names(self) -> list[str]:
        return [p.stem for p in self.pack.seed_paths()]

    def load_seed(self, name_or_path: str | None) -> SceneSeed:
        """A seed by name (from the pack) or path; None picks the pack's first."""
        paths = {p.stem: p for p in self.pack.seed_paths()}
        if name_or_path is None:
            if not paths:
                raise UserError(f"{self.pack.root}: world has no scene seeds")
            return load_seed(next(iter(paths.values())), self.pack.frame_hw)
        if name_or_path in paths:
            return load_seed(paths[name_or_path], self.pack.frame_hw)
        if name_or_path.endswith((".npz", ".png", ".jpg", ".jpeg")):
            return load_seed(name_or_path, self.pack.frame_hw)
        raise UserError(f"unknown scene seed '{name_or_path}' (see `python main.py seeds`)")

    def session(self, backend: str = "auto", **sampler):
        """A new session (a `WorldSession`, or a `GeoSession` for a geometry pack)."""
        settings = replace(self.sampler, **sampler).checked()
        if self.pack.design == "geometry":
            from model.play.geo_session import GeoSession
            return GeoSession(self.pack, open_backend(self.pack, backend), settings)
        return WorldSession(self.pack, open_backend(self.pack, backend), settings)


def open_world(world: str | None = None) -> WorldModel:
    return WorldModel(find_pack(world))


class SessionControls:
    """What every world session shares: its backend's name, the live steps setting, the
    newest frame. A session sets `backend`, `settings` and `_frame`."""

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def steps(self) -> int:
        return self.settings.steps

    @steps.setter
    def steps(self, value: int) -> None:
        self.settings = replace(self.settings, steps=int(value)).checked()

    @property
    def frame(self) -> np.ndarray:
        return self._frame


class WorldSession(SessionControls):
    def __init__(self, pack: WorldPack, backend, settings: SamplerSettings):
        self.pack = pack
        self.backend = backend
        self.settings = settings
        self.window = backend.window
        self.timings = StepTimings()
        self.frame_index = -1
        self.last_steps_used = settings.steps
        self._slot_frames = [MASKED_AGE] * self.window   # frame number held by each slot
        self._pending = None        # newest frame: (latent, action into it, previous context latent)
        self._rng = np.random.Generator(np.random.PCG64(0))
        self._frame = None

    # -- lifecycle ----------------------------------------------------------------------
    def reset(self, seed: SceneSeed, rng_seed: int = 0) -> np.ndarray:
        """Start from a scene seed: encode its frames and write all but the last to the cache."""
        self._rng = np.random.Generator(np.random.PCG64(int(rng_seed)))
        self._slot_frames = [MASKED_AGE] * self.window
        latents = self.backend.encode(np.ascontiguousarray(seed.frames))
        actions = [None] + (list(seed.actions) if seed.actions is not None else [None] * (len(latents) - 1))
        prev = self.backend.put(np.zeros_like(latents[0]))
        for i in range(len(latents) - 1):
            z = self._context_latent(self.backend.put(latents[i]))
            self.backend.frame_pass(self.backend.stack([z]), self.backend.stack([prev]),
                                    np.array([self.settings.ctx_noise], np.float32),
                                    _action_vec(actions[i])[None], self._ages(i, in_call=[[0]]))
            self._write(i)
            prev = z
        self.frame_index = len(latents) - 1
        self._pending = (self.backend.put(latents[-1]), _action_vec(actions[-1]), prev)
        self._frame = seed.frames[-1].copy()
        return self._frame

    def step(self, action: np.ndarray) -> np.ndarray:
        """Advance one frame under `action` (8 buttons, 0/1) and return the new frame."""
        if self._pending is None:
            raise RuntimeError("reset() the session before step()")
        t0 = time.perf_counter()
        action_vec = _action_vec(np.asarray(action, dtype=np.uint8))
        z_new, ctx_latent, pass_ms = self._denoise(action_vec)
        t1 = time.perf_counter()
        frame = self.backend.decode(z_new)
        t2 = time.perf_counter()
        self.frame_index += 1
        self._pending = (z_new, action_vec, ctx_latent)
        self._frame = frame if isinstance(frame, np.ndarray) else np.asarray(frame)
        t3 = time.perf_counter()
        dyn = sum(pass_ms)
        self.timings = StepTimings(dynamics_ms=dyn, decode_ms=(t2 - t1) * 1e3,
                                   other_ms=((t1 - t0) + (t3 - t2)) * 1e3 - dyn,
                                   passes=len(pass_ms), pass_ms=pass_ms)
        return self._frame

    def _denoise(self, action_vec: np.ndarray):
        """Euler steps of the flow from noise (tau=1) to frame t+1 (tau=0).

        Returns frame t+1's latent, frame t's context latent (its "previous frame"
        input) and the milliseconds of each pass."""
        t = self.frame_index
        steps = self.settings.steps
        taus = np.linspace(1.0, 0.0, steps + 1, dtype=np.float32)
        z_t, a_t, prev_t = self._pending
        noise = self.backend.put(self._rng.standard_normal(tuple(z_t.shape), dtype=np.float32))
        ctx_t = self._context_latent(z_t)
        pass_ms = []
        # Pass 1, fused: write frame t to the cache and take frame t+1's first step.
        tic = time.perf_counter()
        x0 = self.backend.frame_pass(
            self.backend.stack([ctx_t, noise]), self.backend.stack([prev_t, ctx_t]),
            np.array([self.settings.ctx_noise, 1.0], np.float32), np.stack([a_t, action_vec]),
            self._ages(t, in_call=[[0, MASKED_AGE], [1, 0]]))[1]
        self._write(t)
        pass_ms.append((time.perf_counter() - tic) * 1e3)
        z, last = noise, ctx_t
        for k in range(1, steps):
            # DISK-style skip: stop once the prediction has settled (static view).
            if self.settings.adaptive and relative_change(x0, last) < self.settings.adaptive_threshold:
                break
            z, last = self._euler(z, x0, taus[k - 1], taus[k]), x0
            tic = time.perf_counter()
            x0 = self.backend.frame_pass(self.backend.stack([z]), self.backend.stack([ctx_t]),
                                         np.array([taus[k]], np.float32), action_vec[None],
                                         self._ages(t + 1, in_call=[[0]]))[0]
            pass_ms.append((time.perf_counter() - tic) * 1e3)
        self.last_steps_used = len(pass_ms)
        return x0, ctx_t, pass_ms

    @staticmethod
    def _euler(z, x0, tau, tau_next):
        """One Euler step of the straight path z_tau = (1 - tau) x0 + tau noise."""
        return x0 + (tau_next / tau) * (z - x0)

    # -- ring buffer --------------------------------------------------------------------
    def _ages(self, query_frame: int, in_call: list[list[int]]) -> np.ndarray:
        """Ages (F, W + F) of every ring slot, then of the call's own frames, per query frame."""
        rows = []
        for f, own in enumerate(in_call):
            q = query_frame + f
            ring = [q - s if s != MASKED_AGE else MASKED_AGE for s in self._slot_frames]
            rows.append(ring + own)
        ages = np.array(rows, dtype=np.int64)
        ages[ages > self.window] = MASKED_AGE
        return ages

    def _write(self, frame_number: int) -> None:
        slot = frame_number % self.window
        self.backend.write_slot(slot)
        self._slot_frames[slot] = frame_number

    def _context_latent(self, z) -> np.ndarray:
        sigma = self.settings.ctx_noise
        if sigma <= 0.0:
            return z
        noise = self.backend.put(self._rng.standard_normal(tuple(z.shape), dtype=np.float32))
        return (1.0 - sigma) * z + sigma * noise

    # -- rewind -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return Snapshot(self.frame_index, tuple(self._slot_frames), self._pending,
                        self._rng.bit_generator.state, self.backend.snapshot(), self._frame)

    def restore(self, snap: Snapshot) -> np.ndarray:
        self.frame_index = snap.frame_index
        self._slot_frames = list(snap.slot_frames)
        self._pending = snap.pending
        self._rng.bit_generator.state = snap.rng_state
        self.backend.restore(snap.ring)
        self._frame = snap.frame
        return self._frame


def _action_vec(action: np.ndarray | None) -> np.ndarray:
    """8 buttons -> the model's 9-vector; None (the seed's first frame) -> the null flag."""
    vec = np.zeros(ACTION_DIM, np.float32)
    if action is None:
        vec[N_BUTTONS] = 1.0
    else:
        vec[:N_BUTTONS] = action
    return vec


def relative_change(a, b) -> float:
    return float(abs(a - b).mean() / (abs(b).mean() + 1e-6))
