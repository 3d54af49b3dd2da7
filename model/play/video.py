"""Writing frames: H.264 MP4 (fragmented, so a crash leaves a playable file) or .npz.

One writer serves `render`, `replay` and the player's recordings (which add an AAC
audio track beside the video: `VideoWriter(path, audio_rate=48000)`, then `write_audio`).

When writing stops early, one rule: an .npz is all or nothing (written to `.tmp.npz`,
then renamed); an .mp4 keeps the frames written so far as a valid file, and the message
names it ("partial: N frames kept in OUT.mp4"), or is removed if it holds none.
"""
from __future__ import annotations

import os
import signal
import zipfile
from fractions import Fraction
from functools import lru_cache
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from model.play.errors import Interrupted, UserError, os_reason
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

    def abandon(self) -> int:
        """After a write error: close what can be, cut off a half-written fragment, and return
        the frames the file still plays (a file that plays none is removed)."""
        try:
            self.close()
        except Exception:  # the disk is full: flushing fails the same way
            self.container = None
        if not self.path.is_file():
            return 0
        repair_fragmented_mp4(self.path)
        kept = count_frames(self.path)
        if kept == 0:
            self.path.unlink(missing_ok=True)
        return kept

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
    if out.is_dir():
        raise UserError(f"{out}: is a folder; give a file name ending in .npz or .mp4")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{out}: folder {parent} is not writable")
    return out


def write_frames(out: Path, frames, total: int, scale: int = 1, progress=None, actions=None,
                 smooth: bool = False, overlay: bool = False) -> int:
    """Write `total` frames from an iterable to .npz or .mp4 (see the module's rule); returns the count.

    `actions` (one per frame) feed the MP4's button overlay; scale, smoothing and the
    overlay shape the MP4 only: an .npz always holds the world's own frames."""
    npz = out.suffix.lower() == ".npz"
    if npz and overlay:
        raise UserError(f"{out}: --overlay draws into MP4 video only; .npz keeps the world's frames")
    frames = iter(frames)
    first = next(frames, None)          # before any file exists: a bad seed or session leaves nothing
    if first is None:
        raise UserError(f"{out}: no frames to write")
    frames = chain([first], frames)
    if npz:
        return _write_npz(out, frames, total, progress)
    return _write_mp4(out, VideoWriter(out, scale=scale, smooth=smooth, overlay=overlay), frames, progress,
                      actions if actions is not None else repeat(None))


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)      # a fixed time in the zip: the same frames give the same file


def _write_npz(out: Path, frames, total: int, progress) -> int:
    """Stream frames into `frames.npy` of a deflated zip: memory stays flat however long the render."""
    tmp = out.with_name(out.stem + ".tmp.npz")
    info = zipfile.ZipInfo("frames.npy", _ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    n = 0
    try:
        with zipfile.ZipFile(tmp, "w") as archive, archive.open(info, "w", force_zip64=True) as member:
            for frame in frames:
                if n == 0:
                    header = {"descr": "|u1", "fortran_order": False, "shape": (total, *frame.shape)}
                    np.lib.format.write_array_header_1_0(member, header)
                member.write(np.ascontiguousarray(frame, np.uint8).tobytes())
                n += 1
                if progress:
                    progress(n)
            if n != total:
                raise RuntimeError(f"{n} frames were made, {total} expected")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{out}: cannot write ({os_reason(exc)}); nothing written") from None
    except BaseException:       # interrupted or failed: no half-written file stays behind
        tmp.unlink(missing_ok=True)
        raise
    return n


def _write_mp4(out: Path, writer: VideoWriter, frames, progress, actions) -> int:
    try:
        for frame, action in zip(frames, actions):
            writer.write(frame, action)
            if progress:
                progress(writer.frames)
        writer.close()
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({os_reason(exc)}); {partial(out, writer.abandon())}") from None
    except UserError as exc:        # a bad file met mid-way (a replay's seed, say)
        raise UserError(f"{exc}; {partial(out, writer.abandon())}") from None
    except KeyboardInterrupt as exc:
        try:
            writer.close()          # the frames so far, as a complete file
            # Counted in the file: a signal between counting a frame and handing it to the
            # encoder left the message one frame ahead of the file (measured: 322 said, 321 kept).
            kept = count_frames(writer.path)
            if kept == 0:
                writer.path.unlink(missing_ok=True)         # the module's rule: a file that plays none goes
        except OSError:
            kept = writer.abandon()
        raise Interrupted(getattr(exc, "signum", signal.SIGINT), partial(out, kept)) from None
    except BaseException:
        writer.abandon()
        raise
    return writer.frames


def partial(out: Path, frames: int) -> str:
    """What an .mp4 cut short left, for the message."""
    return f"partial: {frames} frames kept in {out}" if frames else "nothing written"


def count_frames(path: Path) -> int:
    """The video frames an MP4 holds, counted from its packets (nothing is decoded); 0 if unreadable."""
    import av
    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except (av.FFmpegError, OSError, ValueError):
        return 0


def repair_fragmented_mp4(path: Path) -> int:
    """Truncate a fragmented MP4 after its last complete fragment; returns the new size.

    Top-level boxes are [size:4][type:4]...; a write cut short leaves a last box whose
    size runs past the end of the file, which some decoders choke on.
    """
    size = os.path.getsize(path)
    good = pos = 0
    with open(path, "rb") as f:
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box = int.from_bytes(head[:4], "big")
            kind = head[4:8]
            if box == 1 and len(head) == 16:
                box = int.from_bytes(head[8:16], "big")
            if box < 8 or pos + box > size:
                break
            pos += box
            if kind in (b"moov", b"mdat", b"mfra"):      # ends of a complete header or fragment
                good = pos
    if good < size:
        os.truncate(path, good)
    return good


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
