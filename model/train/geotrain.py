"""Training the geometry-aware world: depth, then camera motion, then the painter (the light
between them is fitted to the engine's frames, not trained: model.train.light_fit).

    python main.py train --design geometry --data data/geo200k --out runs/geo \
        --depth-minutes 20 --motion-minutes 5 --painter-minutes 60

Each stage is a loss module (`forward(rng) -> loss`, minRF's pattern) trained under bf16
autocast on CPU (fp32 master weights and losses), checkpointed atomically every two
minutes, resumable. Batches are drawn by a generator seeded by (seed, step).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model.nets.geometry import CAMERA
from model.nets.geonets import (GEO_PRESETS, DepthNet, GeoConfig, Light, MotionNet, Painter, depth_features,
                                make_prior, recall)
from model.nets.tokenizer import frames_to_float
from model.play.atlas import ATLAS_FILE
from model.play.worldmap import MAP_FILE
from model.play.geo_session import SHADE_RADIUS, SHADE_SEEN
from model.play.progress import Progress
from model.play.memory import MIN_AGE, pick_view, relative_motion
from model.train.atlas_build import FRAMES as ATLAS_VIEWS, atlas_from
from model.train.map_build import VIEWS as MAP_VIEWS, build_map
from model.train.geodata import GeoData, load_geo_cached, save_npy_whole
from model.train.light_fit import PAIRS as LIGHT_PAIRS, STAGE as LIGHT_STAGE, fit_light, save_light
from model.train.runs import load_stage, stage_config, stage_meta
from model.train.trainer import HOLDOUT_MAPS, Stage, train_stage, use_bf16

MOTION_BETA = 1e-3            # smooth L1's quadratic zone, in MOTION_SCALE units (0.016 units a tic): about L1
# The net's own tics before a batch's own-history frames. Its closed loop settles on a walking
# speed where its residual is 0, and friction pulls back by only 0.09 of an error a tic, so a
# residual off by 0.03 walks 0.3 units a tic off the engine (measured: walking backward 4%
# slow, 23 units short over the revisit test's walk back). 32 own tics did not cure it: 9
# more minutes from the same net gave a worse look-back (11.4 against 18.2 dB, 6 starts) and
# more drift (26 against 24 units after 100 tics).
OWN_STEPS = 8
CTX_NOISE_MAX = 0.3           # context noise on the previous frame, in [-1, 1] units (level is an input)
MEMORY_SPAN, MEMORY_STRIDE = 300, 4   # candidate keyframes: every 4th frame of the last 12 s


def history_index(data: GeoData, t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k frames up to t (oldest first) and whether each is in t's episode."""
    idx = t[:, None] + np.arange(-k + 1, 1)[None]
    clipped = np.clip(idx, 0, len(data) - 1)
    same = (idx >= 0) & (data.base.episode[clipped] == data.base.episode[t][:, None])
    return clipped, same


