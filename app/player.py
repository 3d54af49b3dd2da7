"""`python main.py play`: the desktop player.

The window shows at once; the world loads in the world thread (startup goal: first
generated frame on screen within 5 s on 2 CPU cores).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from model.play.errors import UserError


def world_config(args, settings):
    """The command line first, then what the last run remembered."""
    from app.packets import WorldConfig
    from model.play.pack import available_worlds, find_pack
    if args.world is not None:
        find_pack(args.world)           # an unknown world is refused here, as by every other command
    backend = args.backend if getattr(args, "backend", "auto") != "auto" else settings.backend
    remembered = settings.last_world if settings.last_world in available_worlds() else None
    return WorldConfig(world=args.world or remembered, seed=args.seed,
                        fallback_seed=None if args.seed else settings.last_seed,
                        backend=backend, steps=settings.steps, record=_record_path(args.record))


def _record_path(record: str | None) -> str | None:
    if record is None:
        return None
    path = Path(record)
    if path.suffix.lower() != ".mp4":
        raise UserError(f"{record}: --record needs an .mp4 file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{record}: folder {parent} does not exist")
    return str(path.resolve())


def _check_display() -> None:
    """Qt aborts the process without a display: say so in one line instead."""
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display to open a window on (on a headless machine run it under xvfb-run)")


def create_window(args, paths=None, **window_options):
    """The themed QApplication and the main window (not shown yet), for run() and the tools."""
    from app.paths import AppPaths
    from app.settings import load_settings
    paths = paths or AppPaths.default()
    settings, note = load_settings(paths.settings_file)
    config = world_config(args, settings)            # bad arguments fail here, before any window
    _check_display()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")     # pygame is only asked about gamepads
    from PySide6.QtWidgets import QApplication

    from app.qt_compat import reference_leak
    from app.theme import apply_theme
    from app.window import MainWindow
    leak = reference_leak()
    if leak:                               # warned, not refused: short sessions still work
        print(f"reverie: warning: {leak}", file=sys.stderr)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Reverie")
    apply_theme(app)
    window = MainWindow(settings, paths, config, **window_options)
    for text in (note, leak):
        if text:
            window.show_message("error" if text is leak else "info", text)
    return app, window


def show_window(window) -> None:
    """Show the window with the keyboard focus: with no window manager to give it (Xvfb, a
    kiosk) its shortcuts and keys would reach nothing until it was clicked."""
    if window.settings.maximized:
        window.showMaximized()
    else:
        window.show()
    window.raise_()
    window.activateWindow()


def run(args) -> int:
    """The player until its window closes; exit code 0, or 130/143 when SIGINT/SIGTERM closed it."""
    from app.signals import StopOnSignal
    app, window = create_window(args)
    # A signal closes every window as Ctrl+Q does (a recording and its session file are
    # finalized), dialogs included, whose own event loops would otherwise keep the app up.
    stopper = StopOnSignal(lambda _signum: (app.closeAllWindows(), app.quit()))
    try:
        show_window(window)
        window.start()
        code = app.exec()
    finally:
        window.close()                    # idempotent: stops the world thread if exec ended another way
        stopper.close()
    return stopper.exit_code if stopper.exit_code is not None else int(code)
