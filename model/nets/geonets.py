"""The geometry-aware world: depth, camera motion, and a painter for what the warp misses.

One step of play (`GeoWorld.step`):
    depth_t, weapon_t = DepthNet(frame_t)                    # per pixel, from the frame alone
    motion_t          = MotionNet(actions, past motions, depth_t)   # the camera over one tic
    prior, valid      = reproject(frame_t, depth_t, motion_t)       # geometry moves the view
    frame_t+1         = Painter(x_tau, prior, valid, frame_t, weapon_t | action, tau)
The painter is a rectified-flow x0-predictor in pixel space around a residual on the
prior: at initialisation it returns the prior itself, so the camera already follows the
keys before any painting is learned, and learning only has to fill disocclusions, the
weapon sprite, doors, lights and the edges of the view.

Frames are floats in [-1, 1], (B, 3, 96, 128). Depth is in map units (model.nets.geometry).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model.nets.geometry import CAMERA, reproject
from model.play.world import BUTTONS, N_BUTTONS

MOTION_SCALE = (4.0, 16.0, 16.0, 4.0)     # dyaw deg, df, dr, dz: about one unit of each per tic
REST_HIDDEN = 64                          # the motion net's "exactly zero" head
REST_SPEED_FLOOR = 1e-3                   # MOTION_SCALE units: the log speed the rest head reads stays finite
WALK_PAIRS = (("MOVE_FORWARD", "MOVE_BACKWARD"), ("MOVE_RIGHT", "MOVE_LEFT"))   # keys that push opposite ways
LIGHT_LEVELS = 64                         # the light's falloff, per depth level (CAMERA.depth_unit)
LIGHT_BANDS = 16                          # its response, per band of 16 of local brightness (0..255)
LIGHT_WINDOW = 9                          # pixels: the local brightness is a 9x9 mean


@dataclass(frozen=True)
class GeoConfig:
    depth_widths: tuple[int, ...] = (24, 48, 64)
    painter_widths: tuple[int, ...] = (32, 64, 96)
    history: int = 8                  # past actions and motions the motion net sees
    motion_hidden: int = 256
    yaw_classes: int = 5              # the one-tic turns the motion net chooses among
    cond_dim: int = 128

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "GeoConfig":
        return GeoConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


GEO_PRESETS = {
    "tiny": GeoConfig(depth_widths=(8, 8, 8), painter_widths=(8, 8, 8), motion_hidden=32, cond_dim=16),
    "cpu": GeoConfig(),
}


# ---- a small conditioned U-Net at half resolution -----------------------------------------
class FiLMBlock(nn.Module):
    """Residual conv block; the condition shifts and scales its features (zero-init)."""

    def __init__(self, ch: int, cond_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * ch) if cond_dim else None

    def forward(self, x, cond):
        h = self.conv1(F.silu(x))
        if self.film is not None:
            scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return x + self.conv2(F.silu(h))


class UNet(nn.Module):
    """(B, cin, H, W) -> (B, cout, H, W), working at H/2 x W/2 and below (pixel shuffle)."""

    def __init__(self, cin: int, cout: int, widths: tuple[int, ...], cond_dim: int = 0):
        super().__init__()
        self.stem = nn.Conv2d(4 * cin, widths[0], 3, padding=1)
        self.down = nn.ModuleList(FiLMBlock(w, cond_dim) for w in widths)
        self.pool = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:]))
        self.mid = FiLMBlock(widths[-1], cond_dim)
        self.lift = nn.ModuleList(nn.Conv2d(b, a * 4, 1) for a, b in zip(widths, widths[1:]))
        self.up = nn.ModuleList(FiLMBlock(w, cond_dim) for w in widths[:-1])
        self.head = nn.Conv2d(widths[0], 4 * cout, 3, padding=1)

    def forward(self, x, cond=None):
        h = self.stem(F.pixel_unshuffle(x, 2))                       # (B, w0, H/2, W/2)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, cond)
            if i < len(self.pool):
                skips.append(h)
                h = self.pool[i](h)
        h = self.mid(h, cond)
        for i in reversed(range(len(self.up))):
            h = F.pixel_shuffle(self.lift[i](h), 2) + skips[i]
            h = self.up[i](h, cond)
        return F.pixel_shuffle(self.head(F.silu(h)), 2)


# ---- depth ------------------------------------------------------------------------------
class DepthNet(nn.Module):
    """Frame -> depth (map units, 1 level .. the far clip) and the weapon sprite's logit."""

    def __init__(self, cfg: GeoConfig):
        super().__init__()
        self.cfg = cfg
        self.net = UNet(3, 2, cfg.depth_widths)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(frame)
        levels = 1 + (CAMERA.far_level - 1) * torch.sigmoid(out[:, 0])
        return levels * CAMERA.depth_unit, out[:, 1]


