"""The map: the training views of each map, posed, that the world remembers its places by.

Geometry carries what the camera has seen; what it has not seen, a regression painter can
only guess (its mean) and the atlas can only imagine. But the world was trained on these
maps: a few thousand of their captured views, each with its depth and camera pose
(model.train.map_build: drawn as the captures went, plus the places the scene seeds start
from). Once the session knows where on which map its camera is, the MAP_VIEWS map views
nearest the camera are warped into every new view like keyframes of its own memory, and what
a walk or a turn uncovers is what the map holds there (measured with the engine's poses:
PSNR at 1 s and 4 s, +2.1 dB and +2.1 dB over one warp of the last frame with the 3 nearest).

Nothing comes from an engine at play time: the session locates its first frame among the
map views (`WorldMap.locate`): candidates by a coarse thumbnail, then for each the camera
motion that best carries its points (with its depth) onto the frame's colours and predicted
depth, coarse to fine. A frame that no map view explains well enough (a map the world was
not trained on, a made-up seed image) is left unlocated, and the session plays as without
a map. From then on the camera's place on the map is the located pose moved by the motion
net's own motions.
"""
from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.play.errors import UserError
from model.play.world import load_arrays
from model.play.memory import advance_pose, gap, relative_motion

MAP_FILE = "map.npz"           # in a run folder and in a world pack
KEYS = ("jpeg", "offsets", "levels", "pose", "map", "thumbs")
JPEG_QUALITY = 92              # 5.5 KB a view at 38 dB against the frame (no chroma subsampling)
DEPTH_UNIT = 8.0               # map units per depth level (model.nets.geometry.Camera.depth_unit)
DECODED = 64                   # views kept decoded
EYE_STEP = 24.0                # map units: views whose eyes differ more are on different floors
THUMB = (8, 16)                # thumbnail blocks over the top 64 rows (8x8 pixels each at 128x96)
SHIFT = 2                      # thumbnail columns matched shifted by up to this many blocks
CANDIDATES = 16                # map views searched per locate, nearest by thumbnail...
FINALISTS = 4                  # ...and refined, best by the coarse search
POINT_STEP = 4                 # every 4th pixel of a view's top 70 rows carries its colour into the frame
CAP = 60.0                     # a point's error is capped: occlusions and sprites are not the view's fault
DEPTH_SCALE = 40.0             # colour levels per unit of log-depth error
# A locate is refused unless the best motion carries points both ways (view to frame, frame to
# view) with a mean colour error of at most SURE, or with a mean error (colour and depth) of at
# most ACCEPT and at least OVERLAP of each landing in view. The depth net's depth is off by
# more than the colours are (a seed's own view scored 1.5-2.9 on colour, 5-29 with depth).
# Set on 24 held-out starts of the training maps, 24 of the held-out maps and the 20 seeds:
# 13 right on the first (none wrong), none on the second (least colour error 6.8, least
# with depth 15.3), all 20 seeds. Re-measure on fresh starts before trusting the margins.
SURE = 3.0
ACCEPT = 13.8
OVERLAP = 0.75
CONFIRM_VIEWS = 4              # and unless SURE, one of the views this near the place explains it too
CONFIRM_GAP = 1.0              # (view_gap: 50 degrees, or 192 units)...
CONFIRM_ACCEPT = 15.0          # ...within this and OVERLAP, seen from the place the first view found (not refined)
# Coarse to fine: (dyaw deg, df, dr, dz) steps and half-widths of each search grid.
SEARCH = (((6.0, 24.0, 24.0, 0.0), (7, 4, 4, 0)),
          ((2.0, 8.0, 8.0, 4.0), (2, 2, 2, 2)),
          ((0.7, 3.0, 3.0, 2.0), (2, 2, 2, 1)))


@dataclass(frozen=True)
class Located:
    index: int                 # the map view that explained the frame best
    pose: np.ndarray           # (4,) the frame's camera on the map: x, y, eye z, yaw degrees
    map: int                   # its map
    score: float               # mean error of the best motion's points (lower is better)


