"""Scripted players for engine capture: an explorer that plays like a person, and a random baseline.

Both are pure Python + numpy, deterministic given a numpy Generator. The capture loop hands
them one Observation per tic and takes back one action (uint8 [8], canonical button order).

The explorer holds keys the way a person does (steps of 3-60 tics). It walks toward open
space it has not visited yet (the depth buffer says which headings are open, a visit count
per 64x64-unit cell says which are new), walks up to the doors and switches it sees and
presses USE (it knows where they are, as someone who has played the map would), turns
toward places it saw but has not been to when nothing in view is new, and backs off when
it pushes without moving. The model learns what the keys do from this player, so the mix
of behaviours (looking around, strafing, firing, idling) matters as much as the coverage.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from model.play.world import BUTTON_INDEX, MOVE_BUTTONS, N_BUTTONS, action_from_names
from model.train.dataset import CELL  # visits are counted on the report's coverage grid

# Measured in the engine at 160x120 with default settings.
TURN_RATE = 3.5          # degrees per tic while a turn key is held
DEPTH_SCALE = 7.2        # map units per depth-buffer level
WALK_SPEED = 8.0         # map units per tic, walking forward at full speed
HALF_WIDTH = 80          # pixels: half the 160-px screen spans 45 degrees (90-degree FOV)

HORIZON = slice(52, 68)  # rows at eye level: walls and doors, not the floor near the feet
N_BINS = 10              # headings: 16-px column groups, about 9 degrees each
AHEAD = slice(64, 96)    # the central columns the player's body sweeps in the next steps
WALL = 9                 # depth level (~65 units): a wall right in front
OPEN = 20                # depth level (~145 units): open space, worth remembering
NEAR = 12                # depth level (~86 units): room for a few steps (small rooms, doors)
ARRIVED = 3              # depth level (~22 units): at the door; USE reaches 64 units
MAX_USE_TRIES = 3        # per door or switch and episode (doors close again after 4 s)
FAR = 600.0              # map units: beyond this, more open is not better
PUSH_TICS, PUSH_DIST = 4, 2.0   # blocked: moved < 2 units over 4 pushing tics (report counts 8)
LOCKED_CLEARANCE = 96.0  # map units: no USE this close to a locked door (USE reaches 64)
START_TICS = (4, 16)     # a moment to take in the scene before moving off

_BIN_CENTRES = (np.arange(N_BINS) + 0.5) * (2 * HALF_WIDTH / N_BINS)
BIN_ANGLES = np.degrees(np.arctan((HALF_WIDTH - _BIN_CENTRES) / HALF_WIDTH))  # left is positive

IDLE = action_from_names(set())
FORWARD = action_from_names({"MOVE_FORWARD"})
BACK = action_from_names({"MOVE_BACKWARD"})
USE = action_from_names({"USE"})
FIRE = action_from_names({"ATTACK"})
TURN = {+1: action_from_names({"TURN_LEFT"}), -1: action_from_names({"TURN_RIGHT"})}
STRAFE = {+1: action_from_names({"MOVE_LEFT"}), -1: action_from_names({"MOVE_RIGHT"})}
_FORWARD, _USE = BUTTON_INDEX["MOVE_FORWARD"], BUTTON_INDEX["USE"]

# What to do next when nothing forces a choice: (behaviour, weight).
BEHAVIOURS = (("explore", 0.74), ("look", 0.06), ("fire", 0.06), ("strafe", 0.06),
              ("back", 0.03), ("idle", 0.04), ("use", 0.01))


def _odds(behaviours) -> np.ndarray:
    return np.array([w for _, w in behaviours]) / sum(w for _, w in behaviours)


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


@dataclass(frozen=True)
class MapKnowledge:
    """What a player who knows the map knows: line segments [K,4] (x1, y1, x2, y2)."""

    usable: np.ndarray      # doors and switches that USE works on
    locked: np.ndarray      # locked doors: USE there prints "you need a key", and with the
                            # HUD off that message never leaves the screen


NO_KNOWLEDGE = MapKnowledge(np.zeros((0, 4)), np.zeros((0, 4)))


def make_policy(name: str, rng: np.random.Generator, knowledge: MapKnowledge = NO_KNOWLEDGE):
    """A fresh policy for one episode (the random baseline ignores the map knowledge)."""
    if name == "random":
        return RandomPolicy(rng)
    return (Revisitor if name == "revisit" else Explorer)(rng, knowledge)


@dataclass
class Step:
    """Keys held for a number of tics. Walking up to a door, the wall reflex is off and the
    step ends on arrival."""

    action: np.ndarray
    tics: int
    to_door: bool = False
    blind: bool = False     # a drill: no wall reflex, it pushes into what is there


class Explorer:
    """A person-like player that walks far into the map. See the module docstring."""

    def __init__(self, rng: np.random.Generator, knowledge: MapKnowledge = NO_KNOWLEDGE):
        self.rng = rng
        self.usables = np.asarray(knowledge.usable, np.float64)
        self.locked = np.asarray(knowledge.locked, np.float64)
        self.use_tries = np.zeros(len(self.usables), np.int64)
        self.plan: deque[Step] = deque()
        self.visits: dict[tuple[int, int], int] = {}     # cell -> tics spent there
        self.seen: set[tuple[int, int]] = set()          # cells seen free along open headings
        self.wall_tries: set[tuple[int, int, int]] = set()
        self.trail: deque[tuple[float, float]] = deque(maxlen=PUSH_TICS + 1)
        self.pushing = 0                                  # consecutive tics a movement key was held
        self._hold(IDLE, self._tics(*START_TICS))

    def act(self, obs: Observation) -> np.ndarray:
        self._observe(obs)
        if self._arrived(obs):
            self.plan.popleft()
        if self._blocked(obs):
            self._unblock(obs)
        if not self.plan:
            self._choose(obs)
        step = self.plan[0]
        step.tics -= 1
        if step.tics <= 0:
            self.plan.popleft()
        self.pushing = self.pushing + 1 if step.action[MOVE_BUTTONS].any() else 0
        return self._without_locked_use(step.action, obs)

    def _arrived(self, obs: Observation) -> bool:
        """A walk up to a door ends at the door (the USE press after it keeps pushing)."""
        step = self.plan[0] if self.plan else None
        return step is not None and step.to_door and not step.action[_USE] and _ahead(obs.depth) < ARRIVED

    def _without_locked_use(self, action: np.ndarray, obs: Observation) -> np.ndarray:
        """No USE by a locked door: its "you need a key" message would never leave the screen."""
        action = action.copy()
        if action[_USE] and _distance_to_lines(self.locked, obs.x, obs.y).min(initial=np.inf) < LOCKED_CLEARANCE:
            action[_USE] = 0
        return action

    # ---- bookkeeping ----------------------------------------------------------------

    def _observe(self, obs: Observation) -> None:
        cell = _cell(obs.x, obs.y)
        self.visits[cell] = self.visits.get(cell, 0) + 1
        self.trail.append((obs.x, obs.y))

    def _hold(self, action: np.ndarray, tics: int, to_door: bool = False, blind: bool = False) -> None:
        if tics > 0:
            self.plan.append(Step(action, int(tics), to_door, blind))

    def _tics(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def _side(self) -> int:
        return 1 if self.rng.random() < 0.5 else -1

    def _novelty(self, obs: Observation, heading: float, dist: float) -> float:
        """How new the place `dist` units along `heading` is: 1 unvisited, towards 0 well-trodden."""
        rad = np.radians(heading)
        cell = _cell(obs.x + dist * np.cos(rad), obs.y + dist * np.sin(rad))
        return 1.0 / (1.0 + self.visits.get(cell, 0) / 8.0)

    def _remember(self, obs: Observation, dist: np.ndarray, open_: np.ndarray) -> None:
        for a, d in zip(BIN_ANGLES[open_], dist[open_]):
            rad = np.radians(obs.angle + a)
            for frac in (0.4, 0.8):
                self.seen.add(_cell(obs.x + frac * d * np.cos(rad), obs.y + frac * d * np.sin(rad)))

    # ---- reflexes: walls, being stuck ---------------------------------------------------

    def _blocked(self, obs: Observation) -> bool:
        """Walking into a near wall, or pushing for PUSH_TICS without moving."""
        step = self.plan[0] if self.plan else None
        if step is not None and step.blind:
            return False
        if step is not None and step.action[_FORWARD] and not step.to_door and _ahead(obs.depth) < WALL:
            return True
        if self.pushing >= PUSH_TICS and len(self.trail) == self.trail.maxlen:
            (x0, y0), (x1, y1) = self.trail[0], self.trail[-1]
            return float(np.hypot(x1 - x0, y1 - y0)) < PUSH_DIST
        return False

    def _unblock(self, obs: Observation) -> None:
        """Now and then try a wall as a door (once per place and direction); else back off
        or sidestep, and turn toward the most open heading."""
        self.plan.clear()
        self.pushing = 0
        spot = (*_cell(obs.x, obs.y), int(obs.angle // 45) % 8)
        if _ahead(obs.depth) < WALL and spot not in self.wall_tries and self.rng.random() < 0.3:
            self.wall_tries.add(spot)
            self._press_use(12)
            return
        if self.rng.random() < 0.6:
            self._hold(BACK, self._tics(5, 14))
        else:
            self._hold(STRAFE[self._side()], self._tics(5, 12))
        profile = _profile(obs.depth)
        if profile.max() >= OPEN:
            self._turn_by(BIN_ANGLES[int(np.argmax(profile))])
        else:
            self._hold(TURN[self._side()], self._tics(25, 52))   # 90-180 degrees

    def _press_use(self, walk_tics: int) -> None:
        """Walk up to the wall, press USE on arrival (it acts once, on the press, within 64
        units), and watch: doors rise 2 units a tic."""
        self._hold(FORWARD, walk_tics, to_door=True)
        self._hold(FORWARD | USE, self._tics(2, 4), to_door=True)
        self._hold(IDLE, self._tics(4, 10))

    def _turn_by(self, degrees: float, walking: bool = False) -> None:
        key = TURN[1 if degrees > 0 else -1]
        self._hold(key | FORWARD if walking else key, round(abs(degrees) / TURN_RATE))

    # ---- choices ------------------------------------------------------------------------

    behaviours = BEHAVIOURS
    odds = _odds(BEHAVIOURS)

    def _choose(self, obs: Observation) -> None:
        getattr(self, "_" + self.behaviours[self.rng.choice(len(self.behaviours), p=self.odds)][0])(obs)

    def _explore(self, obs: Observation) -> None:
        """A door or switch in view first; else the most open, least visited heading in view;
        when nothing in view is new, turn toward a place seen but not yet visited."""
        if self._approach_usable(obs):
            return
        profile = _profile(obs.depth)
        dist = np.minimum(profile * DEPTH_SCALE, FAR)
        novelty = np.array([self._novelty(obs, obs.angle + a, 0.7 * d) for a, d in zip(BIN_ANGLES, dist)])
        self._remember(obs, dist, profile >= OPEN)
        walkable = profile >= NEAR
        if novelty[walkable].max(initial=0.0) < 0.3 and self._turn_to_frontier(obs):
            return
        if not walkable.any():
            self._hold(TURN[self._side()], self._tics(17, 35))     # a corner: 60-120 degrees
            return
        score = dist / FAR + 1.5 * novelty + 0.3 * self.rng.random(N_BINS)
        best = int(np.argmax(np.where(walkable, score, -np.inf)))
        self._turn_by(BIN_ANGLES[best], walking=_ahead(obs.depth) >= OPEN)
        reach = int((dist[best] - 40.0) / WALK_SPEED)
        self._walk(max(6, min(self._tics(15, 60), reach)))

    def _approach_usable(self, obs: Observation) -> bool:
        target = _usable_in_view(self.usables, self.use_tries, obs)
        if target is None:
            return False
        index, dist, delta = target
        self.use_tries[index] += 1
        self._turn_by(delta)
        self._press_use(int(dist / WALK_SPEED) + 10)
        return True

    def _turn_to_frontier(self, obs: Observation) -> bool:
        """Turn toward one of the nearest places seen but not visited, or doors and switches
        not yet tried; False when there is none, or it is in view already (_explore's job)."""
        places = [((cx + 0.5) * CELL, (cy + 0.5) * CELL) for cx, cy in sorted(self.seen)
                  if (cx, cy) not in self.visits]
        _, _, front = _usable_geometry(self.usables, obs)
        untried = front & (self.use_tries < MAX_USE_TRIES)
        places += [tuple(p) for p in (self.usables[untried, :2] + self.usables[untried, 2:]) / 2]
        if not places:
            return False
        gaps = np.hypot(*(np.array(places) - (obs.x, obs.y)).T)
        nearest = np.argsort(gaps, kind="stable")[:3]
        delta = _bearing(obs, *places[int(nearest[self.rng.integers(len(nearest))])])
        if abs(delta) < 30.0:
            return False
        self._turn_by(delta, walking=_ahead(obs.depth) >= OPEN)
        return True

    def _walk(self, tics: int) -> None:
        """Forward, in pieces with the small curves and sidesteps people make."""
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
        self._hold(TURN[self._side()], self._tics(8, 30))
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


class Revisitor(Explorer):
    """The explorer, with drills that come back to where they began (issue 13's training
    data): settle, turn away and back; walk off and back the same number of tics, blind, so
    that walls, doors and steps stop it as they will stop a player. The world's memory has
    to learn from these when a view is the one it saw before, and its motion net when a
    body stops dead, turns in place, and walks back the way it came."""

    behaviours = BEHAVIOURS + (("look_back", 0.2), ("walk_back", 0.2))
    odds = _odds(behaviours)

    def _settle(self) -> None:
        self._hold(IDLE, self._tics(10, 60))        # walking speed dies out in ~50 tics

    def _look_back(self, obs: Observation) -> None:
        side, tics = self._side(), self._tics(8, 52)   # about 25 to 180 degrees
        self._settle()
        self._hold(TURN[side], tics)
        self._hold(IDLE, self._tics(0, 15))
        self._hold(TURN[-side], tics)
        self._hold(IDLE, self._tics(3, 15))

    def _walk_back(self, obs: Observation) -> None:
        """Forward only as far as the way ahead is open, then back as many tics: a walk out that
        a wall cut short sends the walk back past the start into whatever is behind, and the
        motion net learnt from that that long walks back stop (measured in revisit60k, whose
        walks out were blind: 48 of the 88 tics walked backward after 40 held stood still,
        and the world's own walk back stopped short). Strafes, whose way the depth buffer
        does not show, stay short."""
        side = self._side()
        reach = int((_ahead(obs.depth) * DEPTH_SCALE - 40.0) / WALK_SPEED)
        if self.rng.random() < 0.75 and reach >= 10:
            away, back, tics = FORWARD, BACK, min(self._tics(10, 60), reach)
        else:
            away, back, tics = STRAFE[side], STRAFE[-side], self._tics(8, 20)
        self._settle()
        self._hold(away, tics, blind=True)
        self._hold(back, tics, blind=True)
        self._hold(IDLE, self._tics(20, 60))


def _cell(x: float, y: float) -> tuple[int, int]:
    return int(np.floor(x / CELL)), int(np.floor(y / CELL))


def _profile(depth: np.ndarray) -> np.ndarray:
    """The nearest depth level at eye level in each heading bin, left to right. (N_BINS,)"""
    return depth[HORIZON].min(axis=0).reshape(N_BINS, -1).min(axis=1).astype(np.float64)


def _ahead(depth: np.ndarray) -> int:
    return int(depth[HORIZON, AHEAD].min())


def _bearing(obs: Observation, x, y):
    """Degrees to turn (left positive, within +-180) to face the point (x, y)."""
    return (np.degrees(np.arctan2(y - obs.y, x - obs.x)) - obs.angle + 180.0) % 360.0 - 180.0


def _distance_to_lines(lines: np.ndarray, x: float, y: float) -> np.ndarray:
    """Distance from (x, y) to each segment [K,4]."""
    p1, edge = lines[:, :2], lines[:, 2:] - lines[:, :2]
    t = np.clip(((x - p1[:, 0]) * edge[:, 0] + (y - p1[:, 1]) * edge[:, 1])
                / np.maximum((edge ** 2).sum(axis=1), 1e-9), 0.0, 1.0)
    return np.hypot(p1[:, 0] + t * edge[:, 0] - x, p1[:, 1] + t * edge[:, 1] - y)


def _usable_geometry(usables: np.ndarray, obs: Observation):
    """Distance to each usable line's midpoint, its bearing, and whether the player is on its
    front (right-hand) side: Doom triggers a line from the front only."""
    p1, p2 = usables[:, :2], usables[:, 2:]
    mid = (p1 + p2) / 2
    dist = np.hypot(mid[:, 0] - obs.x, mid[:, 1] - obs.y)
    edge = p2 - p1
    front = (obs.x - p1[:, 0]) * edge[:, 1] - (obs.y - p1[:, 1]) * edge[:, 0] > 0
    return dist, _bearing(obs, mid[:, 0], mid[:, 1]), front


def _usable_in_view(usables: np.ndarray, tries: np.ndarray, obs: Observation):
    """(index, distance, bearing) of the nearest usable line in view that faces the player,
    has tries left and no nearer wall hides; None when there is none."""
    dist, delta, front = _usable_geometry(usables, obs)
    ok = front & (dist < 600.0) & (dist > 40.0) & (np.abs(delta) < 40.0) & (tries < MAX_USE_TRIES)
    for i in np.flatnonzero(ok)[np.argsort(dist[ok], kind="stable")]:
        column = int(np.clip(HALF_WIDTH * (1 - np.tan(np.radians(delta[i]))), 0, 2 * HALF_WIDTH - 1))
        if obs.depth[HORIZON, column].min() * DEPTH_SCALE >= dist[i] - 40.0:
            return int(i), float(dist[i]), float(delta[i])
    return None
