"""Camera geometry of the freedoom world: the pinhole model, camera motion, reprojection.

A Doom frame is mostly the previous frame seen from a slightly moved camera. Given the
previous frame's depth and the camera's motion over one tic, `reproject` warps the
previous frame into the new view (backward warping with `grid_sample`, so it runs in
ONNX Runtime as GridSample) and says which pixels it covers. The constants are measured
against the engine (`python -m model.train.geometry_fit`), not assumed.

Coordinates. Map units; the engine's ANGLE is in degrees, counter-clockwise, 0 = +x.
A camera point is (f, r, h): forward, to the right, up, from the eye. The image has u
to the right and v down, pixel centres at integer + 0.5:
    u = cx + fx * r / f,      v = cy - fy * h / f
A motion is (dyaw, df, dr, dz) in the *source* camera's axes: the new eye sits at
(df, dr, dz) in the old camera's (f, r, h), turned left by dyaw degrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.play.world import FRAME_H, FRAME_W


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics at the model's 128x96 (measured: model/train/geometry_fit.py)."""
    fx: float = FRAME_W / 2            # 90 degree horizontal field of view
    fy: float = 1.2 * FRAME_W / 2      # Doom's tall pixels
    cx: float = FRAME_W / 2
    cy: float = FRAME_H / 2
    depth_unit: float = 8.0            # map units per level of the engine's 8-bit depth buffer
    far_level: int = 63                # walls beyond this are clipped to it in the buffer

    @property
    def far(self) -> float:
        return self.depth_unit * self.far_level


CAMERA = Camera()


def motion_between(pose0: torch.Tensor, pose1: torch.Tensor, eye_z0: torch.Tensor,
                   eye_z1: torch.Tensor) -> torch.Tensor:
    """Engine poses (..., 4: x, y, z, angle deg) -> motion (..., 4: dyaw deg, df, dr, dz)."""
    dyaw = torch.remainder(pose1[..., 3] - pose0[..., 3] + 180.0, 360.0) - 180.0
    a = (pose0[..., 3] * (math.pi / 180.0))
    dx, dy = pose1[..., 0] - pose0[..., 0], pose1[..., 1] - pose0[..., 1]
    df = dx * torch.cos(a) + dy * torch.sin(a)
    dr = dx * torch.sin(a) - dy * torch.cos(a)
    return torch.stack([dyaw, df, dr, eye_z1 - eye_z0], dim=-1)


def pixel_grid(h: int, w: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (h, w) each, at the frame size h x w."""
    v, u = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32) + 0.5,
                          torch.arange(w, device=device, dtype=torch.float32) + 0.5, indexing="ij")
    return u, v


def _to_source(u, v, t, motion, cam: Camera):
    """Target pixel (u, v) at target depth t -> the point in the source camera (f, r, h)."""
    yaw = (motion[:, 0] * (math.pi / 180.0))[:, None, None]
    df, dr, dz = (motion[:, i][:, None, None] for i in (1, 2, 3))
    r_t = (u - cam.cx) / cam.fx * t
    h_t = -(v - cam.cy) / cam.fy * t
    cos, sin = torch.cos(yaw), torch.sin(yaw)
    f_s = df + t * cos + r_t * sin
    r_s = dr - t * sin + r_t * cos
    return f_s, r_s, h_t + dz


def _target_depth(f_s, r_s, motion):
    """Forward distance, in the target camera, of a source-camera point (f_s, r_s)."""
    yaw = (motion[:, 0] * (math.pi / 180.0))[:, None, None]
    df, dr = motion[:, 1][:, None, None], motion[:, 2][:, None, None]
    return (f_s - df) * torch.cos(yaw) - (r_s - dr) * torch.sin(yaw)


def _sample(image: torch.Tensor, u_s, v_s, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
    """image (B, C, H, W) read at source pixel coordinates (B, H', W')."""
    h, w = image.shape[-2:]
    grid = torch.stack([u_s / w * 2 - 1, v_s / h * 2 - 1], dim=-1)
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=False)


def reproject(image: torch.Tensor, depth: torch.Tensor, motion: torch.Tensor,
              cam: Camera = CAMERA, iterations: int = 2, mode: str = "bilinear",
              occlusion: bool = True, padding: str = "border", depths: bool = False,
              also: str | None = None):
    """Warp `image` (B, C, H, W), seen with `depth` (B, H, W) map units, by `motion` (B, 4).

    Backward warping needs the target view's depth, which is unknown: start from the source
    depth at the same pixel and refine it by a fixed-point step (the depth of the source
    point found last time, seen from the target). Returns the warped image and a validity
    mask (B, 1, H, W): 1 where the source point lies inside the old view, in front of both
    cameras, and agrees with the depth guess (0 where the motion uncovers something).
    `mode` "nearest" copies source pixels whole: repeated warps then never blur. Without
    `occlusion`, valid means inside the old view only. `padding` is grid_sample's, for what
    lies outside the old view ("reflection" mirrors the view's texture into it). With
    `depths`, also each warped pixel's depth in the old view and in the new one (B, H, W).
    With `also` (a grid_sample mode), also the image sampled in that mode at the same points
    (border padding), appended last.
    """
    b, _, h, w = image.shape
    u, v = pixel_grid(h, w, image.device)
    u, v = u.expand(b, h, w), v.expand(b, h, w)
    t = depth
    d = depth[:, None]
    for _ in range(iterations):
        f_s, r_s, h_s = _to_source(u, v, t, motion, cam)
        f_s = f_s.clamp_min(1.0)
        u_s, v_s = cam.cx + cam.fx * r_s / f_s, cam.cy - cam.fy * h_s / f_s
        seen = _sample(d, u_s, v_s, mode="nearest")[:, 0]
        guess = t
        t = _target_depth(seen, r_s / f_s * seen, motion).clamp_min(1.0)   # the point seen there
    inside = (u_s >= 0.5) & (u_s <= w - 0.5) & (v_s >= 0.5) & (v_s <= h - 0.5)   # both bilinear taps
    agree = (t - guess).abs() <= 0.1 * guess + cam.depth_unit
    valid = ((inside & agree) if occlusion else inside).to(image.dtype)[:, None]
    out = (_sample(image, u_s, v_s, mode, padding), valid) + ((seen, t) if depths else ())
    return out + ((_sample(image, u_s, v_s, also),) if also else ())


def yaw_warp_x(x: torch.Tensor, dyaw_deg: float, cam: Camera = CAMERA) -> torch.Tensor:
    """Where a pixel column x moves under a pure turn left by dyaw (the closed form)."""
    return cam.cx + cam.fx * torch.tan(torch.atan((x - cam.cx) / cam.fx) + math.radians(dyaw_deg))
