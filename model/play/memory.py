"""Spatial memory: posed keyframes of what the session has shown, recalled into new views.

The geometry world knows, for every frame it makes, the frame's depth and the camera's
pose (the sum of its own predicted motions). The memory keeps some of those frames as
keyframes: frame, depth and pose. Each step it picks the keyframe that saw the new view
best (closest in heading and position, old enough that the warp of the last frame no
longer covers it) and the runtime reprojects it into the new view as a second prior.
Turn around and back, or walk out and return, and the place is the one you saw.

Bounded: `capacity` keyframes in preallocated arrays (about 0.1 MB each at 128x96), so
memory is flat over any session length; when full, the keyframe used least recently
goes. Anchored: poses are float64 relative to an anchor that is moved to the camera
whenever the camera strays more than ANCHOR_RANGE from it, so precision never decays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_AGE = 8              # frames: younger views are the warp's job
NOVEL_TURN = 15.0        # degrees from every keyframe's heading (at the same spot): a new keyframe
NOVEL_MOVE = 24.0        # map units from every keyframe: a new keyframe
REST_TURN = 3.0          # degrees: while the camera rests, a keyframe this close in heading...
REST_MOVE = 4.0          # ...and in map units is still new: look around and back, and the view is kept
RECALL_TURN = 50.0       # degrees: further off, a keyframe shows too little of the view
RECALL_MOVE = 192.0      # map units
ANCHOR_RANGE = 4096.0    # map units


def advance_pose(pose: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Pose (x, y, eye z, yaw deg) after a motion (dyaw, df, dr, dz) in its own camera's axes."""
    x, y, z, yaw = pose
    a = np.radians(yaw)
    df, dr = float(motion[1]), float(motion[2])
    return np.array([x + df * np.cos(a) + dr * np.sin(a), y + df * np.sin(a) - dr * np.cos(a),
                     z + float(motion[3]), (yaw + float(motion[0])) % 360.0])


