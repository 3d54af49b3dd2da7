"""Where the camera has been, for the map: a bounded, subsampled trail of the poses that the
frame packets carry (app.packets.MapState), without Qt.

It follows the session's own timeline: a reset clears it, a rewind cuts off the abandoned
future, and while scrubbing it shows only the part up to the frame on screen. The poses are
the model's own (the sum of its predicted motions); no engine is involved.
"""
from __future__ import annotations

import numpy as np

TRAIL_CAPACITY = 4096     # positions kept; when full the oldest quarter goes, so the recent past stays
TRAIL_STEP = 4.0          # map units between kept positions (a quarter of the player's radius)


class PoseTrail:
    def __init__(self, capacity: int = TRAIL_CAPACITY, step: float = TRAIL_STEP):
        self.capacity, self.step = capacity, step
        self._rows = np.zeros((capacity, 4))      # frame index, x, y, yaw
        self._n = 0
        self.geo = None                           # the newest MapState, or None (a latent world)
        self.shown: int | None = None             # the frame shown while scrubbing, else None

    def clear(self) -> None:
        self._n, self.geo, self.shown = 0, None, None

    def on_packet(self, packet) -> None:
        geo = packet.geo
        if geo is None:
            return self.clear()
        if packet.kind == "reset":
            self._n = 0
        elif packet.kind == "rewind":
            self._n = int(np.searchsorted(self._rows[:self._n, 0], packet.index, side="right"))
        self.geo = geo
        if packet.kind == "scrub":
            self.shown = packet.index
            return
        self.shown = None
        self._add(packet.index, geo.pose)

    def _add(self, index: int, pose) -> None:
        x, y, yaw = pose
        if self._n and np.hypot(x - self._rows[self._n - 1, 1], y - self._rows[self._n - 1, 2]) < self.step:
            return
        if self._n == self.capacity:
            keep = self.capacity * 3 // 4
            self._rows[:keep] = self._rows[self._n - keep:self._n]
            self._n = keep
        self._rows[self._n] = (index, x, y, yaw)
        self._n += 1

    def _visible(self) -> int:
        """How many kept rows belong to the frames up to the one shown."""
        if self.shown is None:
            return self._n
        return int(np.searchsorted(self._rows[:self._n, 0], self.shown, side="right"))

    @property
    def points(self) -> np.ndarray:
        """(N, 2) positions, oldest first, up to the frame shown."""
        return self._rows[:self._visible(), 1:3]

    @property
    def pose(self) -> tuple[float, float, float] | None:
        """(x, y, yaw) of the camera on screen: the newest pose, or while scrubbing the last
        kept one at or before the frame shown."""
        if self.geo is None:
            return None
        if self.shown is None:
            return self.geo.pose
        n = self._visible()
        return tuple(self._rows[n - 1, 1:]) if n else self.geo.pose

    @property
    def keyframes(self) -> np.ndarray:
        return np.zeros((0, 2)) if self.geo is None else np.asarray(self.geo.keyframes).reshape(-1, 2)
