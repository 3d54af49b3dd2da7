"""Writing frames: H.264 MP4 (fragmented, so a crash leaves a playable file) or .npz.

One writer serves `render`, `replay` and the player's recordings (which add an AAC
audio track beside the video: `VideoWriter(path, audio_rate=48000)`, then `write_audio`).
"""
from __future__ import annotations

import os
from fractions import Fraction
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.world import FPS

# Fragmented MP4: every fragment is self-contained, so a file cut off mid-write still
# plays up to its last complete fragment (about one second with these options).
# flush_packets hands each write to the OS at once: without it the header and the first
# fragments sat in FFmpeg's 32 KB buffer, and a killed player left an empty file.
FRAGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


class VideoWriter:
    """Incremental H.264 writer. `scale` upsamples frames (nearest, or bilinear with
    `smooth`) before encoding; with `overlay`, `write(frame, action)` draws the held
    buttons over the upscaled frame.

    With `audio_rate`, the file also gets an AAC track fed by `write_audio`.
    """

    def __init__(self, path: str | Path, fps: int = FPS, scale: int = 1, crf: int = 18,
                 audio_rate: int | None = None, audio_channels: int = 1, smooth: bool = False,
                 overlay: bool = False):
        import av
        self.path = Path(path)
        self.scale, self.smooth, self.overlay = int(scale), bool(smooth), bool(overlay)
        if not 1 <= self.scale <= 8:
            raise UserError(f"--scale must be 1..8, got {scale}")
        try:
            self.container = av.open(str(self.path), mode="w", format="mp4", options=FRAGMENT_OPTIONS)
        except (OSError, av.FFmpegError) as exc:
            raise UserError(f"{self.path}: cannot write video ({exc})") from None
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.pix_fmt = "yuv420p"
        # A keyframe every second bounds what a crash can lose to one fragment.
        self.stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(fps),
                               "keyint_min": str(fps), "tune": "zerolatency"}
        self.stream.time_base = Fraction(1, fps)
        self.frames = 0
        self._sized = False
        self.audio = _AudioTrack(self.container, audio_rate, audio_channels) if audio_rate else None

    def write(self, frame: np.ndarray, action: np.ndarray | None = None) -> None:
        import av
        frame = upscale(frame, self.scale, self.smooth)
        if self.overlay and action is not None:
            from model.play.overlay import draw_buttons
            frame = draw_buttons(frame, action, unit=self.scale)
        if not self._sized:
            h, w = frame.shape[:2]
            self.stream.width, self.stream.height = w + w % 2, h + h % 2
            self._sized = True
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(vf):
            self.container.mux(packet)

    def write_audio(self, samples: np.ndarray) -> None:
        """Float samples in [-1, 1], shape (n,) or (n, channels), continuing the track."""
        if self.audio is None:
            raise ValueError("this VideoWriter was opened without an audio track")
        self.audio.write(samples)

    def close(self) -> None:
        if self.container is None:
            return
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.flush()
        finally:
            self.container.close()
            self.container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _AudioTrack:
    """An AAC stream fed in arbitrary chunks, encoded in the codec's fixed frame size."""

    def __init__(self, container, rate: int, channels: int):
        import av
        layout = {1: "mono", 2: "stereo"}.get(int(channels))
        if layout is None:
            raise UserError(f"audio must be mono or stereo, got {channels} channels")
        self.container, self.rate, self.channels, self.layout = container, int(rate), int(channels), layout
        self.stream = container.add_stream("aac", rate=self.rate, layout=layout)
        self.stream.time_base = Fraction(1, self.rate)
        self._av = av
        self._pending = np.zeros((self.channels, 0), np.float32)
        self.samples = 0

    def write(self, samples: np.ndarray) -> None:
        a = np.asarray(samples, np.float32)
        a = a.reshape(-1, 1) if a.ndim == 1 else a
        if a.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} audio channels, got {a.shape[1]}")
        self._pending = np.concatenate([self._pending, np.clip(a, -1.0, 1.0).T], axis=1)
        size = self.stream.codec_context.frame_size or 1024
        while self._pending.shape[1] >= size:
            self._encode(self._pending[:, :size])
            self._pending = self._pending[:, size:]

    def _encode(self, planar: np.ndarray | None) -> None:
        frame = None
        if planar is not None:
            frame = self._av.AudioFrame.from_ndarray(np.ascontiguousarray(planar), format="fltp",
                                                     layout=self.layout)
            frame.sample_rate = self.rate
            frame.pts = self.samples
            frame.time_base = Fraction(1, self.rate)
            self.samples += planar.shape[1]
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def flush(self) -> None:
        if self._pending.shape[1]:
            self._encode(self._pending)          # AAC takes a short last frame
            self._pending = self._pending[:, :0]
        self._encode(None)


def check_out_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".npz", ".mp4"):
        raise UserError(f"{out}: output must end in .npz or .mp4")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{out}: folder {parent} is not writable")
    return out


def write_frames(out: Path, frames, scale: int = 1, progress=None, actions=None,
                 smooth: bool = False, overlay: bool = False) -> int:
    """Write an iterable of frames to .npz (atomically) or .mp4; returns the count.

    `actions` (one per frame) feed the MP4's button overlay; scale, smoothing and the
    overlay shape the MP4 only: an .npz always holds the world's own frames."""
    if out.suffix.lower() == ".npz":
        if overlay:
            raise UserError(f"{out}: --overlay draws into MP4 video only; .npz keeps the world's frames")
        collected = []
        for frame in frames:
            collected.append(frame)
            if progress:
                progress(len(collected))
        tmp = out.with_name(out.stem + ".tmp.npz")
        np.savez_compressed(tmp, frames=np.stack(collected) if collected else np.zeros((0, 1, 1, 3), np.uint8))
        os.replace(tmp, out)
        return len(collected)
    with VideoWriter(out, scale=scale, smooth=smooth, overlay=overlay) as writer:
        for frame, action in zip(frames, actions if actions is not None else repeat(None)):
            writer.write(frame, action)
            if progress:
                progress(writer.frames)
        return writer.frames


def upscale(frame: np.ndarray, scale: int, smooth: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 -> (H*scale, W*scale, 3): pixel blocks, or bilinear with `smooth`."""
    if scale == 1:
        return frame
    if not smooth:
        return frame.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w = frame.shape[:2]
    lo, hi, frac = _linear_taps(h, h * scale)
    x = frame.astype(np.float32)
    x = x[lo] * (1 - frac)[:, None, None] + x[hi] * frac[:, None, None]           # (H*s, W, 3)
    lo, hi, frac = _linear_taps(w, w * scale)
    x = x[:, lo] * (1 - frac)[None, :, None] + x[:, hi] * frac[None, :, None]     # (H*s, W*s, 3)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@lru_cache(maxsize=16)
def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: its two source pixels and the weight of the second.

    Pixel centres are aligned (as in Qt's smooth scaling); edges repeat the last pixel."""
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    lo = np.floor(pos).astype(np.intp)
    return lo, np.minimum(lo + 1, src - 1), (pos - lo).astype(np.float32)


def read_video(path: str | Path) -> np.ndarray:
    """Decode every frame of a video to (N, H, W, 3) uint8 (tests, eval)."""
    import av
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
