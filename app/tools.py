"""Helpers shared by the measuring tools (bench_gui, screenshot): never used by the player."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication


def seconds_since_process_start() -> float | None:
    """Wall time since this process started (Linux /proc; None elsewhere), 10 ms resolution."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def player_args(argv, description: str, **extra) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--world", default=None)
    p.add_argument("--seed", default=None, help="scene seed name or .npz/.png path")
    p.add_argument("--backend", default="auto")
    p.add_argument("--size", default="1280x760", help="window size WxH")
    for name, (default, text) in extra.items():
        p.add_argument(f"--{name}", default=default, type=type(default) if default is not None else str, help=text)
    args = p.parse_args(argv)
    args.record = None
    return args


def temp_paths():
    """User folders in a temporary directory: the tools never touch the user's settings."""
    from app.paths import AppPaths
    return AppPaths.under(Path(tempfile.mkdtemp(prefix="reverie-tool-")))


def send_key(widget, key, down: bool) -> float:
    """A synthetic key event through Qt's normal delivery; returns when it was sent."""
    t = time.perf_counter()
    QApplication.sendEvent(widget, QKeyEvent(QEvent.KeyPress if down else QEvent.KeyRelease, key, Qt.NoModifier))
    return t
