"""Causal dynamics transformer over latent tokens.

Each frame is 48 tokens (4x4 patches of the 32x24 latent, as the shipped presets have it:
`DynamicsConfig.tokens_per_frame` says so for any config). Attention is block-causal
across frames: a frame's tokens see each other and the frames before it, up to W back.
Time enters only as a learned per-head bias on a key frame's *age* (how many frames
before the query it is), never as a position baked into the keys: that is what lets
the player keep keys/values in a fixed ring buffer for ever, with no position that
can overflow (docs/design.md, "Architecture").

Each frame carries one conditioning vector: its noise level and the action that led to
it (a null flag for the seed frame). It modulates every block through adaLN-Zero (DiT).
Each frame's tokens also see the previous frame's latent patch at the same place
(channel concat, as DIAMOND does): most of a next frame is the last one moved a little,
and this hands the network that prior without having to learn it through attention.

One function, `frame_pass`, serves training, the ONNX export and the CUDA runtime.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.play.world import ACTION_DIM, MASKED_AGE  # noqa: F401  (re-exported for model code)


@dataclass(frozen=True)
class DynamicsConfig:
    latent_channels: int = 8
    latent_h: int = 12
    latent_w: int = 16
    patch: int = 2
    width: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    window: int = 16                # W: past frames a frame can see

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_h // self.patch) * (self.latent_w // self.patch)

    @property
    def patch_dim(self) -> int:
        return self.latent_channels * self.patch * self.patch

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "DynamicsConfig":
        return DynamicsConfig(**d)


DYNAMICS_PRESETS = {
    "tiny": DynamicsConfig(width=32, depth=2, heads=2, window=4),
    # Sized for a CPU training budget (about 1e14 FLOPs: an hour on two cores).
    "cpu": DynamicsConfig(latent_h=24, latent_w=32, patch=4, width=128, depth=4, heads=2, window=5),
    # 32x24 latents (the 4x "small" tokenizer) in 4x4 patches: still 48 tokens a frame.
    "small": DynamicsConfig(latent_h=24, latent_w=32, patch=4, width=192, depth=6, heads=3, window=8),
    "base": DynamicsConfig(width=256, depth=8, heads=4, window=16),
}


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


HIDDEN = -1e9                     # the additive bias of a key frame a query frame may not see
# Below this share of key frames visible to any query frame, attention gathers only the
# visible ones. Measured on this CPU, `cpu` preset at batch 8 under bf16: the gather loses
# at seq 6 and 7 (6 of 11 and of 13 frames visible), breaks even at 8, wins from 9 on
# (17% off a step at seq 12); in fp32 it wins from 8 on (44% off at seq 12).
GATHER_BELOW = 0.4


def token_bias(bias: torch.Tensor, n: int) -> torch.Tensor:
    """Frame-block bias (H, F, K) -> the dense token-level mask (H, F*N, K*N)."""
    return bias.repeat_interleave(n, dim=1).repeat_interleave(n, dim=2)


def frame_block_attention(q, keys, values, bias, n: int) -> torch.Tensor:
    """Attention under a bias that is constant over each block of n query x n key tokens:
    q (B, H, F*N, hd), keys/values (B, H, K*N, hd), bias (H, F, K) -> (B, H, F*N, hd).

    Equal to SDPA with `token_bias(bias, n)` (every query frame sees at least itself),
    and cheaper to train: no (F*N, K*N) mask is built, and the age bias's gradient comes
    out of the score matmul's (SDPA's fused CPU kernels give no gradient for a mask: with
    the learned bias it ran its slow unfused path). Where few key frames are visible, only
    those are scored: attention then grows linearly with the sequence, not squared.
    """
    visible = bias[0] > HIDDEN / 2                                             # (F, K)
    kmax = int(visible.sum(1).max())
    if kmax >= GATHER_BELOW * bias.shape[2]:
        return _block_attention(q, keys, values, bias, n)
    # Each query frame's visible key frames first, then hidden ones to fill Kmax slots
    # (their bias keeps them out).
    order = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)[:, :kmax]   # (F, Kmax)
    b, h, fn, hd = q.shape
    f, k = visible.shape
    # The gather as a matmul with a one-hot matrix: exact, and its gradient is a matmul too.
    pick = F.one_hot(order.reshape(-1), k).to(keys.dtype)                       # (F*Kmax, K)
    kg = (pick @ keys.reshape(b, h, k, n * hd)).view(b, h, f, kmax * n, hd)    # (B, H, F, Kmax*N, hd)
    vg = (pick @ values.reshape(b, h, k, n * hd)).view(b, h, f, kmax * n, hd)
    own_bias = bias.gather(2, order.expand(h, f, kmax))[:, :, None]            # (H, F, 1, Kmax)
    return _block_attention(q.view(b, h, f, n, hd), kg, vg, own_bias, n).reshape(b, h, fn, hd)


def _block_attention(q, keys, values, bias, n: int) -> torch.Tensor:
    """q (..., F*N, hd), keys/values (..., K*N, hd), bias (..., F, K) added to each n x n
    block of the scores. The bias rides in the q.k product itself: each query gains the
    one-hot of its frame and each key its frame's bias column, so that the scores need no
    pass of their own to add it, nor one to sum its gradient (measured: 15% off a step)."""
    f, hd = bias.shape[-2], q.shape[-1]
    frame_of = torch.eye(f, dtype=q.dtype, device=q.device).repeat_interleave(n, 0)     # (F*N, F)
    q = torch.cat([q * hd ** -0.5, frame_of.expand(*q.shape[:-1], f)], dim=-1)       # (..., F*N, hd + F)
    column = bias.transpose(-1, -2).repeat_interleave(n, dim=-2).to(keys.dtype)      # (..., K*N, F)
    keys = torch.cat([keys, column.expand(*keys.shape[:-1], f)], dim=-1)
    return (q @ keys.transpose(-1, -2)).softmax(dim=-1) @ values


def timestep_embedding(tau: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of noise levels in [0, 1]: (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=tau.device) / half)
    args = tau[:, None].float() * 1000.0 * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg: DynamicsConfig):
        super().__init__()
        d = cfg.width
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, cond, ctx_k, ctx_v, bias):
        """x (B, F, N, d) frame tokens; cond (B, F, d); ctx_k/v (B, H, M, hd) cached
        keys/values; bias: the age bias and mask, (H, F, M/N + F) per frame block in
        training, (H, F*N, M + F*N) per token at inference (see `Dynamics.frame_pass`).
        Returns x and this call's k, v (B, H, F*N, hd)."""
        b, n_frames, n_tok, d = x.shape
        s1, c1, g1, s2, c2, g2 = self.ada(cond)[:, :, None, :].chunk(6, dim=-1)  # (B, F, 1, d)
        h = modulate(self.norm1(x), s1, c1).reshape(b, n_frames * n_tok, d)
        qkv = self.qkv(h).reshape(b, n_frames * n_tok, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                 # each (B, H, F*N, hd)
        keys = torch.cat([ctx_k, k], dim=2)                  # (B, H, M + F*N, hd)
        values = torch.cat([ctx_v, v], dim=2)
        if self.training:
            att = frame_block_attention(q, keys, values, bias, n_tok)
        else:
            att = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias[None])
        att = att.transpose(1, 2).reshape(b, n_frames, n_tok, d)               # (B, F, N, d)
        x = x + g1 * self.proj(att)
        x = x + g2 * self.mlp(modulate(self.norm2(x), s2, c2))
        return x, k, v