class WorldMap:
    """Posed views of the training maps: locate a frame among them, find the nearest to a pose.
    Colours are kept as JPEG (6 KB a view against 37 KB) and decoded when a view is used."""

    def __init__(self, jpeg: np.ndarray, offsets: np.ndarray, levels: np.ndarray, pose: np.ndarray,
                 maps: np.ndarray, thumbs: np.ndarray):
        self._jpeg, self._offsets, self.levels = jpeg, offsets, levels
        self.pose, self.maps = pose.astype(np.float64), maps.astype(np.int64)
        self.hw = tuple(levels.shape[1:3])
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()
        self._thumbs = thumbs.astype(np.float32)      # of the decoded views, stored: decoding all took 1.7 s
        h, w = self.hw
        v, u = np.mgrid[POINT_STEP // 2:min(70, h):POINT_STEP, POINT_STEP // 2:w:POINT_STEP]
        self._v, self._u = v.ravel(), u.ravel()

    def __len__(self) -> int:
        return len(self.levels)

    def frame(self, k: int) -> np.ndarray:
        """View k's colours (H, W, 3) uint8, decoded once while it stays among the last DECODED used."""
        if k in self._decoded:
            self._decoded.move_to_end(k)
            return self._decoded[k]
        try:
            image = decode_jpeg(self._jpeg[self._offsets[k]:self._offsets[k + 1]].tobytes())
        except (OSError, ValueError, SyntaxError) as e:       # what Pillow raises on a broken image
            raise UserError(f"map view {k}: its image does not decode ({e})") from None
        if image.shape != self.hw + (3,):
            raise UserError(f"map view {k}: its image is {image.shape[1]}x{image.shape[0]}, not the map's")
        self._decoded[k] = image
        if len(self._decoded) > DECODED:
            self._decoded.popitem(last=False)
        return image

    def depth(self, k: int) -> np.ndarray:
        """View k's depth (H, W) float32 map units (the weapon's pixels at the nearest level)."""
        return np.maximum(self.levels[k], 1).astype(np.float32) * DEPTH_UNIT

    def world(self, k: int) -> np.ndarray:
        """Where view k shows the world (H, W) bool: not its weapon sprite."""
        return self.levels[k] > 0

    def locate(self, frame: np.ndarray, depth: np.ndarray) -> Located | None:
        """Where on the map the camera that saw `frame` (H, W, 3 uint8), with `depth` (H, W map
        units, the depth net's), stands; None if no map view explains it within ACCEPT.
        The CANDIDATES views nearest by thumbnail are searched coarsely on every other sampled
        point; the FINALISTS best of them are refined on all."""
        d = self._thumb_distance(_thumbs(frame[None])[0])
        query = self._query(frame, np.asarray(depth, np.float32))
        sparse = _every_other(query)
        found = []
        for k in np.argsort(d)[:CANDIDATES]:
            points = self._points(int(k))
            if points is not None:
                grid = _grid(np.zeros(4), *SEARCH[0])
                scores = _score(_every_other(points), sparse, grid, self.hw)
                found.append((float(scores.min()), int(k), grid[np.argmin(scores)], points))
        best = None
        for _, k, motion, points in sorted(found, key=lambda f: f[0])[:FINALISTS]:
            for steps, half in SEARCH[1:]:
                grid = _grid(motion, steps, half)
                scores = _score(points, query, grid, self.hw)
                motion, score = grid[np.argmin(scores)], float(scores.min())
            if best is None or score < best[0]:
                best = (score, k, motion, points)
        if best is None:
            return None
        _, k, motion, points = best
        colour, error, share = _fit(points, query, motion, self.hw)
        pose = advance_pose(self.pose[k], motion)
        if colour > SURE and (error > ACCEPT or share < OVERLAP or not self._confirmed(k, pose, query)):
            return None
        return Located(k, pose, int(self.maps[k]), error)

    def _confirmed(self, k: int, pose: np.ndarray, query) -> bool:
        """Another map view near `pose` explains the frame from there as well: a wrong place that one view happens to explain (a like-looking room of another
        map) seldom has a second view that does (measured on 24 fresh starts of the training
        maps: of three located by one view, two were on the wrong map, and neither had one)."""
        views, gaps = self.nearest(pose, int(self.maps[k]), CONFIRM_VIEWS + 1)
        for j, g in zip(map(int, views), gaps):
            points = None if j == k or g > CONFIRM_GAP else self._points(j)
            if points is not None:
                _, error, share = _fit(points, query, relative_motion(self.pose[j], pose), self.hw)
                if error <= CONFIRM_ACCEPT and share >= OVERLAP:
                    return True
        return False

    def _thumb_distance(self, thumb: np.ndarray) -> np.ndarray:
        """Each view's thumbnail against `thumb`: the least mean square difference over block
        shifts of up to SHIFT columns (a view turned 12 degrees from the frame still ranks first;
        measured on 24 held-out starts: the nearest view ranked 0 or 1 on 17, against 13 unshifted)."""
        views, q = self._thumbs.reshape(-1, *THUMB, 3), thumb.reshape(*THUMB, 3)
        best = None
        for s in range(-SHIFT, SHIFT + 1):
            a, b = views[:, :, max(0, s):THUMB[1] + min(0, s)], q[:, max(0, -s):THUMB[1] + min(0, -s)]
            d = ((a - b) ** 2).mean((1, 2, 3))
            best = d if best is None else np.minimum(best, d)
        return best

    def nearest(self, pose: np.ndarray, map_id: int, count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The `count` views of map `map_id` nearest `pose` by the memory's view gap, nearest first,
        and their gaps."""
        same = np.flatnonzero(self.maps == map_id)
        c = self.pose[same]
        turn = np.abs((c[:, 3] - pose[3] + 180.0) % 360.0 - 180.0)
        gaps = gap(turn, np.hypot(c[:, 0] - pose[0], c[:, 1] - pose[1]))
        order = np.argsort(gaps, kind="stable")[:count]
        return same[order], gaps[order]

    def _points(self, k: int):
        """View k's sampled world points in its camera (f, r, h) and their colours, or None."""
        fx, fy, cx, cy = _pinhole(self.hw)
        w = self.hw[1]
        levels = self.levels[k][self._v, self._u]
        keep = levels > 0
        if keep.sum() < 50:
            return None
        v, u = self._v[keep] + 0.5, self._u[keep] + 0.5
        f = levels[keep].astype(np.float32) * DEPTH_UNIT
        image = self.frame(k).reshape(-1, 3).astype(np.float32)
        colour = image[self._v[keep] * w + self._u[keep]]
        return f, (u - cx) / fx * f, -(v - cy) / fy * f, colour, image, np.log(self.depth(k)).ravel()

    def _query(self, frame: np.ndarray, depth: np.ndarray):
        """The frame's sampled points, as `_points` (its depth: the depth net's)."""
        fx, fy, cx, cy = _pinhole(self.hw)
        w = self.hw[1]
        v, u = self._v + 0.5, self._u + 0.5
        f = depth[self._v, self._u].astype(np.float32)
        image = frame.reshape(-1, 3).astype(np.float32)
        return (f, (u - cx) / fx * f, -(v - cy) / fy * f, image[self._v * w + self._u], image,
                np.log(np.maximum(depth, 1.0)).astype(np.float32).ravel())


def _pinhole(hw) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of model.nets.geometry's camera at frame size hw (fx = W/2, fy = 1.2 fx)."""
    h, w = hw
    return w / 2, 1.2 * w / 2, w / 2, h / 2


def decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def encode_jpeg(frame: np.ndarray) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(frame).save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


def _thumbs(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) -> (N, 8*16*3) block means of the top 64 rows, each less its own mean."""
    n, h, w, _ = frames.shape
    bh, bw = 64 // THUMB[0], w // THUMB[1]
    t = frames[:, :64].astype(np.float32).reshape(n, THUMB[0], bh, THUMB[1], bw, 3).mean((2, 4)).reshape(n, -1)
    return t - t.mean(1, keepdims=True)


def _every_other(points):
    """Points as `WorldMap._points` gives them, every other one (the coarse search's)."""
    return tuple(p[::2] for p in points[:4]) + tuple(points[4:])


def _grid(centre: np.ndarray, steps, half) -> np.ndarray:
    axes = [centre[i] + steps[i] * np.arange(-half[i], half[i] + 1) for i in range(4)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 4)


def _project(f, r, hgt, motions: np.ndarray, hw, inverse: bool = False):
    """Camera points (P,) seen from the camera moved by each motion (M, 4: the new camera in the
    old one's axes, model.nets.geometry), or with `inverse` from the old camera, seen from the
    new: flat pixel indices, log forward distances (M, P) and whether each lands in view."""
    h, w = hw
    fx, fy, cx, cy = _pinhole(hw)
    motions = motions.astype(np.float32)
    yaw = np.radians(motions[:, 0])[:, None]
    cos, sin = np.cos(yaw), np.sin(yaw)
    if inverse:
        ft = motions[:, 1:2] + f[None] * cos + r[None] * sin
        rt = motions[:, 2:3] - f[None] * sin + r[None] * cos
        ht = hgt[None] + motions[:, 3:4]
    else:
        a, b = f[None] - motions[:, 1:2], r[None] - motions[:, 2:3]
        ft, rt, ht = a * cos - b * sin, a * sin + b * cos, hgt[None] - motions[:, 3:4]
    near = 1.0 / np.maximum(ft, 1.0)
    ut = cx + fx * rt * near
    vt = cy - fy * ht * near
    inside = (ft > 4.0) & (ut >= 0) & (ut < w) & (vt >= 0) & (vt < h)
    flat = np.clip(vt, 0, h - 1).astype(np.int32) * w + np.clip(ut, 0, w - 1).astype(np.int32)
    return flat, -np.log(near), inside


def _point_errors(colour, image, log_depth, flat, log_ft) -> np.ndarray:
    """Capped error of points (colour, at log forward distance log_ft) against an image (H*W, 3)
    float32 and its log depth (H*W,) where they land (flat pixel indices, M x P)."""
    err = np.abs(image[flat] - colour[None]).sum(-1) * (1.0 / 3.0)
    err += DEPTH_SCALE * np.abs(log_ft - log_depth[flat])
    return np.minimum(err, CAP)


def _errors(colour, image, log_depth, flat, log_ft, inside) -> np.ndarray:
    """Each motion's mean capped error, CAP for a point that lands out of view."""
    return np.where(inside, _point_errors(colour, image, log_depth, flat, log_ft), CAP).mean(1)


def _fit(view, query, motion: np.ndarray, hw) -> tuple[float, float, float]:
    """How well one motion relates a map view and the frame, both ways, over the points that
    land in view: their mean colour error, their mean error with depth, and the least share
    of points that land in view."""
    (vf, vr, vh, vcolour, vimage, vdepth), (qf, qr, qh, qcolour, qimage, qdepth) = view, query
    colours, errors, shares = [], [], []
    for colour, image, depth, (flat, log_ft, inside) in (
            (vcolour, qimage, qdepth, _project(vf, vr, vh, motion[None], hw)),
            (qcolour, vimage, vdepth, _project(qf, qr, qh, motion[None], hw, inverse=True))):
        err = _point_errors(colour, image, depth, flat, log_ft)[inside]
        colours.append(float(np.minimum(np.abs(image[flat] - colour[None]).sum(-1) / 3.0, CAP)[inside].mean())
                       if err.size else CAP)
        errors.append(float(err.mean()) if err.size else CAP)
        shares.append(float(inside.mean()))
    return float(np.mean(colours)), float(np.mean(errors)), min(shares)


def _score(view, query, motions: np.ndarray, hw) -> np.ndarray:
    """How badly each motion (M, 4) relates a map view to the frame: the view's points carried
    into the frame, and the frame's carried back into the view, each by its mean capped error
    with CAP for a point that lands out of view (a motion that looks away explains nothing,
    and a view that shows only a flat corner of the frame explains too little of it)."""
    (vf, vr, vh, vcolour, vimage, vdepth), (qf, qr, qh, qcolour, qimage, qdepth) = view, query
    forward = _errors(vcolour, qimage, qdepth, *_project(vf, vr, vh, motions, hw))
    backward = _errors(qcolour, vimage, vdepth, *_project(qf, qr, qh, motions, hw, inverse=True))
    return 0.5 * (forward + backward)


def load_map(path: Path) -> WorldMap:
    """Read a map file (npz, no pickle); a malformed one is refused by name."""
    arrays = load_arrays(path, KEYS, "map")
    jpeg, offsets, levels, pose, maps, thumbs = (arrays[k] for k in KEYS)
    n = len(levels)
    ok = (levels.ndim == 3 and levels.dtype == np.uint8 and n > 0 and levels.shape[1] >= 64
          and levels.shape[2] % THUMB[1] == 0 and jpeg.ndim == 1 and jpeg.dtype == np.uint8
          and offsets.shape == (n + 1,) and pose.shape == (n, 4) and maps.shape == (n,)
          and thumbs.shape == (n, THUMB[0] * THUMB[1] * 3))
    if not ok:
        raise UserError(f"{path}: map arrays have the wrong shapes or types")
    if offsets[0] != 0 or offsets[-1] != len(jpeg) or np.any(np.diff(offsets) <= 3):
        raise UserError(f"{path}: map image offsets are malformed")
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(thumbs))):
        raise UserError(f"{path}: map poses and thumbnails must be finite")
    starts, ends = offsets[:-1], offsets[1:]
    if not (np.all(jpeg[starts] == 0xFF) and np.all(jpeg[starts + 1] == 0xD8)
            and np.all(jpeg[ends - 2] == 0xFF) and np.all(jpeg[ends - 1] == 0xD9)):
        raise UserError(f"{path}: a map image is not a whole JPEG")
    return WorldMap(jpeg, offsets.astype(np.int64), levels, pose, maps, thumbs)


def save_map(path: Path, frames, levels, pose, maps) -> None:
    """Write atomically (a .tmp beside it, then rename). `levels` uint8: depth in levels of
    DEPTH_UNIT map units, 0 where the view shows its weapon."""
    blobs = [np.frombuffer(encode_jpeg(f), np.uint8) for f in frames]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    thumbs = np.concatenate([_thumbs(decode_jpeg(b.tobytes())[None]) for b in blobs])    # of what play decodes
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, jpeg=np.concatenate(blobs), offsets=offsets, levels=levels.astype(np.uint8),
                            pose=pose.astype(np.float32), map=maps.astype(np.int16), thumbs=thumbs.astype(np.float32))
    tmp.replace(path)
