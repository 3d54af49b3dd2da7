"""Qt key and mouse events -> the plain key names of app/input_map.py.

The only module that knows Qt's key codes: everything past it speaks "W", "Left", "Ctrl".
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

_SPECIAL = {
    Qt.Key_Left: "Left", Qt.Key_Right: "Right", Qt.Key_Up: "Up", Qt.Key_Down: "Down",
    Qt.Key_Control: "Ctrl", Qt.Key_Shift: "Shift", Qt.Key_Alt: "Alt", Qt.Key_Meta: "Meta",
    Qt.Key_Space: "Space", Qt.Key_Backspace: "Backspace", Qt.Key_Return: "Return",
    Qt.Key_Enter: "Return", Qt.Key_Tab: "Tab", Qt.Key_Escape: "Escape", Qt.Key_Delete: "Delete",
    Qt.Key_Insert: "Insert", Qt.Key_Home: "Home", Qt.Key_End: "End", Qt.Key_PageUp: "PageUp",
    Qt.Key_PageDown: "PageDown", Qt.Key_CapsLock: "CapsLock",
}
_MOUSE = {Qt.LeftButton: "Mouse1", Qt.RightButton: "Mouse2", Qt.MiddleButton: "Mouse3"}


def key_name(key: int) -> str | None:
    """A Qt key code (QKeyEvent.key()) as a binding name, or None for keys we do not bind."""
    key = Qt.Key(key) if not isinstance(key, Qt.Key) else key
    if key in _SPECIAL:
        return _SPECIAL[key]
    if Qt.Key_A <= key <= Qt.Key_Z or Qt.Key_0 <= key <= Qt.Key_9:
        return chr(key.value)
    if Qt.Key_F1 <= key <= Qt.Key_F35:
        return f"F{key.value - Qt.Key_F1.value + 1}"
    text = QKeySequence(key.value).toString()
    return text if text and len(text) <= 12 and key != Qt.Key_unknown else None


def mouse_name(button) -> str | None:
    return _MOUSE.get(button)
