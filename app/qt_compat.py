"""A check of the Qt binding itself, run once by the player's entry point.

PySide6 6.12.0 loses a reference to None on every call of a Qt method that returns
nothing (QPainter.setPen, QWidget.update, ...) and to True on every `Signal.emit()`. The
player makes hundreds of such calls a second; within a minute of play None's count
reaches zero and the interpreter aborts ("Fatal Python error: none_dealloc"). No
work-around in our code can cover every call, so the player says so at start-up, and
pyproject.toml excludes that version. PySide6 6.11 does not do this.
"""
from __future__ import annotations

import sys

PROBES = 16
FIX = "pip install 'PySide6-Essentials>=6.6,!=6.12.0'"


def reference_leak() -> str | None:
    """One line naming the problem if the binding loses references, else None."""
    import PySide6
    from PySide6.QtCore import QObject, QRect, Signal

    class Probe(QObject):
        ping = Signal()

    probe, rect = Probe(), QRect()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBES):
        probe.ping.emit()
        rect.setWidth(1)                     # a Qt method that returns nothing
    lost = max(b - a for b, a in zip(before, (sys.getrefcount(None), sys.getrefcount(True))))
    if lost < PROBES:
        return None
    return (f"PySide6 {PySide6.__version__} loses a Python reference on every Qt call and crashes "
            f"the player within minutes: {FIX}")
