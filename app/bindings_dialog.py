"""Rebinding: click an action's key button, press the new key (or click a mouse button)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from app.input_map import BINDABLE, DEFAULT_BINDINGS, LABELS, rebind
from app.keys import key_name, mouse_name


class KeyButton(QPushButton):
    """Shows an action's keys; once clicked, the next key or mouse press is its new binding."""
    captured = Signal(str, str)               # action, key name

    def __init__(self, action: str, parent=None):
        super().__init__(parent)
        self.action = action
        self.listening = False
        self.setCheckable(True)
        self.setMinimumWidth(170)
        self.clicked.connect(self._listen)

    def show_keys(self, keys) -> None:
        self.listening = False
        self.setChecked(False)
        self.setText(" / ".join(keys) if keys else "—")

    def _listen(self) -> None:
        self.listening = True
        self.setChecked(True)
        self.setText("Press a key…")
        self.grabKeyboard()

    def _finish(self, name: str | None) -> None:
        self.releaseKeyboard()
        self.listening = False
        if name:
            self.captured.emit(self.action, name)

    def keyPressEvent(self, event) -> None:
        if not self.listening:
            return super().keyPressEvent(event)
        self._finish(None if event.key() == Qt.Key_Escape else key_name(event.key()))

    def mousePressEvent(self, event) -> None:
        if self.listening and event.button() != Qt.LeftButton:
            return self._finish(mouse_name(event.button()))
        if self.listening:                     # a second left click binds the left mouse button
            return self._finish("Mouse1")
        super().mousePressEvent(event)


class BindingsDialog(QDialog):
    def __init__(self, bindings: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Key bindings")
        self.bindings = {k: tuple(v) for k, v in bindings.items()}
        self.buttons: dict[str, KeyButton] = {}
        grid = QGridLayout()
        for row, action in enumerate(BINDABLE):
            grid.addWidget(QLabel(LABELS[action]), row, 0)
            button = KeyButton(action)
            button.captured.connect(self.assign)
            self.buttons[action] = button
            grid.addWidget(button, row, 1)
        hint = QLabel("Gamepad: left stick moves and strafes, right stick turns, triggers attack, "
                      "A uses, Start pauses.")
        hint.setWordWrap(True)
        hint.setObjectName("sectionTitle")
        box = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel | QDialogButtonBox.RestoreDefaults)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        box.button(QDialogButtonBox.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(hint)
        layout.addWidget(box)
        self._refresh()

    def assign(self, action: str, key: str) -> None:
        self.bindings = rebind(self.bindings, action, key)
        self._refresh()

    def restore_defaults(self) -> None:
        self.bindings = dict(DEFAULT_BINDINGS)
        self._refresh()

    def _refresh(self) -> None:
        for action, button in self.buttons.items():
            button.show_keys(self.bindings.get(action, ()))
