"""The input the next frame will see: held keys, gamepads, bindings (no Qt).

Written by the GUI thread (key and gamepad events), read by the world worker once per
tick and by the audio callback. A lock, not signals: the tick must see the state as it
is *now*, not a queue of past changes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from app.input_map import DEFAULT_BINDINGS, PadState, action_from_input


@dataclass(frozen=True)
class InputSample:
    action: np.ndarray              # uint8[8]
    event_t: float | None           # clock time of the earliest input change not yet seen by a frame


class InputState:
    def __init__(self, bindings: Mapping[str, Sequence[str]] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self._lock = threading.Lock()
        self._clock = clock
        self._keys: set[str] = set()
        self._pad: PadState | None = None
        self._bindings = dict(bindings or DEFAULT_BINDINGS)
        self._event_t: float | None = None

    @property
    def bindings(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            return dict(self._bindings)

    def set_bindings(self, bindings: Mapping[str, Sequence[str]]) -> None:
        with self._lock:
            self._bindings = dict(bindings)
            self._keys.clear()

    def press(self, key: str, t: float | None = None) -> None:
        self._change(lambda: self._keys.add(key), t)

    def release(self, key: str, t: float | None = None) -> None:
        self._change(lambda: self._keys.discard(key), t)

    def set_pad(self, pad: PadState | None, t: float | None = None) -> None:
        def apply():
            self._pad = pad
        self._change(apply, t)

    def clear(self) -> None:
        """Forget held keys (focus lost: a key released elsewhere never reaches us)."""
        self._change(self._keys.clear, None)

    def current_action(self) -> np.ndarray:
        with self._lock:
            return action_from_input(self._keys, self._pad, self._bindings)

    def take(self) -> InputSample:
        """The action for the next frame; marks pending input events as seen."""
        with self._lock:
            action = action_from_input(self._keys, self._pad, self._bindings)
            event_t, self._event_t = self._event_t, None
            return InputSample(action, event_t)

    def _change(self, apply: Callable[[], None], t: float | None) -> None:
        with self._lock:
            before = action_from_input(self._keys, self._pad, self._bindings)
            apply()
            after = action_from_input(self._keys, self._pad, self._bindings)
            if self._event_t is None and not np.array_equal(before, after):
                self._event_t = self._clock() if t is None else t
