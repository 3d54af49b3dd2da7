"""What each training stage minimises, and the batches it sees.

Each loss is a module whose forward returns the loss (minRF's pattern): data-parallel
training wraps these in DistributedDataParallel. Each batch maker turns a step's random
generator into that module's inputs. Losses are computed in fp32 whatever the autocast.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.nets.dynamics import Dynamics
from model.nets.flow import teacher_forced_samples
from model.nets.tokenizer import Tokenizer, frames_to_float
from model.train.train_data import FrameData


# -- losses -----------------------------------------------------------------------------
def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images in [-1, 1] with an 7x7 box window (no downloads needed)."""
    x, y = (x + 1) / 2, (y + 1) / 2
    pool = lambda t: F.avg_pool2d(t, 7, 1, 3, count_include_pad=False)  # noqa: E731
    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx ** 2, pool(y * y) - my ** 2, pool(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean()


def tokenizer_loss(tok: Tokenizer, frames_u8: torch.Tensor, crop: tuple[int, int] | None = None) -> torch.Tensor:
    """The autoencoder's loss. `crop` (h, w), multiples of 8, trains on a random window of
    each batch: the autoencoder is fully convolutional, and crops cost less."""
    if crop is not None:
        h, w = frames_u8.shape[1:3]
        y0 = int(torch.randint(0, (h - crop[0]) // 8 + 1, ())) * 8
        x0 = int(torch.randint(0, (w - crop[1]) // 8 + 1, ())) * 8
        frames_u8 = frames_u8[:, y0:y0 + crop[0], x0:x0 + crop[1]]
    # NCHW-contiguous, not the channels-last strides the uint8 frames come in: measured on
    # this CPU, a training step then runs 10% (fp32) to 20% (bf16) faster.
    x = frames_to_float(frames_u8).contiguous()
    z = tok.encoder(x)
    # Noise on the latents teaches the decoder to tolerate predicted, imperfect latents.
    z = z + 0.1 * z.detach().std() * torch.randn_like(z)
    return reconstruction_loss(tok.decoder(z), x)


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 + (1 - SSIM) + a spectrum-magnitude term (texture energy, whatever its phase)."""
    rec = rec.float()                    # losses in fp32 (FFT has no bf16 kernels)
    freq = (torch.fft.rfft2(rec).abs() - torch.fft.rfft2(x).abs()).abs().mean()
    return F.l1_loss(rec, x) + 0.2 * (1 - ssim(rec, x)) + 0.01 * freq


class TokenizerObjective(nn.Module):
    """The autoencoder's loss as a module: forward(frames_u8) -> loss."""

    def __init__(self, tok: Tokenizer, crop: tuple[int, int] | None = None):
        super().__init__()
        self.tok, self.crop = tok, crop

    def forward(self, frames_u8: torch.Tensor) -> torch.Tensor:
        return tokenizer_loss(self.tok, frames_u8, self.crop)


class DecoderObjective(nn.Module):
    """The decoder fine-tune: decode what the dynamics generates at horizon 1 (teacher-forced,
    `steps` like play) into the real frame, so the frames on screen are the best the
    predicted latents allow. A quarter of the latents are the encoder's own, so reconstruction
    stays as good. The encoder and the dynamics are frozen: the latent space does not move."""

    def __init__(self, tok: Tokenizer, dyn: Dynamics, steps: int = 2):
        super().__init__()
        self.tok, self.dyn, self.steps = tok, dyn, steps

    def forward(self, z, actions, real_u8, window: tuple[int, int, int, int]) -> torch.Tensor:
        """z (B, T, C, h, w), actions (B, T-1, 8), real_u8 (B*(T-1), H', W', 3): the real
        frames 1..T-1 inside `window` (y0, x0, height, width) of the latent grid."""
        y0, x0, ch, cw = window
        pred = teacher_forced_samples(self.dyn, z, actions, self.steps)
        own = torch.rand(pred.shape[:2], device=z.device) < 0.25
        z_in = torch.where(own[..., None, None, None], z[:, 1:], pred).flatten(0, 1)
        z_in = z_in[..., y0:y0 + ch, x0:x0 + cw]
        return reconstruction_loss(self.tok.decode_float(z_in), frames_to_float(real_u8))


# -- batches: rng -> the objective's inputs ------------------------------------------
def frame_batches(data: FrameData, batch: int, device):
    frames = torch.from_numpy(data.frames)

    def draw(rng):
        return (frames[torch.from_numpy(rng.integers(0, len(data), batch))].to(device),)
    return draw


def window_indices(data: FrameData, seq: int, batch: int):
    """rng -> (B, T) frame indices of `batch` windows of `seq` frames inside one episode."""
    starts = torch.from_numpy(data.window_starts(seq))
    offsets = torch.arange(seq)
    return lambda rng: starts[rng.integers(0, len(starts), batch)][:, None] + offsets


def sequence_batches(latents: torch.Tensor, data: FrameData, seq: int, batch: int, device):
    """RectifiedFlow's inputs: latents (B, T, C, h, w) and actions (B, T-1, 8)."""
    windows, actions = window_indices(data, seq, batch), torch.from_numpy(data.actions)

    def draw(rng):
        idx = windows(rng)
        return latents[idx].to(device), actions[idx[:, :-1]].to(device)        # actions[i]: i -> i+1
    return draw


def decoder_batches(latents: torch.Tensor, data: FrameData, seq: int, batch: int, device, down: int,
                    crop: tuple[int, int] = (12, 16)):
    """DecoderObjective's inputs: sequences, a random crop window of the latent grid and
    the real frames inside it."""
    windows, actions = window_indices(data, seq, batch), torch.from_numpy(data.actions)
    frames = torch.from_numpy(data.frames)
    h, w = latents.shape[-2:]

    def draw(rng):
        idx = windows(rng)
        y0, x0 = int(rng.integers(0, h - crop[0] + 1)), int(rng.integers(0, w - crop[1] + 1))
        real = frames[idx[:, 1:]].flatten(0, 1)[:, y0 * down:(y0 + crop[0]) * down,
                                                  x0 * down:(x0 + crop[1]) * down]
        return latents[idx].to(device), actions[idx[:, :-1]].to(device), real.to(device), (y0, x0, *crop)
    return draw
