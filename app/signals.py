"""SIGINT (Ctrl+C in the terminal) and SIGTERM close the player the way Ctrl+Q does.

Python runs a signal handler only when the interpreter next gets control, and Qt's event
loop runs in C++: a signal could wait there for ever. With `signal.set_wakeup_fd`, Python's
C-level handler also writes the signal's number to a socket; a QSocketNotifier on the
other end wakes the event loop at once, and its slot calls `stop(signum)` in the GUI
thread. (A polling QTimer would work too, but wakes the process every few ms for nothing.)

SDL, which reads the gamepads, would install handlers of its own for both signals that
turn them into SDL events nobody reads: app/gamepad.py starts it without them.
"""
from __future__ import annotations

import signal
import socket

from PySide6.QtCore import QObject, QSocketNotifier, Slot

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


def _noted(_signum, _frame) -> None:
    """The Python-level handler: nothing to do, the wakeup socket carries the signal."""


class StopOnSignal(QObject):
    """While open, each SIGINT or SIGTERM calls `stop(signum)` in the GUI thread, once; then
    the signals' defaults come back, so a second signal ends a player whose closing hangs."""

    def __init__(self, stop, parent: QObject | None = None):
        super().__init__(parent)
        self._stop = stop
        self.signum: int | None = None            # the signal that stopped the player, if one did
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, _noted) for s in STOP_SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Read, self)
        self._notifier.activated.connect(self._woken)

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports it."""
        return None if self.signum is None else 128 + self.signum

    @Slot()
    def _woken(self) -> None:
        try:
            data = self._reader.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        received = [s for s in data if s in STOP_SIGNALS]
        if received and self.signum is None:
            self.signum = received[0]
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_DFL)
            self._stop(self.signum)

    def close(self) -> None:
        """Give the signals and the wakeup fd back as they were (idempotent)."""
        if self._notifier is None:
            return
        self._notifier.setEnabled(False)
        self._notifier = None
        signal.set_wakeup_fd(self._old_fd)
        for s, old in self._old.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        self._reader.close()
        self._writer.close()
