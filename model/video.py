"""Writing frames: H.264 MP4 (fragmented, so a crash leaves a playable file) or .npz.

One writer serves `render`, `replay` and the player's recordings (which add an AAC
audio track beside the video: `VideoWriter(path, audio_rate=48000)`, then `write_audio`).
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.errors import UserError
from model.world import FPS

# Fragmented MP4: every fragment is self-contained, so a file cut off mid-write still
# plays up to its last complete fragment (about one second with these options).
FRAGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


class VideoWriter:
    """Incremental H.264 writer. `scale` upsamples frames (nearest) before encoding.

    With `audio_rate`, the file also gets an AAC track fed by `write_audio`.
    """

    def __init__(self, path: str | Path, fps: int = FPS, scale: int = 1, crf: int = 18,
                 audio_rate: int | None = None, audio_channels: int = 1):
        import av
        self.path = Path(path)
        self.scale = int(scale)
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

    def write(self, frame: np.ndarray) -> None:
        import av
        if self.scale > 1:
            frame = frame.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
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


def write_frames(out: Path, frames, scale: int = 1, progress=None) -> int:
    """Write an iterable of frames to .npz (atomically) or .mp4; returns the count."""
    if out.suffix.lower() == ".npz":
        collected = []
        for frame in frames:
            collected.append(frame)
            if progress:
                progress(len(collected))
        tmp = out.with_name(out.stem + ".tmp.npz")
        np.savez_compressed(tmp, frames=np.stack(collected) if collected else np.zeros((0, 1, 1, 3), np.uint8))
        os.replace(tmp, out)
        return len(collected)
    with VideoWriter(out, scale=scale) as writer:
        for frame in frames:
            writer.write(frame)
            if progress:
                progress(writer.frames)
        return writer.frames


def read_video(path: str | Path) -> np.ndarray:
    """Decode every frame of a video to (N, H, W, 3) uint8 (tests, eval)."""
    import av
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