def depth_features(depth: torch.Tensor) -> torch.Tensor:
    """A coarse 6x8 map of log depth: what the motion net knows of walls ahead."""
    pooled = F.adaptive_avg_pool2d(torch.log(depth[:, None] / CAMERA.far), (6, 8))
    return pooled.flatten(1)


# ---- motion -----------------------------------------------------------------------------
class MotionNet(nn.Module):
    """Next tic's camera motion from the held keys, the recent motion and the depth ahead.

    Momentum, the slow-turn rule (1.76 deg/tic for the first tics of a held turn, then
    3.52) and stopping at walls are what it has to learn: all follow from these inputs."""

    def __init__(self, cfg: GeoConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.history
        self.register_buffer("scale", torch.tensor(MOTION_SCALE))
        # The turns the engine makes in one tic, read from the training data (set_yaw_steps).
        self.register_buffer("yaw_steps", torch.zeros(cfg.yaw_classes))
        inputs = k * N_BUTTONS + k * 4 + 48
        self.net = nn.Sequential(nn.Linear(inputs, cfg.motion_hidden), nn.SiLU(),
                                 nn.Linear(cfg.motion_hidden, cfg.motion_hidden), nn.SiLU(),
                                 nn.Linear(cfg.motion_hidden, 3 + cfg.yaw_classes))
        self.rest = nn.Sequential(nn.Linear(inputs, REST_HIDDEN), nn.SiLU(), nn.Linear(REST_HIDDEN, 3))
        nn.init.constant_(self.rest[2].bias, -4.0)      # untrained, it never says "exactly zero"
        # The engine stops a body dead only once friction has slowed it under its stop speed, so
        # the rest head also reads the log of the speed the walk's physics predicts (measured:
        # without it, 1 tic in 30 of a slide at 2-5 units a tic under the depth net's depth was
        # stopped, and a walk back stopped 22 units short). Zero (packs before it): as they ran.
        self.rest_speed = nn.Linear(3, 3)
        nn.init.zeros_(self.rest_speed.weight)
        nn.init.zeros_(self.rest_speed.bias)
        # Walking as the engine integrates it, per component in MOTION_SCALE units: next = last x
        # (1 + friction) + the held keys' thrust, fitted by least squares (set_walk); the net
        # learns what is left (walls, the turn rotating the velocity). All zero (packs before it),
        # the net learns it all.
        self.register_buffer("walk_friction", torch.zeros(3))
        self.register_buffer("walk_thrust", torch.zeros(N_BUTTONS, 3))
        nn.init.zeros_(self.net[4].weight[:3])          # untrained, it walks by the fitted physics
        nn.init.zeros_(self.net[4].bias[:3])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        own = {**dict(self.named_buffers()), **dict(self.named_parameters())}
        for name in ("walk_friction", "walk_thrust", "rest_speed.weight", "rest_speed.bias"):
            # weights from before the walk or the rest's speed: zeros, as they ran
            state_dict.setdefault(prefix + name, torch.zeros_like(own[name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_walk(self, actions: np.ndarray, last: np.ndarray, target: np.ndarray) -> dict:
        """Fit friction and thrust to engine tics: actions (N, 8) held, last and target (N, 3)
        motions (df, dr, dz) before and after. One thrust per pair of opposite keys, pushing
        equally each way (fitted apart, forward and back came out 0.8% unequal, which a walk out
        and back adds up: 3 units over the revisit test). Least squares, refitted without the
        fifth of tics it fits worst (walls, doors, the turn rotating the velocity), which the net
        is left to learn. Returns the friction and the fit's rms in map units a tic."""
        scale = MOTION_SCALE[1:]
        last, target = last / np.array(scale), target / np.array(scale)
        pairs = [(BUTTONS.index(a), BUTTONS.index(b)) for a, b in WALK_PAIRS]
        pushes = np.stack([actions[:, a] - actions[:, b] for a, b in pairs], axis=1)   # (N, 2)
        friction, thrust, rms = np.zeros(3), np.zeros((N_BUTTONS, 3)), []
        for c in range(3):
            x = np.concatenate([last[:, c:c + 1], pushes], axis=1)
            y = target[:, c] - last[:, c]
            keep = np.ones(len(y), bool)
            for _ in range(2):
                coef = np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
                err = np.abs(x @ coef - y)
                keep = err <= np.quantile(err, 0.8)
            friction[c] = coef[0]
            for (a, b), k in zip(pairs, coef[1:]):
                thrust[a, c], thrust[b, c] = k, -k
            rms.append(float(np.sqrt(np.mean(err[keep] ** 2)) * scale[c]))
        self.walk_friction.copy_(torch.from_numpy(friction).float())
        self.walk_thrust.copy_(torch.from_numpy(thrust).float())
        return {"friction": [round(float(v), 5) for v in friction], "rms_units": [round(v, 4) for v in rms]}

    def set_yaw_steps(self, dyaw: np.ndarray) -> None:
        """The `yaw_classes` most common one-tic turns of `dyaw` (degrees), smallest first;
        0 stands in for any class the data has no value for."""
        values, counts = np.unique(np.round(dyaw.astype(np.float64), 3), return_counts=True)
        top = np.sort(values[np.argsort(-counts, kind="stable")[:self.cfg.yaw_classes]])
        steps = np.zeros(self.cfg.yaw_classes)
        steps[:len(top)] = top
        self.yaw_steps.copy_(torch.from_numpy(steps))

    def yaw_class(self, dyaw: torch.Tensor) -> torch.Tensor:
        """The class of each turn: the nearest of the yaw steps."""
        return (dyaw[:, None] - self.yaw_steps[None]).abs().argmin(dim=1)

    def forward(self, actions: torch.Tensor, motions: torch.Tensor, depth: torch.Tensor, raw: bool = False):
        """actions (B, K, 8), newest last (the one applied now); motions (B, K, 4) of the
        K tics before; depth (B, H, W) of the current frame -> motion (B, 4).

        The turn is a choice among the engine's own one-tic turns: it has no momentum and
        only a few values (every captured tic turns by 0, 1.758 or 3.516 degrees either
        way), and a regression left a bias of a fraction of a degree a tic that the camera
        added up (measured: 0.47 degrees off after 100 tics, 0.5 after a 90-degree look-back,
        a pixel at the edge of the view). The rest is a residual on the last motion: the
        engine's next velocity is its last one times friction plus the keys' thrust, so "keep
        going, a little slower" is one small output (measured: without the skip, a camera at
        rest with no key held crept on at 0.6 units a tic, and one at 2 units a tic never
        slowed down). And per component, the odds that it is exactly 0 (the engine stops a
        slow body dead): a regression alone leaves a small bias there, which a camera at rest
        adds up for ever (measured: 2 degrees and 6 units over the look-back test's 136
        tics). `raw` returns the motion ungated, the rest logits (B, 3) and the turn's logits
        (B, classes), for training."""
        return self.from_features(actions, motions, depth_features(depth), raw)

    def from_features(self, actions: torch.Tensor, motions: torch.Tensor, features: torch.Tensor, raw: bool = False):
        """`forward`, with the depth map's `depth_features` already made (training makes them once)."""
        last = motions[:, -1, 1:] / self.scale[1:]
        x = torch.cat([actions.flatten(1), (motions / self.scale).flatten(1), features], dim=1)
        out = self.net(x)
        yaw_logit = out[:, 3:]
        yaw = self.yaw_steps[yaw_logit.argmax(dim=1)]
        walk = last * (1 + self.walk_friction) + actions[:, -1] @ self.walk_thrust
        speed = torch.log(walk.abs() + REST_SPEED_FLOOR)
        move, rest_logit = (walk + out[:, :3]) * self.scale[1:], self.rest(x) + self.rest_speed(speed)
        if raw:
            return torch.cat([yaw[:, None], move], dim=1), rest_logit, yaw_logit
        return torch.cat([yaw[:, None], move * (rest_logit < 0).to(move.dtype)], dim=1)


# ---- painter ----------------------------------------------------------------------------
def noise_embedding(tau: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=tau.device) / half)
    args = tau[:, None].float() * 1000.0 * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class Painter(nn.Module):
    """x0-prediction of the next frame from its noisy version, the warped prior, the previous
    frame and the recalled memory (model.play.memory; zeros where there is none), conditioned
    on the noise level, the context-noise level and the action. It learns when to trust the
    warp and when the memory, and paints only what neither covers."""

    IN = 3 + 3 + 1 + 3 + 1 + 3 + 1    # x_tau, prior, valid, previous frame, weapon, memory, memory_valid

    def __init__(self, cfg: GeoConfig):
        super().__init__()
        self.cfg = cfg
        self.cond = nn.Sequential(nn.Linear(2 * cfg.cond_dim + N_BUTTONS, cfg.cond_dim), nn.SiLU(),
                                  nn.Linear(cfg.cond_dim, cfg.cond_dim))
        self.net = UNet(self.IN, 3, cfg.painter_widths, cfg.cond_dim)
        nn.init.zeros_(self.net.head.weight)
        nn.init.zeros_(self.net.head.bias)

    def forward(self, x_tau, tau, prior, valid, prev, weapon, action, ctx_noise, memory, memory_valid):
        c = torch.cat([noise_embedding(tau, self.cfg.cond_dim), noise_embedding(ctx_noise, self.cfg.cond_dim),
                       action], dim=1)
        x = torch.cat([x_tau, prior, valid, prev, weapon, memory, memory_valid], dim=1)
        return prior + self.net(x, self.cond(c))


def make_prior(frame, depth, weapon_logit, motion):
    """The warped previous frame; the weapon sprite stays where it was on screen."""
    warped, valid = reproject(frame, depth, motion)
    weapon = (weapon_logit > 0).to(frame.dtype)[:, None]
    prior = weapon * frame + (1 - weapon) * warped
    return prior, torch.maximum(valid, weapon), weapon


class GeoWorld(nn.Module):
    """The three networks together, with the one-step function play, export and eval share."""

    def __init__(self, cfg: GeoConfig):
        super().__init__()
        self.cfg = cfg
        self.depth = DepthNet(cfg)
        self.motion = MotionNet(cfg)
        self.painter = Painter(cfg)
        self.light = Light()

    def observe(self, frame, actions, motions):
        """What geometry says about the next frame: prior, valid, weapon, the motion, and the
        frame's own depth (the memory keeps it with the frame)."""
        depth, weapon_logit = self.depth(frame)
        motion = self.motion(actions, motions, depth)
        prior, valid, weapon = make_prior(frame, depth, weapon_logit, motion)
        return prior, valid, weapon, motion, depth


class Light(nn.Module):
    """Doom's light diminishing: the engine draws a surface darker the further off it is (the
    colormap index grows with distance, up to a sector's own light), so a wall walked up to
    brightens. Carried pixels are copied whole, and without this a far, dark wall stayed dark
    all the way up to it (measured: a walk of 265 units down a corridor ended 16 grey levels
    bright where the engine showed 96).

    Per pixel, the log of the brightness changes by response(local brightness) x
    (falloff(new depth) - falloff(old depth)): `falloff` over depth levels, `response` over
    bands of the 9x9 local mean brightness, because a lit sector is at full brightness
    already and a dark one has the most to gain (one gain per neighbourhood, so a texture's
    own contrast is kept). Both tables are fitted to engine frames, their depth buffers and
    poses (model.train.light_fit); all zero, the light changes nothing."""

    def __init__(self):
        super().__init__()
        self.register_buffer("falloff", torch.zeros(LIGHT_LEVELS))
        self.register_buffer("response", torch.zeros(LIGHT_BANDS))

    def gain_log(self, brightness: torch.Tensor, depth_from: torch.Tensor, depth_to: torch.Tensor) -> torch.Tensor:
        """Log gain for local brightness (0..255) and depths (map units), all the same shape."""
        unit = CAMERA.depth_unit
        return (lookup(self.response, brightness / 16.0 - 0.5)
                * (lookup(self.falloff, depth_to / unit) - lookup(self.falloff, depth_from / unit)))

    def forward(self, colour: torch.Tensor, depth_from: torch.Tensor, depth_to: torch.Tensor,
                inside: torch.Tensor | None = None) -> torch.Tensor:
        """colour (B, 3, H, W) in [-1, 1], seen at depth_from, now at depth_to (B, H, W); only
        where `inside` (B, 1, H, W) is 1, if given: a pixel mirrored in from outside the old
        view has no depth of its own (measured: lit by its mirror's, the floor a walk uncovers
        came out in white speckles, 10x the engine's sharpness)."""
        level = (colour.mean(1, keepdim=True) + 1) * 127.5
        local = F.avg_pool2d(level, LIGHT_WINDOW, 1, LIGHT_WINDOW // 2, count_include_pad=False)
        gain_log = self.gain_log(local, depth_from[:, None], depth_to[:, None])
        if inside is not None:
            gain_log = gain_log * inside
        return ((colour + 1) * torch.exp(gain_log) - 1).clamp(-1, 1)


def lookup(table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`table` read at fractional index x, linearly between entries, clamped at both ends."""
    x = x.clamp(0, len(table) - 1)
    i = x.floor().clamp(max=len(table) - 2)
    lo = table[i.long()]
    return lo + (x - i) * (table[i.long() + 1] - lo)


FAR_SEEN = 4.0   # depth at the buffer's far clip is "at least this far": taken as FAR_SEEN x the clip


def recall(frame, depth, motion, light: Light | None = None, smooth: bool = False):
    """A kept frame (the anchor or a keyframe; any channels: colour and trust) seen from the new
    camera, pixels copied whole so that content carried over many frames stays sharp, and
    what it covers; outside the old view it mirrors the view's own texture (not valid: the
    runtime only borrows its detail). Over many frames the camera can walk past the far clip (504 units), and
    a wall taken to be there would swell to fill the view: clipped depth counts as far off.

    With `light`, the frame's last channel is the depth each pixel's colour was seen at (0:
    never relit, as painted pixels are), and colours come out relit for their new depth, the
    last channel then saying that depth. The depth a colour was seen at travels with it, so
    re-anchoring on a frame whose depth the depth net guesses anew never lights a pixel twice
    (measured: lit from the depth net's guess at each re-anchor, near floors went white).

    With `smooth`, also the frame's colour and trust channels read between pixels (bicubic, relit
    alike): what the view shows, while the whole pixels are what is carried on
    (model.play.geo_session)."""
    depth = torch.where(depth > 0.9 * CAMERA.far, FAR_SEEN * CAMERA.far, depth)
    warped, valid, _, depth_to, *between = reproject(frame, depth, motion, mode="nearest", occlusion=False,
                                                     padding="reflection", depths=True,
                                                     also="bicubic" if smooth else None)
    shown = [between[0][:, :3].clamp(-1, 1)] if smooth else []
    if light is not None:
        seen_at = warped[:, -1:]                                            # (B, 1, H, W)
        lit = valid * (seen_at > 0).to(valid.dtype)
        warped = torch.cat([light(warped[:, :3], seen_at[:, 0], depth_to, lit), warped[:, 3:-1],
                            lit * depth_to[:, None] + (1 - lit) * seen_at], dim=1)
        shown = [light(s, seen_at[:, 0], depth_to, lit) for s in shown]
    return (warped, valid) + tuple(torch.cat([s, between[0][:, 3:4]], dim=1) for s in shown)
