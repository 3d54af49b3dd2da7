"""Rectified flow around the dynamics network (minRF-style): the loss and the sampler.

Path: z_tau = (1 - tau) * x0 + tau * noise, tau = 1 is pure noise. The network predicts
x0; one Euler step from tau to tau' is x0 + (tau'/tau) * (z_tau - x0).

Training is "two-stream" teacher forcing, which matches play exactly: a clean stream of
the sequence's frames (lightly noised: drift defence) provides keys/values, and a noisy
stream holds every frame after the first at its own noise level; noisy frame i sees
clean frames i-W..i-1 and itself, the way a generated frame sees the ring buffer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.nets.dynamics import ACTION_DIM, MASKED_AGE, Dynamics
from model.play.world import N_BUTTONS


def euler_step(z, x0, tau, tau_next):
    return x0 + (tau_next / tau) * (z - x0)


def action_vectors(actions: torch.Tensor) -> torch.Tensor:
    """(B, T-1, 8) actions taking frame i to i+1 -> (B, T, 9) per-frame conditioning:
    frame 0 gets the null flag, frame i the action that led to it."""
    b, n, _ = actions.shape
    out = torch.zeros(b, n + 1, ACTION_DIM, device=actions.device)
    out[:, 0, N_BUTTONS] = 1.0
    out[:, 1:, :N_BUTTONS] = actions.float()
    return out


def two_stream_ages(t: int, window: int, device=None) -> torch.Tensor:
    """Frame ages (2T-1, 2T-1) for [clean 0..T-1 | noisy 1..T-1]."""
    ages = torch.full((2 * t - 1, 2 * t - 1), MASKED_AGE, dtype=torch.int64)
    idx = torch.arange(t)
    diff = idx[:, None] - idx[None, :]                      # query i, key j: i - j
    clean_clean = torch.where((diff >= 0) & (diff <= window), diff, torch.full_like(diff, MASKED_AGE))
    ages[:t, :t] = clean_clean
    noisy_clean = torch.where((diff >= 1) & (diff <= window), diff, torch.full_like(diff, MASKED_AGE))
    ages[t:, :t] = noisy_clean[1:]
    ages[t:, t:] = torch.where(torch.eye(t - 1, dtype=torch.bool), 0, MASKED_AGE)
    return ages.to(device)


def sample_tau(shape, device, p_one: float = 0.3) -> torch.Tensor:
    """Noise levels: uniform, with extra mass at tau = 1 where the first step starts."""
    tau = torch.rand(shape, device=device)
    return torch.where(torch.rand(shape, device=device) < p_one, torch.ones_like(tau), tau)


def flow_loss(model: Dynamics, z: torch.Tensor, actions: torch.Tensor, ctx_noise_max: float = 0.1,
              self_forcing: float = 0.0):
    """z (B, T, C, h, w) clean latents; actions (B, T-1, 8). Mean squared x0 error.

    self_forcing > 0 is the drift defence "self-forcing-lite": that fraction of context
    frames is replaced by the model's own one-step predictions of them (made without
    gradient, in one parallel pass), while the targets stay the real next frames. The
    model learns to continue from its own imperfect frames, as it must at play time.
    """
    b, t = z.shape[:2]
    context = z
    if self_forcing > 0:
        with torch.no_grad():
            pred = _two_stream(model, z, z, actions, torch.zeros(b, t, device=z.device),
                               torch.ones(b, t - 1, device=z.device), torch.randn_like(z[:, 1:]))
        swap = torch.rand(b, t, device=z.device) < self_forcing
        swap[:, 0] = False
        context = torch.where(swap[..., None, None, None], torch.cat([z[:, :1], pred], 1), z)
    sigma = torch.rand(b, t, device=z.device) * ctx_noise_max          # context noise (drift defence)
    x0 = _two_stream(model, context, z, actions, sigma, sample_tau((b, t - 1), z.device), None)
    return F.mse_loss(x0.float(), z[:, 1:].float())


class RectifiedFlow(nn.Module):
    """The training objective as a module (minRF's `RF`): forward(z, actions) -> the loss.

    Data-parallel training wraps this, not the network, in DistributedDataParallel: only
    a wrapped module's own forward arms the hooks that average gradients across ranks.
    """

    def __init__(self, model: Dynamics, ctx_noise_max: float = 0.1, self_forcing: float = 0.0):
        super().__init__()
        self.model, self.ctx_noise_max, self.self_forcing = model, ctx_noise_max, self_forcing

    def forward(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return flow_loss(self.model, z, actions, self.ctx_noise_max, self.self_forcing)


@torch.no_grad()
def teacher_forced_samples(model: Dynamics, z: torch.Tensor, actions: torch.Tensor, steps: int) -> torch.Tensor:
    """What play generates for frames 1..T-1 of z (B, T, C, h, w), each from the real
    frames before it (clean context, `steps` Euler steps from pure noise): the latents the
    decoder meets at horizon 1. All frames at once, one two-stream pass per step."""
    b, t = z.shape[:2]
    sigma = torch.zeros(b, t, device=z.device)
    zeros = torch.zeros_like(z)
    taus = torch.linspace(1.0, 0.0, steps + 1).tolist()
    zt = torch.randn_like(z[:, 1:])
    for k in range(steps):               # the noisy stream is mix(0, zt / tau, tau) = zt
        tau = torch.full((b, t - 1), taus[k], device=z.device)
        x0 = _two_stream(model, z, zeros, actions, sigma, tau, zt / taus[k])
        if k + 1 < steps:
            zt = euler_step(zt, x0, taus[k], taus[k + 1])
    return x0


def _two_stream(model, context, target, actions, sigma, tau, noise):
    """Predictions of frames 1..T-1 from [clean context stream | noisy target stream]."""
    b, t = context.shape[:2]
    cond = action_vectors(actions)                                     # (B, T, 9)
    clean = _mix(context, torch.randn_like(context), sigma)
    noise = torch.randn_like(target[:, 1:]) if noise is None else noise
    noisy = _mix(target[:, 1:], noise, tau)
    inputs = torch.cat([clean, noisy], dim=1)
    prevs = torch.cat([shift_prev(clean), clean[:, :-1]], dim=1)
    taus = torch.cat([sigma, tau], dim=1)
    conds = torch.cat([cond, cond[:, 1:]], dim=1)
    ctx_k, ctx_v = model.empty_cache(b, device=context.device, dtype=context.dtype)
    x0, _, _ = model.frame_pass(inputs, prevs, taus, conds, ctx_k, ctx_v,
                                two_stream_ages(t, model.cfg.window, context.device))
    return x0[:, t:]


def shift_prev(z: torch.Tensor) -> torch.Tensor:
    """Each frame's previous frame along dim 1, zeros before the first."""
    return torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)


