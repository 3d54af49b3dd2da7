"""Scripted players for engine capture: an explorer that plays like a person, and a random baseline.

Both are pure Python + numpy, deterministic given a numpy Generator. The capture loop hands
them one Observation per tic and takes back one action (uint8 [8], canonical button order).

The explorer holds keys the way a person does (segments of 3-60 tics), walks toward open
space it has not visited yet (the depth buffer says which headings are open, a visit count
per 64x64-unit cell says which are new), tries USE on walls it walks up to (doors), and
backs off when it pushes without moving. The model learns from what the player does, so
the mix of behaviours (look around, strafe, fire, idle) matters as much as the coverage.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from model.world import N_BUTTONS, action_from_names

# Measured in the engine at 160x120 with default settings.
TURN_RATE = 3.5          # degrees per tic while a turn key is held
DEPTH_SCALE = 7.2        # map units per depth-buffer level
WALK_SPEED = 8.0         # map units per tic, walking forward at full speed
HALF_WIDTH = 80          # pixels: half the 160-px screen spans 45 degrees (90-degree FOV)

HORIZON = slice(52, 68)  # rows at eye level: walls and doors, not the floor near the feet
N_BINS = 10              # headings: 16-px column groups, about 9 degrees each
AHEAD = slice(64, 96)    # the central columns the player's body sweeps in the next steps
WALL = 9                 # depth level (~65 units): a wall right in front
OPEN = 20                # depth level (~145 units): a heading worth walking
CELL = 64                # map units per visit-count cell (the report's coverage grid)
PUSH_TICS, PUSH_DIST = 4, 2.0   # blocked: moved < 2 units over 4 pushing tics (report counts 8)
START_TICS = (8, 20)     # the engine ignores input for ~7 tics after an episode starts

_BIN_CENTRES = (np.arange(N_BINS) + 0.5) * (2 * HALF_WIDTH / N_BINS)
BIN_ANGLES = np.degrees(np.arctan((HALF_WIDTH - _BIN_CENTRES) / HALF_WIDTH))  # left is positive

IDLE = action_from_names(set())
FORWARD = action_from_names({"MOVE_FORWARD"})
BACK = action_from_names({"MOVE_BACKWARD"})
USE = action_from_names({"USE"})
FIRE = action_from_names({"ATTACK"})
TURN = {+1: action_from_names({"TURN_LEFT"}), -1: action_from_names({"TURN_RIGHT"})}
STRAFE = {+1: action_from_names({"MOVE_LEFT"}), -1: action_from_names({"MOVE_RIGHT"})}
_MOVES = slice(0, 4)

# What to do next when nothing forces a choice: (behaviour, weight).
BEHAVIOURS = (("explore", 0.70), ("look", 0.08), ("fire", 0.06), ("strafe", 0.06),
              ("back", 0.03), ("idle", 0.05), ("use", 0.02))


@dataclass(frozen=True)
class Observation:
    """What a policy sees each tic."""

    x: float
    y: float
    angle: float                       # degrees; TURN_LEFT increases it
    depth: np.ndarray | None = None    # uint8 [120,160] depth buffer (the explorer needs it)


class RandomPolicy:
    """The baseline: every tic, each button pressed independently with probability 1/2."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def act(self, obs: Observation) -> np.ndarray:
        return self.rng.integers(0, 2, N_BUTTONS, dtype=np.uint8)


def make_policy(name: str, rng: np.random.Generator) -> "Explorer | RandomPolicy":
    return {"explorer": Explorer, "random": RandomPolicy}[name](rng)


