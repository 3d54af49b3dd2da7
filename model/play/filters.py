"""Image filters the runtime and eval share (numpy only: the runtime ships without OpenCV)."""
from __future__ import annotations

import numpy as np


def box_mean(x: np.ndarray, r: int = 3, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge padding, via summed-area tables, over `axes`
    (two consecutive axes: rows, columns)."""
    k = 2 * r + 1
    a0, a1 = axes
    pad = [(0, 0)] * x.ndim
    pad[a0] = pad[a1] = (r + 1, r)
    s = np.pad(x, pad, mode="edge").cumsum(a0).cumsum(a1)

    def cut(lo0, hi0, lo1, hi1):
        idx = [slice(None)] * x.ndim
        idx[a0], idx[a1] = slice(lo0, hi0), slice(lo1, hi1)
        return s[tuple(idx)]

    return (cut(k, None, k, None) - cut(None, -k, k, None) - cut(k, None, None, -k) + cut(None, -k, None, -k)) / (k * k)
