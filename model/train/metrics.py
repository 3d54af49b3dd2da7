"""Frame metrics for eval: PSNR, SSIM, sharpness, view shift, and the view's motion by
dense optical flow (OpenCV's Farneback)."""
from __future__ import annotations

import cv2
import numpy as np

from model.play.filters import box_mean

PSNR_CAP = 100.0          # identical frames: report this instead of infinity
VIEW_ROWS = 70            # the view above the weapon sprite at 128x96 (docs/design.md, "Spatial memory")
VIEW_PSNR_CAP = 40.0      # look-back PSNR cap: two renders of one view differ only by noise above it
FLOW_MARGIN = 8           # columns at each side, where content enters or leaves and flow means little


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_from_mse(m: float) -> float:
    return PSNR_CAP if m == 0 else min(PSNR_CAP, float(10 * np.log10(255.0 ** 2 / m)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_from_mse(mse(a, b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over channels with a 7x7 box window (values in [0, 255])."""
    x, y = a.astype(np.float64) / 255.0, b.astype(np.float64) / 255.0
    mx, my = box_mean(x), box_mean(y)
    vx, vy, cxy = box_mean(x * x) - mx ** 2, box_mean(y * y) - my ** 2, box_mean(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def gray(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: falls as a frame blurs."""
    g = gray(frame)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def horizontal_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Pixels the view content moved right from a to b (phase correlation, +/- W/2)."""
    ga, gb = gray(a), gray(b)
    ga, gb = ga - ga.mean(), gb - gb.mean()
    window = np.hanning(ga.shape[1])[None, :] * np.hanning(ga.shape[0])[:, None]
    fa, fb = np.fft.fft2(ga * window), np.fft.fft2(gb * window)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    w = corr.shape[1]
    return float(dx - w if dx > w // 2 else dx)


def dense_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W, 2) Farneback flow from frame a to frame b in pixels: where a's content went.

    Three pyramid levels follow the 4-8 px a tic of a fast turn at 128x96; a 21 px window
    reads the engine's turn as 0.73-0.94x the planar projection's (flat walls and floors
    carry little texture), a 15 px one as 0.73-0.93x (5 maps, measured)."""
    ga, gb = (cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (a, b))
    return cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=3, winsize=21,
                                        iterations=3, poly_n=5, poly_sigma=1.1, flags=0)


def view_motion(a: np.ndarray, b: np.ndarray, kind: str) -> float:
    """The view's motion from a to b over the top VIEW_ROWS rows (the weapon left out).

    "pan": mean horizontal flow in px, + when content moves right (turning or strafing left).
    "zoom": the expansion rate of the flow field per step, + when walking forward. Fitted
    with a free translation, flow = s * (x, y) + t, so the walking bob's vertical shift and
    where the focus of expansion lies do not change s."""
    f = dense_flow(a, b)[:VIEW_ROWS, FLOW_MARGIN:a.shape[1] - FLOW_MARGIN].astype(np.float64)
    if kind == "pan":
        return float(f[..., 0].mean())
    if kind != "zoom":
        raise ValueError(f"unknown motion kind {kind!r}")
    ys, xs = np.mgrid[:f.shape[0], :f.shape[1]].astype(np.float64)
    xs, ys = xs - xs.mean(), ys - ys.mean()
    u, v = f[..., 0] - f[..., 0].mean(), f[..., 1] - f[..., 1].mean()
    return float((u * xs + v * ys).sum() / (xs * xs + ys * ys).sum())


def view_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR over the top VIEW_ROWS rows, capped at VIEW_PSNR_CAP."""
    return min(VIEW_PSNR_CAP, psnr(a[:VIEW_ROWS], b[:VIEW_ROWS]))


def return_score(start: np.ndarray, away: np.ndarray, final: np.ndarray) -> float:
    """How much more the view on return matches the start than the view away did (dB):
    about 0 for a world that forgets, or for a frozen picture (final = away = start)."""
    return view_psnr(final, start) - view_psnr(away, start)