class Explorer:
    """A person-like player that walks far into the map. See the module docstring."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.plan: deque[list] = deque()        # [action, tics left], the keys to hold next
        self.visits: dict[tuple[int, int], int] = {}
        self.trail: deque[tuple[float, float]] = deque(maxlen=PUSH_TICS + 1)
        self.pushing = 0                        # consecutive tics a movement key was held
        self.door_tries: set[tuple[int, int]] = set()
        self._hold(IDLE, self._tics(*START_TICS))

    def act(self, obs: Observation) -> np.ndarray:
        self._observe(obs)
        if self._blocked(obs):
            self._unblock(obs)
        if not self.plan:
            self._choose(obs)
        step = self.plan[0]
        step[1] -= 1
        if step[1] <= 0:
            self.plan.popleft()
        self.pushing = self.pushing + 1 if step[0][_MOVES].any() else 0
        return step[0].copy()

    # ---- bookkeeping ----------------------------------------------------------------

    def _observe(self, obs: Observation) -> None:
        cell = _cell(obs.x, obs.y)
        self.visits[cell] = self.visits.get(cell, 0) + 1
        self.trail.append((obs.x, obs.y))

    def _hold(self, action: np.ndarray, tics: int) -> None:
        if tics > 0:
            self.plan.append([action, int(tics)])

    def _tics(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def _novelty(self, obs: Observation, heading: float, dist: float) -> float:
        """How new the place is `dist` units along `heading`: 1 unseen, towards 0 well-trodden."""
        rad = np.radians(heading)
        cell = _cell(obs.x + dist * np.cos(rad), obs.y + dist * np.sin(rad))
        return 1.0 / (1.0 + self.visits.get(cell, 0) / 8.0)

    # ---- reflexes: walls, doors, being stuck -------------------------------------------

    def _blocked(self, obs: Observation) -> bool:
        walking = bool(self.plan) and self.plan[0][0][0] == 1
        if walking and _ahead(obs.depth) < WALL:
            return True
        if self.pushing >= PUSH_TICS and len(self.trail) == self.trail.maxlen:
            (x0, y0), (x1, y1) = self.trail[0], self.trail[-1]
            return float(np.hypot(x1 - x0, y1 - y0)) < PUSH_DIST
        return False

    def _unblock(self, obs: Observation) -> None:
        """Try the wall as a door once per cell; otherwise back off and look for a way."""
        self.plan.clear()
        self.pushing = 0
        cell = _cell(obs.x, obs.y)
        if _ahead(obs.depth) < WALL and cell not in self.door_tries:
            self.door_tries.add(cell)
            self._hold(USE, self._tics(2, 5))
            self._hold(IDLE, self._tics(15, 30))   # a door takes most of a second to open
            return
        if self.rng.random() < 0.6:
            self._hold(BACK, self._tics(5, 14))
        else:
            self._hold(STRAFE[self._side()], self._tics(5, 12))
        self._turn_to_open(obs)

    def _turn_to_open(self, obs: Observation) -> None:
        profile = _profile(obs.depth)
        if profile.max() >= OPEN:
            self._turn_by(BIN_ANGLES[int(np.argmax(profile))])
        else:
            self._hold(TURN[self._side()], self._tics(25, 52))   # 90-180 degrees

    def _turn_by(self, degrees: float, walking: bool = False) -> None:
        key = TURN[1 if degrees > 0 else -1]
        self._hold(key | FORWARD if walking else key, round(abs(degrees) / TURN_RATE))

    def _side(self) -> int:
        return 1 if self.rng.random() < 0.5 else -1

    # ---- choices ------------------------------------------------------------------------

    def _choose(self, obs: Observation) -> None:
        names = [b[0] for b in BEHAVIOURS]
        weights = np.array([b[1] for b in BEHAVIOURS])
        getattr(self, "_" + names[self.rng.choice(len(names), p=weights / weights.sum())])(obs)

    def _explore(self, obs: Observation) -> None:
        """Turn toward the most open, least visited heading in view and walk that way."""
        profile = _profile(obs.depth)
        dist = np.minimum(profile * DEPTH_SCALE, 600.0)
        novelty = np.array([self._novelty(obs, obs.angle + a, 0.7 * d) for a, d in zip(BIN_ANGLES, dist)])
        score = dist / 600.0 + 1.5 * novelty + 0.3 * self.rng.random(N_BINS)
        score[profile < OPEN] = -np.inf
        if not np.isfinite(score).any() or (novelty.max() < 0.3 and self.rng.random() < 0.5):
            self._hold(TURN[self._side()], self._tics(25, 52))    # nothing new here: look behind
            return
        best = int(np.argmax(score))
        self._turn_by(BIN_ANGLES[best], walking=_ahead(obs.depth) >= OPEN)
        reach = int((dist[best] - 48.0) / WALK_SPEED)
        self._walk(max(8, min(self._tics(15, 60), reach)))

    def _walk(self, tics: int) -> None:
        """Forward, broken into pieces with the small curves and sidesteps people make."""
        while tics > 0:
            kind = self.rng.random()
            if kind < 0.65:
                piece, action = self._tics(8, 30), FORWARD
            elif kind < 0.85:
                piece, action = self._tics(3, 8), FORWARD | TURN[self._side()]
            elif kind < 0.95:
                piece, action = self._tics(3, 10), FORWARD | STRAFE[self._side()]
            else:
                piece, action = self._tics(5, 15), FORWARD | FIRE
            self._hold(action, min(piece, tics))
            tics -= piece

    def _look(self, obs: Observation) -> None:
        self._hold(TURN[self._side()], self._tics(8, 40))
        if self.rng.random() < 0.3:
            self._hold(IDLE, self._tics(5, 20))

    def _fire(self, obs: Observation) -> None:
        self._hold(FIRE, self._tics(5, 25))

    def _strafe(self, obs: Observation) -> None:
        self._hold(STRAFE[self._side()], self._tics(5, 25))

    def _back(self, obs: Observation) -> None:
        self._hold(BACK, self._tics(5, 20))

    def _idle(self, obs: Observation) -> None:
        self._hold(IDLE, self._tics(5, 40))

    def _use(self, obs: Observation) -> None:
        self._hold(USE, self._tics(2, 6))


def _cell(x: float, y: float) -> tuple[int, int]:
    return int(np.floor(x / CELL)), int(np.floor(y / CELL))


def _profile(depth: np.ndarray) -> np.ndarray:
    """The nearest depth level at eye level in each heading bin, left to right. (N_BINS,)"""
    return depth[HORIZON].min(axis=0).reshape(N_BINS, -1).min(axis=1).astype(np.float64)


def _ahead(depth: np.ndarray) -> int:
    return int(depth[HORIZON, AHEAD].min())
