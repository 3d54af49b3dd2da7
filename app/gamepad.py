"""Gamepads through SDL's game-controller API (pygame._sdl2.controller), with hot-plug.

A source turns SDL events into plain `PadEvent`s; `PadTracker` (no Qt) keeps each pad's
state; `GamepadPoller` polls the source from a QTimer in the GUI thread, feeds the input
state and says when a pad comes or goes. Tests use a fake source.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from app.input_map import PadState, command_for_pad_button, merge_pads

POLL_MS = 8                      # adds at most 8 ms to the key-to-frame path


@dataclass(frozen=True)
class PadEvent:
    kind: str                    # "added", "removed", "axis", "button"
    pad: int                     # SDL instance id
    name: str = ""               # pad name (added), axis or button name
    value: float = 0.0           # axis in [-1, 1] (triggers [0, 1]); button 1.0 down / 0.0 up


class GamepadSource(Protocol):
    def poll(self) -> list[PadEvent]: ...
    def close(self) -> None: ...


class PadTracker:
    """Each connected pad's held buttons and axes; what a change means for the player."""

    def __init__(self):
        self.pads: dict[int, PadState] = {}
        self.names: dict[int, str] = {}

    def apply(self, event: PadEvent) -> tuple[str | None, str | None]:
        """Returns (status note, player command) for this event; either may be None."""
        if event.kind == "added":
            self.pads[event.pad], self.names[event.pad] = PadState(), event.name or "Gamepad"
            return f"Gamepad connected: {self.names[event.pad]}", None
        if event.kind == "removed":
            self.pads.pop(event.pad, None)
            return f"Gamepad disconnected: {self.names.pop(event.pad, 'Gamepad')}", None
        pad = self.pads.get(event.pad)
        if pad is None:
            return None, None
        if event.kind == "axis":
            self.pads[event.pad] = PadState({**pad.axes, event.name: float(event.value)}, pad.buttons)
            return None, None
        pressed = event.value > 0.5
        buttons = pad.buttons | {event.name} if pressed else pad.buttons - {event.name}
        self.pads[event.pad] = PadState(pad.axes, frozenset(buttons))
        return None, command_for_pad_button(event.name) if pressed else None

    def merged(self) -> PadState | None:
        return merge_pads(self.pads.values())


class PygameGamepads:
    """The real source: SDL events, polled (SDL needs no window: the dummy video driver works)."""

    def __init__(self):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        # SDL_HINT_NO_SIGNAL_HANDLERS, read from the environment when SDL starts: else SDL
        # takes SIGINT and SIGTERM for itself, and the player ignores Ctrl+C and `kill`
        # (app/signals.py closes the window on them instead).
        os.environ["SDL_NO_SIGNAL_HANDLERS"] = "1"
        import pygame
        from pygame._sdl2 import controller
        self.pygame, self.controller = pygame, controller
        pygame.display.init()
        controller.init()
        self._open: dict[int, object] = {}
        self._axes = {getattr(pygame, f"CONTROLLER_AXIS_{k}"): v for k, v in (
            ("LEFTX", "leftx"), ("LEFTY", "lefty"), ("RIGHTX", "rightx"), ("RIGHTY", "righty"),
            ("TRIGGERLEFT", "lefttrigger"), ("TRIGGERRIGHT", "righttrigger"))}
        self._buttons = {getattr(pygame, f"CONTROLLER_BUTTON_{k}"): v for k, v in (
            ("A", "a"), ("B", "b"), ("X", "x"), ("Y", "y"), ("BACK", "back"), ("GUIDE", "guide"),
            ("START", "start"), ("LEFTSTICK", "leftstick"), ("RIGHTSTICK", "rightstick"),
            ("LEFTSHOULDER", "leftshoulder"), ("RIGHTSHOULDER", "rightshoulder"), ("DPAD_UP", "dpup"),
            ("DPAD_DOWN", "dpdown"), ("DPAD_LEFT", "dpleft"), ("DPAD_RIGHT", "dpright"))}

    def poll(self) -> list[PadEvent]:
        pg = self.pygame
        out = []
        for e in pg.event.get():             # everything: unread events would pile up in SDL's queue
            if e.type == pg.CONTROLLERDEVICEADDED:
                try:
                    pad = self.controller.Controller(e.device_index)
                    pid = pad.as_joystick().get_instance_id()
                except pg.error:            # unplugged again before it could be opened
                    continue
                self._open[pid] = pad
                out.append(PadEvent("added", pid, pad.name))
            elif e.type == pg.CONTROLLERDEVICEREMOVED:
                pad = self._open.pop(e.instance_id, None)
                if pad is not None:
                    pad.quit()
                out.append(PadEvent("removed", e.instance_id))
            elif e.type == pg.CONTROLLERAXISMOTION and e.axis in self._axes:
                out.append(PadEvent("axis", e.instance_id, self._axes[e.axis], max(-1.0, e.value / 32767)))
            elif e.type in (pg.CONTROLLERBUTTONDOWN, pg.CONTROLLERBUTTONUP) and e.button in self._buttons:
                down = 1.0 if e.type == pg.CONTROLLERBUTTONDOWN else 0.0
                out.append(PadEvent("button", e.instance_id, self._buttons[e.button], down))
        return out

    def close(self) -> None:
        for pad in self._open.values():
            pad.quit()
        self._open.clear()
        self.controller.quit()


class GamepadPoller(QObject):
    note = Signal(str)                  # connected / disconnected / unavailable, for the status bar
    command = Signal(str)               # PAUSE (Start button)

    def __init__(self, input_state, source_factory=PygameGamepads, parent: QObject | None = None):
        super().__init__(parent)
        self.input = input_state
        self.tracker = PadTracker()
        self._factory = source_factory
        self.source: GamepadSource | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        try:
            self.source = self._factory()
        except Exception as exc:  # no SDL, no joystick subsystem: play with the keyboard
            self.note.emit(f"Gamepads unavailable ({type(exc).__name__})")
            return
        self._timer.start()

    @Slot()
    def poll(self) -> None:
        if self.source is None:
            return
        try:
            events = self.source.poll()
        except Exception as exc:  # SDL errors as a pad vanishes mid-read: keyboard play goes on
            self._give_up(exc)
            return
        changed = False
        for event in events:
            note, command = self.tracker.apply(event)
            changed = True
            if note:
                self.note.emit(note)
            if command:
                self.command.emit(command)
        if changed:
            self.input.set_pad(self.tracker.merged())

    def _give_up(self, exc: Exception) -> None:
        """Stop polling a broken source and release whatever its pads were holding."""
        self._timer.stop()
        source, self.source = self.source, None
        try:
            source.close()
        except Exception:  # the same fault may break closing; the source is dropped anyway
            pass
        self.tracker = PadTracker()
        self.input.set_pad(None)
        self.note.emit(f"Gamepad input stopped ({type(exc).__name__}: {exc}); the keyboard still works")

    def stop(self) -> None:
        self._timer.stop()
        if self.source is not None:
            self.source.close()
            self.source = None
