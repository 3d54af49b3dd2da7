"""Frame tokenizer: a frame-by-frame conv autoencoder, 128x96x3 <-> (96/d)x(128/d)xC latents.

d is `TokenizerConfig.downsample` (2 per channel level): the shipped "small" preset has
d = 4, so 32x24x8 latents, which the dynamics cuts into 4x4 patches (48 tokens a frame).

No temporal compression: it would add a frame of latency (seeds/004). Only the decoder
runs per frame at play time, so it is the lean half; the encoder runs on scene seeds
and in training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class TokenizerConfig:
    latent_channels: int = 8
    channels: tuple[int, ...] = (32, 64, 96)   # full-res stem, then one per /2 level
    blocks: int = 1                           # residual blocks at the lowest level
    frame_h: int = 96
    frame_w: int = 128

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.frame_h // self.downsample, self.frame_w // self.downsample

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TokenizerConfig":
        return TokenizerConfig(**{**d, "channels": tuple(d["channels"])})


TOKENIZER_PRESETS = {
    "tiny": TokenizerConfig(latent_channels=8, channels=(8, 16, 16), blocks=0),
    "small8x": TokenizerConfig(channels=(16, 32, 64)),
    "small": TokenizerConfig(channels=(32, 64)),            # 4x: 32x24x8 latents
    "base": TokenizerConfig(),
}


def tokenizer_preset(name: str) -> TokenizerConfig:
    """The tokenizer for a size preset; a dynamics-only preset (e.g. "cpu") gets the "small" one."""
    return TOKENIZER_PRESETS.get(name, TOKENIZER_PRESETS["small"])


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, padding=1)]
        prev = ch[0]
        for c in ch:                       # each level halves H and W
            layers += [nn.SiLU(), nn.Conv2d(prev, c, 4, stride=2, padding=1), ResBlock(c)]
            prev = c
        layers += [ResBlock(prev) for _ in range(cfg.blocks)]
        layers += [nn.SiLU(), nn.Conv2d(prev, cfg.latent_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)            # (B, 3, H, W) in [-1, 1] -> (B, C, H/d, W/d)


class Decoder(nn.Module):
    """Upsampling by pixel shuffle: each level is one conv at the low resolution."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.channels[::-1]            # lowest level first
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, ch[0], 3, padding=1)]
        layers += [ResBlock(ch[0]) for _ in range(cfg.blocks)]
        prev = ch[0]
        for c in list(ch[1:]) + [max(cfg.channels[0] // 2, 4)]:
            layers += [nn.SiLU(), nn.Conv2d(prev, 4 * c, 3, padding=1), nn.PixelShuffle(2)]
            prev = c
        layers += [nn.SiLU(), nn.Conv2d(prev, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)                 # (B, C, h, w) -> (B, 3, H, W), roughly [-1, 1]


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # Latent statistics, set after training so the dynamics sees unit-variance latents.
        self.register_buffer("latent_mean", torch.zeros(1, cfg.latent_channels, 1, 1))
        self.register_buffer("latent_std", torch.ones(1, cfg.latent_channels, 1, 1))

    def encode(self, frames_u8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, C, h, w) normalized latents."""
        x = frames_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return (self.encoder(x) - self.latent_mean) / self.latent_std

    def decode_float(self, z: torch.Tensor) -> torch.Tensor:
        """Normalized latents -> (B, 3, H, W) float frames in [-1, 1] (unclipped)."""
        return self.decoder(z * self.latent_std + self.latent_mean)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalized latents -> (B, H, W, 3) uint8: the displayable frame."""
        x = self.decode_float(z).permute(0, 2, 3, 1)
        return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def frames_to_float(frames_u8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) in [-1, 1]."""
    return frames_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0
