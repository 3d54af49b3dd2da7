"""The main window's actions, menus and toolbar, built in one place."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QToolBar, QWidget

from app.icons import icon
from model.play.backends import BACKEND_CHOICES
from model.play.sampler import DENOISE_STEPS
from model.play.world import FPS

REWIND_BUTTON_FRAMES = 2 * FPS      # the toolbar's rewind: 2 s back


def _action(win, text: str, slot, icon_name: str | None = None, shortcut: str | None = None,
            checkable: bool = False, tip: str | None = None) -> QAction:
    action = QAction(text, win)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    tip = tip or text.replace("…", "")
    action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
    action.setProperty("tip", action.toolTip())          # what set_available restores
    (action.toggled if checkable else action.triggered).connect(slot)
    win.addAction(action)                # shortcuts work with the menu bar hidden (full screen)
    return action


def build_actions(win) -> SimpleNamespace:
    s = win.settings
    a = SimpleNamespace()
    a.open = _action(win, "Open image…", win.open_seed_dialog, "open", "Ctrl+O", tip="Start from an image or clip")
    a.save_seed = _action(win, "Save frame as scene", win.save_frame_as_seed, shortcut="Ctrl+S")
    a.screenshot = _action(win, "Screenshot", win.screenshot, "camera", "F12")
    a.record = _action(win, "Record", win.toggle_recording, "record", "F9", checkable=True)
    a.folder = _action(win, "Open recordings folder", win.open_videos_folder)
    a.quit = _action(win, "Quit", win.close, shortcut="Ctrl+Q")
    a.pause = _action(win, "Pause", win.world_thread.toggle_pause, "pause", tip="Pause / resume (P)")
    a.reset = _action(win, "Reset scene", win.world_thread.reset, "reset", tip="Back to the scene seed (R)")
    a.rewind = _action(win, "Rewind 2 s", lambda: win.world_thread.rewind_by(REWIND_BUTTON_FRAMES), "rewind",
                       tip="Rewind 2 s (hold Backspace to rewind up to 10 s)")
    a.fullscreen = _action(win, "Full screen", win.toggle_fullscreen, "fullscreen", "F11")
    a.hud = _action(win, "HUD", win.set_hud_visible, "hud", "H", checkable=True, tip="Show the HUD")
    a.minimap = _action(win, "Map", win.set_minimap_visible, shortcut="Tab", checkable=True,
                        tip="Show the map of where you have been, from the model's own poses and memory")
    a.gallery = _action(win, "Scene gallery", win.set_gallery_visible, "gallery", "G", checkable=True)
    a.smooth = _action(win, "Smooth scaling", win.set_smooth, checkable=True)
    a.mute = _action(win, "Mute", win.set_muted, "sound", "M", checkable=True)
    a.bindings = _action(win, "Key bindings…", win.edit_bindings, "keyboard")
    a.controls = _action(win, "Controls", win.show_controls)
    a.compare = _action(win, "Compare with engine", win.set_compare_visible, checkable=True,
                        tip="Play the real engine on the same keys beside the model, with its PSNR "
                            "(restarts the scene from its seed)")
    for action, value in ((a.hud, s.hud), (a.minimap, s.minimap), (a.gallery, s.gallery), (a.smooth, s.smooth),
                          (a.mute, s.muted)):
        action.blockSignals(True)
        action.setChecked(value)
        action.blockSignals(False)
    a.steps = _combo([(f"{n} step{'s' * (n > 1)}", n) for n in DENOISE_STEPS], win.choose_steps,
                     "Denoising steps per frame: fewer is faster, more is sharper")
    a.backend = _combo([(b, b) for b in BACKEND_CHOICES], win.choose_backend, "Where the model runs")
    a.backend.setCurrentIndex(BACKEND_CHOICES.index(s.backend))
    _menus(win, a)
    win.toolbar = _toolbar(win, a)
    return a


def set_available(action: QAction, reason: str | None) -> None:
    """Enable an action, or disable it with the one-line reason it cannot be used as its tooltip."""
    action.setEnabled(reason is None)
    action.setToolTip(action.property("tip") if reason is None else reason)


def _combo(items, slot, tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setFocusPolicy(Qt.NoFocus)
    combo.setToolTip(tip)
    combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
    for text, data in items:
        combo.addItem(text, data)
    combo.activated.connect(lambda i: slot(combo.itemData(i)))
    return combo


def _menus(win, a) -> None:
    bar = win.menuBar()
    for title, entries in (
        ("&File", [a.open, a.save_seed, None, a.record, a.screenshot, a.folder, None, a.quit]),
        ("&Play", [a.pause, a.reset, a.rewind]),
        ("&View", [a.fullscreen, a.hud, a.minimap, a.gallery, a.smooth, None, a.compare]),
        ("&Settings", [a.bindings, a.mute]),
        ("&Help", [a.controls]),
    ):
        menu = bar.addMenu(title)
        menu.setToolTipsVisible(True)          # a disabled entry says why in its tooltip
        for entry in entries:
            menu.addSeparator() if entry is None else menu.addAction(entry)
    steps_menu = bar.actions()[1].menu().addMenu("Denoising steps")
    group = QActionGroup(win)
    win.steps_actions = {}
    for n in DENOISE_STEPS:
        act = steps_menu.addAction(str(n))
        act.setCheckable(True)
        group.addAction(act)
        act.triggered.connect(lambda _=False, n=n: win.choose_steps(n))
        win.steps_actions[n] = act


def _toolbar(win, a) -> QToolBar:
    bar = QToolBar("Controls")
    bar.setObjectName("controls")
    bar.setMovable(False)
    bar.setIconSize(QSize(20, 20))
    bar.setFocusPolicy(Qt.NoFocus)
    for entry in (a.pause, a.reset, a.rewind, None, a.record, a.screenshot, None):
        bar.addSeparator() if entry is None else bar.addAction(entry)
    bar.addWidget(QLabel("Steps"))
    bar.addWidget(a.steps)
    bar.addWidget(QLabel("Backend"))
    bar.addWidget(a.backend)
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
    bar.addWidget(spacer)
    for entry in (a.gallery, a.hud, a.mute, a.fullscreen):
        bar.addAction(entry)
    for button in bar.findChildren(QWidget):
        button.setFocusPolicy(Qt.NoFocus)
    win.addToolBar(Qt.TopToolBarArea, bar)
    return bar
