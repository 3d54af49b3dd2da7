"""Frame metrics for eval, in numpy: PSNR, SSIM, sharpness, and view shift."""
from __future__ import annotations

import numpy as np

PSNR_CAP = 100.0          # identical frames: report this instead of infinity


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_from_mse(m: float) -> float:
    return PSNR_CAP if m == 0 else min(PSNR_CAP, float(10 * np.log10(255.0 ** 2 / m)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_from_mse(mse(a, b))


def _box(x: np.ndarray, r: int = 3) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge padding, via summed-area tables."""
    k = 2 * r + 1
    p = np.pad(x, ((r + 1, r), (r + 1, r)) + ((0, 0),) * (x.ndim - 2), mode="edge")
    s = p.cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over channels with a 7x7 box window (values in [0, 255])."""
    x, y = a.astype(np.float64) / 255.0, b.astype(np.float64) / 255.0
    mx, my = _box(x), _box(y)
    vx, vy, cxy = _box(x * x) - mx ** 2, _box(y * y) - my ** 2, _box(x * y) - mx * my
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