def motion_inputs(data: GeoData, t: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k actions up to and including t's, and the k motions before t (zeros before the episode)."""
    idx, same = history_index(data, t, k)
    actions = data.base.actions[idx] * same[..., None]
    prev_idx, prev_same = history_index(data, t - 1, k)
    prev_same &= (t - 1 >= 0)[:, None] & (data.base.episode[np.maximum(t - 1, 0)] == data.base.episode[t])[:, None]
    motions = data.motion[prev_idx] * prev_same[..., None]
    return torch.from_numpy(actions).float(), torch.from_numpy(motions).float()


def depth_map(levels_u8: np.ndarray) -> torch.Tensor:
    """Stored levels (0 on the weapon) -> map units, the weapon at one level."""
    return torch.from_numpy(np.maximum(levels_u8, 1)).float() * CAMERA.depth_unit


class DepthLoss(nn.Module):
    """L1 on log depth off the weapon (the buffer's far clip is the net's top), BCE on the weapon."""

    def __init__(self, net: DepthNet, data: GeoData, batch: int):
        super().__init__()
        self.net, self.data, self.batch = net, data, batch

    def forward(self, rng: np.random.Generator) -> torch.Tensor:
        t = rng.integers(0, len(self.data), self.batch)
        frames = frames_to_float(torch.from_numpy(self.data.base.frames[t]))
        levels = torch.from_numpy(self.data.depth[t]).float()
        depth, weapon_logit = self.net(frames)
        weapon = (levels == 0).float()
        target = levels.clamp(1, CAMERA.far_level) * CAMERA.depth_unit
        l1 = ((torch.log(depth.float()) - torch.log(target)).abs() * (1 - weapon)).mean()
        return l1 + F.binary_cross_entropy_with_logits(weapon_logit.float(), weapon)


class MotionLoss(nn.Module):
    """Smooth L1 on the next tic's motion in MOTION_SCALE units, on frames with a next frame.

    At play the net's past motions are its own predictions, and a small bias fed back through
    them never dies out (measured: with no key held, the first run walked on at 2.5 units a
    tic and rose 24 units in 60 tics, where the engine stops within 50). So half of each batch
    sees a history the net made itself: from the engine's motions OWN_STEPS tics back, that
    many steps of its own, without gradients (DIAMOND's rollouts, for the camera)."""

    def __init__(self, net: MotionNet, data: GeoData, batch: int, own_history: float = 0.5,
                 depth: DepthNet | None = None, cache: Path | None = None):
        super().__init__()
        self.net, self.data, self.batch, self.own_history = net, data, batch, own_history
        span = net.cfg.history + OWN_STEPS
        ep = data.base.episode
        ok = np.zeros(len(data), bool)
        ok[span:] = ep[span:] == ep[:-span]               # t - K - own_steps .. t in one episode
        self.ok = np.flatnonzero(data.has_next)
        self.deep = np.flatnonzero(data.has_next & ok)
        # No key held: 7% of the explorer's frames, and where a player stands most. A quarter
        # of each batch comes from them, so that coming to rest is learned as well as moving.
        idle = data.base.actions.sum(axis=1) == 0
        self.idle = {False: np.flatnonzero(data.has_next & idle), True: np.flatnonzero(data.has_next & ok & idle)}
        net.set_yaw_steps(data.motion[self.ok, 0])
        self.walk = fit_walk(net, data, self.ok)
        # The depth ahead, pooled once: made per batch it was most of a step's time (measured: 3 steps/s).
        self.features = motion_features(data, depth, cache=cache)

    def forward(self, rng: np.random.Generator) -> torch.Tensor:
        own = len(self.deep) > 0 and rng.random() < self.own_history
        pool, idle = (self.deep if own else self.ok), self.idle[own]
        t = pool[rng.integers(0, len(pool), self.batch)]
        if len(idle):
            quarter = self.batch // 4
            t[:quarter] = idle[rng.integers(0, len(idle), quarter)]
        actions, motions = motion_inputs(self.data, t, self.net.cfg.history)
        if own:
            motions = self._own_history(t)
        pred, rest_logit, yaw_logit = self.net.from_features(actions, motions, self.features[t], raw=True)
        target = torch.from_numpy(self.data.motion[t])
        rest = F.binary_cross_entropy_with_logits(rest_logit.float(), (target[:, 1:] == 0).float())
        turn = F.cross_entropy(yaw_logit.float(), self.net.yaw_class(target[:, 0]))
        # About L1: the default beta of 1 is quadratic at these small errors, so a bias of 0.3
        # units a tic cost next to nothing (measured: the camera crept on at rest). L1's answer
        # is the median, and at rest the engine's motion is exactly 0.
        scale = self.net.scale[1:]
        move = F.smooth_l1_loss(pred[:, 1:].float() / scale, target[:, 1:] / scale, beta=MOTION_BETA)
        return move + 0.1 * rest + 0.1 * turn

    @torch.no_grad()
    def _own_history(self, t: np.ndarray) -> torch.Tensor:
        """The K motions before t as the net predicts them, one tic at a time from t - OWN_STEPS."""
        k, n = self.net.cfg.history, OWN_STEPS
        _, history = motion_inputs(self.data, t - n, k)
        for j in range(n):
            s = t - n + j
            actions, _ = motion_inputs(self.data, s, k)
            step = self.net.from_features(actions, history, self.features[s]).float()
            history = torch.cat([history[:, 1:], step[:, None]], dim=1)
        return history


@torch.no_grad()
def motion_features(data: GeoData, depth: DepthNet | None = None, chunk: int = 256,
                    cache: Path | None = None) -> torch.Tensor:
    """`depth_features` of every frame: from the depth net's prediction when one is given, which
    is the depth the motion net sees at play, else from the engine's depth buffer. Trained on
    the buffer, the net stopped a backward slide dead where a predicted depth said "wall"
    (measured on revisit2: 0.5% of tics sliding at 2-5 units a tic wrongly stopped with the
    buffer, 3.4% with the depth net's depth; over a 40-tic slide that is a stop more often than
    not). bf16 where the CPU has it (the features are a 6x8 pool of log depth: 2.9 against 6.5
    ms a frame)."""
    if depth is None:
        return torch.cat([depth_features(depth_map(data.depth[i:i + 4096])) for i in range(0, len(data), 4096)])
    depth = depth.eval()
    key = hashlib.sha256(b"".join(v.detach().float().numpy().tobytes() for v in depth.state_dict().values()))
    key.update(str(len(data)).encode())
    key.update(np.ascontiguousarray(data.base.frames[::max(1, len(data) // 64)]).tobytes())   # which frames
    if cache is not None and (cache / "motion_features.json").is_file():
        if json.loads((cache / "motion_features.json").read_text()).get("key") == key.hexdigest():
            return torch.from_numpy(np.load(cache / "motion_features.npy", allow_pickle=False))
    bf16 = use_bf16(torch.device("cpu"), "auto")
    parts, progress = [], Progress(len(data), "depth features")
    for i in range(0, len(data), chunk):
        frames = frames_to_float(torch.from_numpy(np.array(data.base.frames[i:i + chunk])))   # a copy: mmap is read-only
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            predicted, _ = depth(frames)
        parts.append(depth_features(predicted.float()))
        progress(i + len(frames))
    progress.close()
    features = torch.cat(parts)
    if cache is not None:             # 10 minutes of two cores for 200,000 frames: kept for the run's next stage
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "motion_features.json").unlink(missing_ok=True)
        save_npy_whole(cache / "motion_features.npy", features.numpy())
        (cache / "motion_features.json").write_text(json.dumps({"key": key.hexdigest()}))
    return features


def fit_walk(net: MotionNet, data: GeoData, ok: np.ndarray, most: int = 200_000) -> dict:
    """The motion net's walking physics (MotionNet.set_walk) from tics with a tic before them in
    their episode and some motion after (a dead stop is the rest head's)."""
    t = ok[ok > 0]
    t = t[(data.base.episode[t - 1] == data.base.episode[t]) & np.any(data.motion[t, 1:] != 0, axis=1)]
    t = np.random.default_rng(0).choice(t, min(most, len(t)), replace=False)
    with torch.no_grad():
        report = net.set_walk(data.base.actions[t].astype(np.float64), data.motion[t - 1, 1:].astype(np.float64),
                              data.motion[t, 1:].astype(np.float64))
    print(f"walk: friction {report['friction']}, rms {report['rms_units']} units a tic", flush=True)
    return report


class PainterLoss(nn.Module):
    """Rectified flow in pixel space around the warped prior (x0-prediction, MSE).

    The prior is built as in play: depth and motion from the frozen nets, on the previous
    frame. Against drift: the previous frame gets context noise, whose level the painter is
    told (GameNGen); the flow's noise gets a per-channel offset (offset noise, against colour
    drift); and with `rollout`, a batch may start a few frames earlier and reach frame t
    through the model's own steps, without gradients through them (DIAMOND-style), so that
    the painter learns to mend its own output rather than only real frames."""

    def __init__(self, painter: Painter, depth: DepthNet, motion: MotionNet, data: GeoData, batch: int,
                 ctx_noise: float = CTX_NOISE_MAX, offset_noise: float = 0.1, rollout: int = 0,
                 light: Light | None = None):
        super().__init__()
        self.painter, self.data, self.batch, self.light = painter, data, batch, light
        self.ctx_noise, self.offset_noise, self.rollout = ctx_noise, offset_noise, rollout
        self.frozen = (depth.eval().requires_grad_(False), motion.eval().requires_grad_(False))
        self._starts: dict[int, np.ndarray] = {}

    def starts(self, n: int) -> np.ndarray:
        """Frames t with t .. t+n+1 in one episode."""
        if n not in self._starts:
            ep = self.data.base.episode
            self._starts[n] = np.flatnonzero(ep[:len(ep) - n - 1] == ep[n + 1:])
        return self._starts[n]

    def forward(self, rng: np.random.Generator) -> torch.Tensor:
        n = int(rng.integers(1, self.rollout + 1)) if self.rollout and rng.random() < 0.5 else 0
        ok = self.starts(n)
        t = ok[rng.integers(0, len(ok), self.batch)]
        prev = frames_to_float(torch.from_numpy(self.data.base.frames[t]))
        carry = Carry.start(prev, self.frozen[0], self.light)
        for j in range(n):
            prev = self._generate(prev, t + j, carry)
        t = t + n
        target = frames_to_float(torch.from_numpy(self.data.base.frames[t + 1]))
        ctx = torch.from_numpy(rng.uniform(0, self.ctx_noise, self.batch) * (rng.random(self.batch) < 0.7)).float()
        prev = prev + ctx[:, None, None, None] * torch.randn_like(prev)
        prior, valid, weapon, _ = self._prior(prev, t, carry)
        # Play always takes its first Euler step from pure noise (tau = 1), and with 1-2 steps
        # that step decides the frame: a quarter of the batch trains exactly there, the rest on
        # logit-normal levels (measured: logit-normal alone left the tau = 1 step 3 dB worse
        # than the warped prior it starts from).
        tau = torch.where(torch.rand(self.batch) < 0.25, torch.ones(self.batch),
                          torch.sigmoid(torch.randn(self.batch)))[:, None, None, None]
        noise = torch.randn_like(target) + self.offset_noise * torch.randn(self.batch, 3, 1, 1)
        x_tau = (1 - tau) * target + tau * noise
        action = torch.from_numpy(self.data.base.actions[t]).float()
        memory, memory_valid = self._memory(t + 1, rng)
        pred = self.painter(x_tau, tau.flatten(), prior, valid, prev, weapon, action, ctx, memory, memory_valid)
        return F.mse_loss(pred.float(), target)

    @torch.no_grad()
    def _memory(self, view: np.ndarray, rng: np.random.Generator):
        """What the memory would recall for each new view: the earlier frame of its episode
        that saw it best (by play's own rule), reprojected by its predicted depth and the
        engine's poses; zeros (nothing recalled) where none qualifies, or one time in five."""
        d = self.data
        frames, motions, index = [], [], []
        for i, v in enumerate(view):
            cand = np.arange(max(0, v - MEMORY_SPAN), v - MIN_AGE + 1)[::-1][::MEMORY_STRIDE]
            cand = cand[d.base.episode[cand] == d.base.episode[v]] if len(cand) else cand
            k = pick_view(d.pose[cand].astype(np.float64), v - cand, d.pose[v].astype(np.float64)) if len(cand) else None
            if k is not None and rng.random() < 0.8:
                index.append(i)
                frames.append(d.base.frames[cand[k]])
                motions.append(relative_motion(d.pose[cand[k]].astype(np.float64), d.pose[v].astype(np.float64)))
        memory = torch.zeros(len(view), 3, *d.base.frames.shape[1:3])
        memory_valid = torch.zeros(len(view), 1, *d.base.frames.shape[1:3])
        if index:
            image = frames_to_float(torch.from_numpy(np.stack(frames)))
            depth, _ = self.frozen[0](image)
            warped, ok = recall(with_seen(image, depth.float(), self.light), depth.float(),
                                torch.from_numpy(np.stack(motions)), self.light)
            memory[index], memory_valid[index] = warped[:, :3].float(), ok.float()
        return memory, memory_valid

    @torch.no_grad()
    def _prior(self, prev: torch.Tensor, t: np.ndarray, carry: "Carry"):
        """The painter's prior as play builds it: the anchor carried into the new view where
        it covers, the warped previous frame elsewhere; the carry's camera moves on."""
        depth_net, motion_net = self.frozen
        depth, weapon_logit = depth_net(prev)
        actions, motions = motion_inputs(self.data, t, motion_net.cfg.history)
        motion = motion_net(actions, motions, depth).float()
        prior, valid, weapon = make_prior(prev, depth.float(), weapon_logit.float(), motion)
        keep = carry.move(motion) * (1 - carry.weapon)
        prior = keep * carry.carried + (1 - keep) * prior
        return prior, torch.maximum(valid, keep), carry.weapon, keep

    @torch.no_grad()
    def _generate(self, prev: torch.Tensor, t: np.ndarray, carry: "Carry") -> torch.Tensor:
        """One step of play from `prev` (frame t): one Euler step, composited as play does
        (model.play.geo_session), quantized to 8 bits."""
        prior, valid, weapon, keep = self._prior(prev, t, carry)
        action = torch.from_numpy(self.data.base.actions[t]).float()
        blank = torch.zeros_like(prev)
        x0 = self.painter(torch.randn_like(prev), torch.ones(len(t)), prior, valid, prev, weapon, action,
                          torch.zeros(len(t)), blank, blank[:, :1]).float()
        gain = SHADE_SEEN * keep + (1 - keep)
        frame = carry.carried + gain * box_mean_torch(x0 - carry.carried, SHADE_RADIUS)
        frame = weapon * carry.anchor + (1 - weapon) * frame
        return ((frame.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def box_mean_torch(x: torch.Tensor, r: int) -> torch.Tensor:
    """model.play.filters.box_mean over (H, W), edge-padded, in torch."""
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)


class Carry:
    """Play's anchor in a training rollout: the real frame the rollout starts from, its depth,
    the weapon as it shows it, and the camera's pose since (the sum of predicted motions)."""

    def __init__(self, anchor, depth, weapon, light: Light | None = None):
        self.anchor, self.depth, self.weapon, self.light = anchor, depth, weapon, light
        self.pose = torch.zeros(len(anchor), 4)          # x, y, z, yaw in the anchor camera's axes
        self.carried = anchor

    @staticmethod
    @torch.no_grad()
    def start(frame: torch.Tensor, depth_net, light: Light | None = None) -> "Carry":
        depth, weapon_logit = depth_net(frame)
        return Carry(frame, depth.float(), (weapon_logit.float() > 0).float()[:, None], light)

    def move(self, motion: torch.Tensor) -> torch.Tensor:
        """Advance the camera by `motion`; the anchor seen from there, and what it covers."""
        x, y, z, yaw = self.pose.unbind(1)
        a = torch.deg2rad(yaw)
        df, dr = motion[:, 1], motion[:, 2]
        self.pose = torch.stack([x + df * torch.cos(a) + dr * torch.sin(a), y + df * torch.sin(a) - dr * torch.cos(a),
                                 z + motion[:, 3], yaw + motion[:, 0]], dim=1)
        x, y, z, yaw = self.pose.unbind(1)
        carried, cover = recall(with_seen(self.anchor, self.depth, self.light), self.depth,
                                torch.stack([yaw, x, -y, z], dim=1), self.light)
        self.carried = carried[:, :3]
        return cover


def with_seen(frame: torch.Tensor, depth: torch.Tensor, light: Light | None) -> torch.Tensor:
    """A real frame as `recall` takes it: with the light, each colour was seen at its own depth."""
    return frame if light is None else torch.cat([frame, depth[:, None]], dim=1)


def geo_config(run: Path, preset: str, history: int | None = None) -> GeoConfig:
    """The run's own config (its first stage's), else the preset; `history` sets the motion
    net's, for a run that has none yet."""
    saved = stage_config(run, "geo_depth") or stage_config(run, "geo_motion")
    if saved:
        return GeoConfig.from_dict(saved)
    return replace(GEO_PRESETS[preset], history=history) if history else GEO_PRESETS[preset]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="reverie train --design geometry")
    p.add_argument("--data", nargs="+", help="capture folders (required unless --benchmark)")
    p.add_argument("--out", help="run folder, resumed if it exists (required unless --benchmark)")
    p.add_argument("--preset", default="cpu", choices=sorted(GEO_PRESETS))
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--warm-start", metavar="PACK", default=None,
                   help="a new run starts from this geometry world pack's nets, light, atlas and map")
    p.add_argument("--history", type=int, default=None, help="tics of keys and motion the motion net sees (new runs)")
    p.add_argument("--depth-minutes", type=float, default=20)
    p.add_argument("--motion-minutes", type=float, default=5)
    p.add_argument("--painter-minutes", type=float, default=60)
    p.add_argument("--motion-depth", choices=("net", "engine"), default="net",
                   help="the depth the motion net trains on: the depth net's, as at play, or the engine's buffer")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--ctx-noise", type=float, default=CTX_NOISE_MAX, help="largest context-noise level")
    p.add_argument("--offset-noise", type=float, default=0.1)
    p.add_argument("--rollout", type=int, default=0, help="train on up to N of the model's own steps")
    p.add_argument("--light-pairs", type=int, default=LIGHT_PAIRS,
                   help="frame pairs the light is fitted on, once per run (0: no light)")
    p.add_argument("--atlas-views", type=int, default=ATLAS_VIEWS,
                   help="training frames kept as the atlas, once per run (model.play.atlas; 0: none)")
    p.add_argument("--map-views", type=int, default=MAP_VIEWS,
                   help="training views kept as the map, once per run (model.play.worldmap; 0: none)")
    p.add_argument("--benchmark", action="store_true", help="time each stage, fp32 against bf16, and exit")
    p.add_argument("--benchmark-steps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def train(name: str, objective: nn.Module, module: nn.Module, run: Path, minutes: float, lr: float,
          seed: int, max_steps: int | None = None) -> int:
    """One stage through the trainer's loop (resume, warm-up, step seeds, atomic saves, DDP);
    the objective draws its own batch from the step's generator."""
    module.to(memory_format=torch.channels_last)      # one busy-core micro-benchmark favoured it; re-measure with --benchmark
    stage = Stage(name, module, objective, lambda rng: (rng,), lr)
    device = torch.device("cpu")
    return train_stage(stage, run, minutes, seed, device, max_steps, bf16=use_bf16(device, "auto"))


def run(argv: list[str]) -> int:
    a = parse(argv)
    if a.benchmark:
        from model.train.train_bench import benchmark
        return benchmark(a, design="geometry")
    out = Path(a.out)
    from model.train.geo_export import GEO_STAGES, warm_start
    if a.warm_start and not any((out / f"{name}.safetensors").is_file() for name in GEO_STAGES):
        print(f"warm start from {a.warm_start}: {', '.join(warm_start(Path(a.warm_start), out))}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)
    data = load_geo_cached(a.data, out / "data", a.max_frames, exclude_maps=HOLDOUT_MAPS)
    print(f"data: {len(data)} frames, {len(np.unique(data.base.episode))} episodes", flush=True)
    cfg = geo_config(out, a.preset, a.history)
    depth, motion, painter, light = DepthNet(cfg), MotionNet(cfg), Painter(cfg), Light()
    stages = (("geo_depth", depth, lambda: DepthLoss(depth, data, a.batch * 2), a.depth_minutes, a.lr),
              ("geo_motion", motion, lambda: MotionLoss(motion, data, 256, depth=depth if a.motion_depth == "net" else None,
                                                        cache=out / "data"),
               a.motion_minutes, a.lr),
              ("geo_painter", painter, lambda: PainterLoss(painter, depth, motion, data, a.batch, a.ctx_noise,
                                                           a.offset_noise, a.rollout, light),
               a.painter_minutes, a.lr / 2))
    for name, module, make_loss, minutes, lr in stages:
        if name == "geo_painter":
            prepare_light(light, data, out, a.light_pairs)
        if minutes > 0:
            train(name, make_loss(), module, out, minutes, lr, a.seed, a.max_steps)
        elif (out / f"{name}.safetensors").is_file():
            load_stage(out, name, module)
    if a.atlas_views > 0 and not (out / ATLAS_FILE).is_file():
        n = atlas_from(data, out / ATLAS_FILE, a.atlas_views, a.seed)
        print(f"atlas: {n} views -> {out / ATLAS_FILE}", flush=True)
    if a.map_views > 0 and not (out / MAP_FILE).is_file():
        n = build_map(a.data, out / MAP_FILE, a.map_views, seed=a.seed)
        print(f"map: {n} views -> {out / MAP_FILE}", flush=True)
    return 0


def prepare_light(light: Light, data: GeoData, run: Path, pairs: int) -> None:
    """The run's light: fitted once from the engine's frames (no nets in it), then kept, so the
    painter trains on carried pixels lit as play lights them."""
    if stage_meta(run, LIGHT_STAGE) is not None:
        load_stage(run, LIGHT_STAGE, light)
    elif pairs > 0:
        fitted, report = fit_light(data, pairs)
        save_light(run, fitted, report)
        light.load_state_dict(fitted.state_dict())
        print(f"light: brightness error of carried pixels {report['without']['rms']} -> {report['with']['rms']} "
              f"grey levels (rms, {report['pixels']} held-out pixels)", flush=True)


if __name__ == "__main__":
    import sys
    raise SystemExit(run(sys.argv[1:]))
