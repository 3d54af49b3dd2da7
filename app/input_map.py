"""Keys and gamepad buttons -> the 8-button action, as tables and one pure function.

Key names here are plain strings ("W", "Left", "Ctrl", "Mouse1", "Space"): app/keys.py
turns Qt's key codes into them, and no Qt key name travels further than that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from model.play.world import BUTTONS, action_from_names

COMMANDS = ("PAUSE", "RESET", "REWIND")        # not buttons: handled by the player itself
BINDABLE = BUTTONS + COMMANDS

DEFAULT_BINDINGS: dict[str, tuple[str, ...]] = {
    "MOVE_FORWARD": ("W", "Up"),
    "MOVE_BACKWARD": ("S", "Down"),
    "MOVE_LEFT": ("A",),
    "MOVE_RIGHT": ("D",),
    "TURN_LEFT": ("Left",),
    "TURN_RIGHT": ("Right",),
    "ATTACK": ("Ctrl", "Mouse1"),
    "USE": ("E", "Space"),
    "PAUSE": ("P",),
    "RESET": ("R",),
    "REWIND": ("Backspace",),
}

LABELS = {
    "MOVE_FORWARD": "Forward", "MOVE_BACKWARD": "Back", "MOVE_LEFT": "Strafe left",
    "MOVE_RIGHT": "Strafe right", "TURN_LEFT": "Turn left", "TURN_RIGHT": "Turn right",
    "ATTACK": "Attack", "USE": "Use", "PAUSE": "Pause / resume", "RESET": "Reset scene",
    "REWIND": "Rewind (hold)",
}

# SDL game-controller names (pygame._sdl2.controller), normalised to [-1, 1] / [0, 1].
STICK_DEADZONE = 0.25
TRIGGER_THRESHOLD = 0.30
PAD_AXES: tuple[tuple[str, int, str], ...] = (      # (axis, direction, button)
    ("lefty", -1, "MOVE_FORWARD"), ("lefty", +1, "MOVE_BACKWARD"),
    ("leftx", -1, "MOVE_LEFT"), ("leftx", +1, "MOVE_RIGHT"),
    ("rightx", -1, "TURN_LEFT"), ("rightx", +1, "TURN_RIGHT"),
    ("lefttrigger", +1, "ATTACK"), ("righttrigger", +1, "ATTACK"),
)
PAD_BUTTONS: dict[str, str] = {
    "a": "USE", "start": "PAUSE",
    "dpup": "MOVE_FORWARD", "dpdown": "MOVE_BACKWARD", "dpleft": "TURN_LEFT", "dpright": "TURN_RIGHT",
}


@dataclass(frozen=True)
class PadState:
    """What one gamepad (or all of them, merged) holds right now."""
    axes: Mapping[str, float] = field(default_factory=dict)
    buttons: frozenset[str] = frozenset()


def action_from_input(keys: Iterable[str], pad: PadState | None,
                      bindings: Mapping[str, Sequence[str]]) -> np.ndarray:
    """THE mapping: held key names and a gamepad state -> uint8[8] in canonical order."""
    keys = set(keys)
    held = {b for b in BUTTONS if keys.intersection(bindings.get(b, ()))}
    if pad is not None:
        for axis, direction, button in PAD_AXES:
            value = pad.axes.get(axis, 0.0) * direction
            threshold = TRIGGER_THRESHOLD if "trigger" in axis else STICK_DEADZONE
            if value > threshold:
                held.add(button)
        held |= {PAD_BUTTONS[b] for b in pad.buttons if PAD_BUTTONS.get(b) in BUTTONS}
    return action_from_names(held)


def command_for_key(key: str, bindings: Mapping[str, Sequence[str]]) -> str | None:
    """The player command (PAUSE, RESET, REWIND) a key is bound to, if any."""
    for command in COMMANDS:
        if key in bindings.get(command, ()):
            return command
    return None


def command_for_pad_button(button: str) -> str | None:
    command = PAD_BUTTONS.get(button)
    return command if command in COMMANDS else None


def is_bound(key: str, bindings: Mapping[str, Sequence[str]]) -> bool:
    return any(key in keys for keys in bindings.values())


def merge_pads(pads: Iterable[PadState]) -> PadState | None:
    """Several pads at once: the strongest deflection of each axis, every held button."""
    pads = list(pads)
    if not pads:
        return None
    axes: dict[str, float] = {}
    for pad in pads:
        for name, value in pad.axes.items():
            if abs(value) > abs(axes.get(name, 0.0)):
                axes[name] = value
    return PadState(axes, frozenset().union(*(p.buttons for p in pads)))


def checked_bindings(raw: object) -> dict[str, tuple[str, ...]]:
    """Bindings from a settings file: unknown entries dropped, missing ones defaulted."""
    out = dict(DEFAULT_BINDINGS)
    if isinstance(raw, dict):
        for name, keys in raw.items():
            if name in BINDABLE and isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys):
                out[name] = tuple(dict.fromkeys(keys))
    return out


def rebind(bindings: Mapping[str, Sequence[str]], name: str, key: str) -> dict[str, tuple[str, ...]]:
    """Bind `key` to `name` alone (as its only key); no other entry keeps that key."""
    if name not in BINDABLE:
        raise ValueError(f"unknown action {name!r}")
    out = {n: tuple(k for k in keys if k != key) for n, keys in bindings.items()}
    out[name] = (key,)
    return out
