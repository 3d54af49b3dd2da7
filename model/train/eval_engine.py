"""The engine and the model on the same key script from the same held-out state.

A held-out start is a frame of a captured episode. The engine gets there by replaying the
episode from its start (`make_game(map, episode_seed)` and the recorded actions: capture is
deterministic, tests/model/test_capture.py); the model gets the 16 frames up to it as its
scene seed, through the public session API only. Both then play the same script.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from model.play.errors import UserError
from model.play.world import FRAME_H, FRAME_W, N_BUTTONS, action_from_names, area_resize
from model.train.dataset import read_npz
from model.train.metrics import view_motion
from model.train.train_data import shard_paths

CONTEXT = 16                     # scene-seed frames, as in the PSNR eval
REPLAY_KEYS = ("actions", "episode_start", "map", "episode_seed")


@dataclass(frozen=True)
class Start:
    map_name: str
    episode_seed: int
    actions: np.ndarray          # (n, 8) uint8, n >= CONTEXT - 1: the episode's first frame to the start


def hold(keys: set[str], tics: int) -> list[np.ndarray]:
    """`tics` steps of the same keys (an empty set stands still)."""
    return [action_from_names(keys)] * tics


def episodes(dirs) -> list[tuple[str, int, np.ndarray]]:
    """(map, episode seed, actions) of every captured episode, shard by shard."""
    from model.train.capture import MAPS
    out = []
    for path in shard_paths(dirs):
        try:
            d = read_npz(path, REPLAY_KEYS)
        except UserError as exc:
            raise UserError(f"{exc}: the engine is replayed from each episode's start "
                            "(capture the held-out data again)") from None
        starts = d["episode_start"].astype(bool).copy()
        starts[0] = True
        bounds = np.r_[np.flatnonzero(starts), len(starts)]
        for a, b in itertools.pairwise(bounds):
            out.append((MAPS[int(d["map"][a])], int(d["episode_seed"][a]), d["actions"][a:b].astype(np.uint8)))
    return out


def held_out_starts(dirs, count: int, seed: int) -> list[Start]:
    """`count` starts at random frames of the episodes, one episode after another in a
    seeded order (so maps are spread as the capture spreads them), each episode again
    once all have had a turn."""
    found = [e for e in episodes(dirs) if len(e[2]) >= CONTEXT]
    if not found:
        raise UserError(f"no episode in {', '.join(map(str, dirs))} has {CONTEXT} frames")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(found))
    out = []
    for k in range(count):
        map_name, episode_seed, actions = found[order[k % len(found)]]
        at = int(rng.integers(CONTEXT - 1, len(actions)))      # the start is frame `at`
        out.append(Start(map_name, episode_seed, actions[:at]))
    return out


class Engine:
    """One engine process for many replays (a new episode, not a new process, per start)."""

    def __init__(self, depth: bool = False):
        self.depth = depth                  # the explorer steers by the depth buffer
        self.game = None

    def goto(self, start: Start) -> np.ndarray:
        """Replay to `start`; return the CONTEXT frames (96x128) that end there."""
        from model.train.capture import make_game, start_episode
        if self.game is None:
            self.game = make_game(start.map_name, start.episode_seed, depth=self.depth)
        else:
            start_episode(self.game, start.map_name, start.episode_seed)
        first_kept = len(start.actions) - (CONTEXT - 1)
        raw = []
        for i, action in enumerate(start.actions):
            if i >= first_kept:
                raw.append(self.screen())
            if i < first_kept - 1:      # no frame wanted after it: skip copying the state (13x faster)
                self.game.set_action(action.tolist())
                self.game.advance_action(1, False)
            else:
                self.game.make_action(action.tolist(), 1)
        return resize(raw + [self.screen()])

    def pose(self) -> np.ndarray:
        """The camera now: x, y, eye z, yaw (degrees), in map coordinates (as geodata's pose)."""
        x, y, angle, _, _, _, _, camera_z = self.game.get_state().game_variables
        return np.array([x, y, camera_z, angle])

    def screen(self) -> np.ndarray:
        """The engine's frame as it renders it (160x120): see resize."""
        return self.game.get_state().screen_buffer

    def play(self, script) -> np.ndarray | None:
        """The current frame and one after each action; None if the episode ended (an exit)."""
        raw = [self.screen()]
        for action in script:
            self.game.make_action(np.asarray(action).tolist(), 1)
            if self.game.is_episode_finished():
                return None
            raw.append(self.screen())
        return resize(raw)

    def close(self) -> None:
        if self.game is not None:
            self.game.close()
            self.game = None


def resize(raw: list[np.ndarray]) -> np.ndarray:
    """Engine frames to the model's size in one call: on two shared cores a single-frame
    area_resize costs ~30 ms in BLAS thread hand-offs, a batch of 64 about 90 ms (measured)."""
    return area_resize(np.stack(raw), FRAME_H, FRAME_W)


def model_play(session, seed_frames: np.ndarray, seed_actions: np.ndarray, script, rng_seed: int) -> np.ndarray:
    """The seed's last frame and the model's frame after each action of `script`."""
    from model.play.seeds import SceneSeed
    session.reset(SceneSeed("probe", seed_frames, seed_actions.reshape(-1, N_BUTTONS)), rng_seed)
    return np.stack([session.frame] + [session.step(a) for a in script])


def both_play(engine: Engine, session, start: Start, script, rng_seed: int):
    """(engine frames, model frames) of `script` from `start`; (None, None) if the engine's
    episode ended during it."""
    seed_frames = engine.goto(start)
    real = engine.play(script)
    if real is None:
        return None, None
    return real, model_play(session, seed_frames, start.actions[-(CONTEXT - 1):], script, rng_seed)


def held_motion(frames: np.ndarray, begin: int, tics: int, kind: str) -> float:
    """The view's motion summed over steps begin..begin+tics (frames[i] is after i actions)."""
    return float(sum(view_motion(frames[i], frames[i + 1], kind) for i in range(begin, begin + tics)))
