"""The real engine, held at the model's state frame for frame, for the "Compare with engine"
view only (never to draw the world). No Qt: app/compare.py runs it in its own thread.

It follows the world worker's frame packets. A reset brings the engine to the seed's last
frame by replaying the seed's origin (model/play/origin.py) from the episode's start; a step
applies the packet's action, the same keys the model got, for one tic; a rewind replays from
the start to the frame rewound to (the engine is deterministic and has no snapshots); while
scrubbing it shows the engine's frame kept for the frame shown. vizdoom is imported here
lazily, through model.train, when the engine opens.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from model.play.origin import EngineOrigin
from model.play.world import FPS, area_resize

KEEP_FRAMES = 10 * FPS + 1           # as far back as the player's rewind reaches


class EngineTwin:
    def __init__(self, origin: EngineOrigin):
        self.origin = origin
        self.ended = False                     # the engine's episode is over (an exit): it stops following
        self._game = None
        self._base: int | None = None          # the session's frame index of the seed's last frame
        self._played: list[np.ndarray] = []    # actions since that frame, as the model got them
        self._kept: deque = deque(maxlen=KEEP_FRAMES)   # (frame index, engine frame), for scrubbing

    def open(self) -> None:
        from model.train.capture import make_game
        self._game = make_game(self.origin.map, self.origin.seed, depth=False)

    def close(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None

    def follow(self, packet) -> np.ndarray | None:
        """The engine's frame (at the packet's frame size) for a model frame packet; None when
        there is none to show: before the first reset, or after the engine's episode ended."""
        hw = packet.frame.shape[:2]
        if packet.kind == "reset":
            self._base, self._played = packet.index, []
            self._kept.clear()
            return self._replay(hw)
        if self._base is None:                 # opened mid-scene: wait for the reset that follows
            return None
        if packet.kind == "scrub":
            return next((f for i, f in self._kept if i == packet.index), None)
        if packet.kind == "rewind":
            del self._played[max(0, packet.index - self._base):]
            return self._replay(hw)
        return self._step(packet.action, packet.index, hw)

    def _replay(self, hw) -> np.ndarray | None:
        """Restart the episode and play the origin's actions, then those since the seed."""
        from model.train.capture import start_episode
        start_episode(self._game, self.origin.map, self.origin.seed)
        self.ended = False
        for action in [*self.origin.actions, *self._played]:
            if not self._act(action):
                return None
        return self._frame(self._base + len(self._played), hw)

    def _step(self, action, index: int, hw) -> np.ndarray | None:
        if self.ended or index != self._base + len(self._played) + 1:
            return None                        # ended, or a packet of another timeline: nothing to match
        if not self._act(action):
            return None
        self._played.append(np.asarray(action, np.uint8).copy())
        return self._frame(index, hw)

    def _act(self, action) -> bool:
        """One tic; False once the episode is over (the map's exit)."""
        self._game.make_action([int(v) for v in action], 1)
        self.ended = self._game.is_episode_finished()
        return not self.ended

    def _frame(self, index: int, hw) -> np.ndarray:
        frame = area_resize(self._game.get_state().screen_buffer, *hw)
        while self._kept and self._kept[-1][0] >= index:    # a rewind's abandoned future
            self._kept.pop()
        self._kept.append((index, frame))
        return frame