def _mix(x0, noise, tau):
    tau = tau[..., None, None, None]
    return (1.0 - tau) * x0 + tau * noise


@torch.no_grad()
def rollout(model: Dynamics, z_ctx: torch.Tensor, cond_ctx: torch.Tensor, noises: torch.Tensor,
            actions: torch.Tensor, steps: int = 2) -> torch.Tensor:
    """Reference generation with no cache: every frame recomputes the whole history
    under the sliding-window mask, which is what the ring buffer must equal.

    z_ctx (B, T0, C, h, w) clean seed latents; cond_ctx (B, T0, 9); noises (B, N, C, h, w)
    the starting noise of each new frame; actions (B, N, 8). Returns (B, N, C, h, w).
    """
    frames, conds = list(z_ctx.unbind(1)), list(cond_ctx.unbind(1))
    taus = torch.linspace(1.0, 0.0, steps + 1)
    out = []
    for n in range(actions.shape[1]):
        cond_new = torch.zeros_like(conds[0])
        cond_new[:, :N_BUTTONS] = actions[:, n].float()
        z = noises[:, n]
        for k in range(steps):
            x0 = _predict(model, torch.stack(frames, 1), torch.stack(conds, 1), z, cond_new, float(taus[k]))
            z = euler_step(z, x0, float(taus[k]), float(taus[k + 1])) if k + 1 < steps else x0
        frames.append(z)
        conds.append(cond_new)
        out.append(z)
    return torch.stack(out, 1)


def history_ages(n: int, window: int) -> torch.Tensor:
    """Ages (n+1, n+1) for n clean frames then one noisy frame, sliding window W."""
    idx = torch.arange(n + 1)
    diff = idx[:, None] - idx[None, :]
    ages = torch.where((diff >= 0) & (diff <= window), diff, torch.full_like(diff, MASKED_AGE))
    ages[n, n] = 0
    ages[n, :n] = torch.where((diff[n, :n] >= 1) & (diff[n, :n] <= window), diff[n, :n], MASKED_AGE)
    return ages


def _predict(model, ctx, ctx_cond, z, cond, tau: float):
    b, n_ctx = ctx.shape[:2]
    inputs = torch.cat([ctx, z[:, None]], 1)
    taus = torch.cat([torch.zeros(b, n_ctx, device=z.device), torch.full((b, 1), tau, device=z.device)], 1)
    conds = torch.cat([ctx_cond, cond[:, None]], 1)
    ctx_k, ctx_v = model.empty_cache(b, device=z.device)
    prevs = torch.cat([shift_prev(ctx), ctx[:, -1:]], 1)
    x0, _, _ = model.frame_pass(inputs, prevs, taus, conds, ctx_k, ctx_v,
                                history_ages(n_ctx, model.cfg.window).to(z.device))
    return x0[:, -1]