class Dynamics(nn.Module):
    def __init__(self, cfg: DynamicsConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.width
        self.patch_in = nn.Linear(2 * cfg.patch_dim, d)
        self.pos = nn.Parameter(torch.zeros(1, 1, cfg.tokens_per_frame, d))
        self.tau_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_emb = nn.Linear(ACTION_DIM, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        # age_bias[h, a]: bias for a key frame a frames before the query (a = 0..W).
        self.age_bias = nn.Parameter(torch.zeros(cfg.heads, cfg.window + 1))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.patch_out = nn.Linear(d, cfg.patch_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)
        for block in self.blocks:       # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final_ada[-1].weight)
        nn.init.zeros_(self.final_ada[-1].bias)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)
        with torch.no_grad():           # a recency prior: nearer frames start more visible
            ages = torch.arange(self.cfg.window + 1, dtype=torch.float32)
            slopes = torch.linspace(0.5, 0.05, self.cfg.heads)[:, None]
            self.age_bias.copy_(-slopes * ages)

    # -- tokens <-> latents -------------------------------------------------------------
    def patchify(self, z: torch.Tensor) -> torch.Tensor:
        c, p = self.cfg, self.cfg.patch
        b, f = z.shape[:2]
        z = z.reshape(b, f, c.latent_channels, c.latent_h // p, p, c.latent_w // p, p)
        z = z.permute(0, 1, 3, 5, 2, 4, 6)                                    # (B, F, h', w', C, p, p)
        return z.reshape(b, f, c.tokens_per_frame, c.patch_dim)               # (B, F, N, C*p*p)

    def unpatchify(self, t: torch.Tensor) -> torch.Tensor:
        c, p = self.cfg, self.cfg.patch
        b, f = t.shape[:2]
        t = t.reshape(b, f, c.latent_h // p, c.latent_w // p, c.latent_channels, p, p)
        t = t.permute(0, 1, 4, 2, 5, 3, 6)                                    # (B, F, C, h', p, w', p)
        return t.reshape(b, f, c.latent_channels, c.latent_h, c.latent_w)

    def condition(self, tau: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """tau (B, F), action (B, F, 9) -> (B, F, d)."""
        emb = timestep_embedding(tau.reshape(-1), self.cfg.width).reshape(*tau.shape, -1)
        return self.tau_mlp(emb) + self.action_emb(action)

    def attention_bias(self, ages: torch.Tensor) -> torch.Tensor:
        """Frame-level ages (F, K) -> additive bias (H, F, K), one value per block of
        N query tokens x N key tokens (`token_bias` spreads it over the tokens).

        ages[f, k] is how many frames key frame k lies before query frame f;
        MASKED_AGE (or any age outside 0..W) hides the key frame.
        """
        visible = (ages >= 0) & (ages <= self.cfg.window)
        bias = self.age_bias[:, ages.clamp(0, self.cfg.window)]                # (H, F, K)
        return torch.where(visible[None], bias, torch.full_like(bias, HIDDEN))

    # -- the one pass -------------------------------------------------------------------
    def frame_pass(self, z, z_prev, tau, action, ctx_k, ctx_v, ages):
        """Run F frames (per batch item) against a cache of M key/value tokens.

        z (B, F, C, h, w) latents; z_prev (B, F, C, h, w) each frame's previous (context)
        latent, zeros for the first; tau (B, F) noise levels; action (B, F, 9);
        ctx_k, ctx_v (L, B, H, M, hd); ages (F, M/N + F): frame ages of the cache's
        frames, then of this call's frames. Returns the predicted clean latents
        (B, F, C, h, w) and this call's keys/values (L, B, H, F*N, hd).
        """
        x = torch.cat([self.patchify(z), self.patchify(z_prev)], dim=-1)      # (B, F, N, 2*C*p*p)
        x = self.patch_in(x) + self.pos                                        # (B, F, N, d)
        cond = self.condition(tau, action)                                     # (B, F, d)
        bias = self.attention_bias(ages)                                       # (H, F, K)
        if not self.training:
            # Inference keeps the token mask and SDPA: the graph the ONNX export and the
            # runtimes have always run, so replays stay bit for bit. Training adds the
            # bias per frame block (`frame_block_attention`), which is equal and cheaper.
            bias = token_bias(bias, self.cfg.tokens_per_frame)                 # (H, F*N, K*N)
        new_k, new_v = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, cond, ctx_k[i], ctx_v[i], bias)
            new_k.append(k)
            new_v.append(v)
        shift, scale = self.final_ada(cond)[:, :, None, :].chunk(2, dim=-1)
        out = self.patch_out(modulate(self.final_norm(x), shift, scale))
        return self.unpatchify(out), torch.stack(new_k), torch.stack(new_v)

    def empty_cache(self, batch: int = 1, device=None, dtype=torch.float32):
        c = self.cfg
        shape = (c.depth, batch, c.heads, 0, c.head_dim)
        return torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