def relative_motion(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The motion (dyaw, df, dr, dz) that takes camera pose `source` to `target` (the inverse
    of `advance_pose`, and what `reproject` takes)."""
    dyaw = (target[3] - source[3] + 180.0) % 360.0 - 180.0
    a = np.radians(source[3])
    dx, dy = target[0] - source[0], target[1] - source[1]
    return np.array([dyaw, dx * np.cos(a) + dy * np.sin(a), dx * np.sin(a) - dy * np.cos(a),
                     target[2] - source[2]], np.float32)


def view_distance(poses: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading difference (degrees) and distance (map units) of each of `poses` to `pose`."""
    turn = np.abs((poses[:, 3] - pose[3] + 180.0) % 360.0 - 180.0)
    return turn, np.hypot(poses[:, 0] - pose[0], poses[:, 1] - pose[1])


def gap(turn, dist):
    """How far apart two views are, from the turn (degrees) and distance (map units) between
    their cameras: the score `pick_view` ranks keyframes by."""
    return turn / RECALL_TURN + dist / RECALL_MOVE


def view_gap(motion: np.ndarray) -> float:
    """`gap` for a motion (dyaw, df, dr, dz) between two cameras."""
    return float(gap(abs(float(motion[0])), float(np.hypot(motion[1], motion[2]))))


def pick_view(poses: np.ndarray, ages: np.ndarray, pose: np.ndarray, distance=None) -> int | None:
    """The index of the pose that saw `pose`'s view best, or None: one rule for play and training.
    `distance`: `view_distance(poses, pose)`, if the caller has it already."""
    turn, dist = view_distance(poses, pose) if distance is None else distance
    score = gap(turn, dist)
    score[(ages < MIN_AGE) | (turn > RECALL_TURN) | (dist > RECALL_MOVE)] = np.inf
    if len(score) == 0 or not np.isfinite(score.min()):
        return None
    return int(np.argmin(score))


@dataclass(frozen=True)
class MemorySnapshot:
    images: tuple                # per slot: (frame, trust, depth, seen), shared with the memory (never written in place)
    poses: np.ndarray
    born: np.ndarray
    used: np.ndarray
    anchor: np.ndarray
    count: int
    strayed: np.ndarray


class KeyframeMemory:
    """Keyframes live in slots as immutable (frame, trust, depth, seen) tuples (seen: the depth each
    pixel's colour was seen at, for the light: model.nets.geonets.recall), so a snapshot (the player
    takes one a frame, for rewind) copies only the small pose arrays and the slot list."""

    def __init__(self, capacity: int, frame_hw: tuple[int, int]):
        self.capacity, self.frame_hw = capacity, frame_hw
        self.images: list = [None] * capacity
        self.poses = np.zeros((capacity, 4), np.float64)       # relative to the anchor
        self.born = np.zeros(capacity, np.int64)               # frame index of the keyframe
        self.used = np.zeros(capacity, np.int64)               # last frame it was recalled or made
        self.anchor = np.zeros(4)
        self.count = 0
        self.strayed = np.zeros(capacity)                      # the furthest the camera went from each (view_gap)
        self.recalled_strayed = 0.0                            # and that of the keyframe recall gave last

    @property
    def budget_bytes(self) -> int:
        """The most the keyframes can hold: capacity x (uint8 frame + uint8 trust + float32 depth and seen)."""
        h, w = self.frame_hw
        return self.capacity * (h * w * 3 + h * w + h * w * 4 * 2) + self.poses.nbytes + self.born.nbytes * 2

    def clear(self) -> None:
        self.images, self.count, self.anchor = [None] * self.capacity, 0, np.zeros(4)
        self.strayed[:], self.recalled_strayed = 0.0, 0.0

    def local(self, pose: np.ndarray) -> np.ndarray:
        """A session pose in anchor coordinates; moves the anchor when the camera strays."""
        rel = pose - self.anchor
        if np.hypot(rel[0], rel[1]) > ANCHOR_RANGE:
            shift = np.array([rel[0], rel[1], 0.0, 0.0])
            self.poses[:self.count] -= shift
            self.anchor = self.anchor + shift
            rel = rel - shift
        return rel

    def consider(self, frame: np.ndarray, trust: np.ndarray, depth: np.ndarray, pose: np.ndarray,
                 index: int, resting: bool = False, seen: np.ndarray | None = None) -> bool:
        """Keep the frame (with its per-pixel trust, model.play.geo_session) as a keyframe if no
        keyframe saw it from about here; from much nearer while the camera rests, where a
        player stops to look around (walking, that would churn the memory every frame)."""
        pose = self.local(pose)
        if self.count:
            turn, dist = view_distance(self.poses[:self.count], pose)
            near_turn, near_move = (REST_TURN, REST_MOVE) if resting else (NOVEL_TURN, NOVEL_MOVE)
            if np.any((turn < near_turn) & (dist < near_move)):
                return False
        slot = self.count if self.count < self.capacity else int(np.argmin(self.used))
        depth = np.asarray(depth, np.float32).copy()
        seen = depth if seen is None else np.asarray(seen, np.float32).copy()
        self.images[slot] = (frame.copy(), np.asarray(trust, np.uint8).copy(), depth, seen)
        self.poses[slot] = pose
        self.born[slot] = self.used[slot] = index
        self.strayed[slot] = 0.0
        self.count = min(self.count + 1, self.capacity)
        return True

    def recall(self, pose: np.ndarray, index: int):
        """(frame, trust, depth, seen, motion from its camera to `pose`) of the best keyframe, or None."""
        pose = self.local(pose)
        distance = view_distance(self.poses[:self.count], pose)
        self.strayed[:self.count] = np.maximum(self.strayed[:self.count], gap(*distance))
        k = pick_view(self.poses[:self.count], index - self.born[:self.count], pose, distance)
        if k is None:
            return None
        self.used[k] = index
        self.recalled_strayed = float(self.strayed[k])
        return (*self.images[k], relative_motion(self.poses[k], pose))

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot(tuple(self.images), self.poses.copy(), self.born.copy(), self.used.copy(),
                              self.anchor.copy(), self.count, self.strayed.copy())

    def restore(self, snap: MemorySnapshot) -> None:
        self.images = list(snap.images)
        self.poses, self.born, self.used = snap.poses.copy(), snap.born.copy(), snap.used.copy()
        self.anchor, self.count = snap.anchor.copy(), snap.count
        self.strayed = snap.strayed.copy()

    def trail(self) -> np.ndarray:
        """Keyframe positions (x, y) in session coordinates, for the map."""
        return self.poses[:self.count, :2] + self.anchor[:2]
