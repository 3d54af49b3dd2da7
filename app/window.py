"""The main window: the frame, the HUD, the gallery, the controls; input in, commands out.

Owns the world thread (the worker), live audio and gamepad polling, and (while the "Compare
with engine" view is open) the engine's thread, and stops them all on close. Keys become plain names (app/keys.py) at once; held keys go to the shared input
state the worker reads each tick; PAUSE/RESET/REWIND keys become world-thread commands.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.audio import LiveAudio, SoundDeviceOutput
from app.bindings_dialog import BindingsDialog
from app.compare import CompareDock, compare_unavailable
from app.controls import NoticeBar, TimelineBar
from app.frame_view import FrameView
from app.gallery import SEED_SUFFIXES, GalleryPanel
from app.gamepad import GamepadPoller, PygameGamepads
from app.icons import icon
from app.input_map import LABELS, command_for_key, is_bound
from app.input_state import InputState
from app.keys import key_name
from app.minimap import MinimapView
from app.packets import WorldConfig
from app.paths import AppPaths
from app.settings import Settings, save_settings
from app.window_actions import build_actions, set_available
from app.world_thread import WorldThread
from model.play.images import write_png
from model.play.video import upscale

CONTROLS_TEXT = ("W/S forward and back · A/D strafe · ←/→ turn · Ctrl or left click attack · "
                 "E or Space use · P pause · R reset · hold Backspace rewind · F9 record · "
                 "F12 screenshot · F11 full screen · H HUD · Tab map · M mute")
NO_MAP = "The map needs a geometry world: this one is latent, with no poses or memory to draw"


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, paths: AppPaths, config: WorldConfig, *, input_state=None,
                 audio_output=SoundDeviceOutput, gamepads=PygameGamepads, autotick: bool = True, clock=None):
        super().__init__()
        self.settings, self.paths = settings, paths
        self.input = input_state or InputState(settings.bindings)
        self.input.set_bindings(settings.bindings)
        self.world_thread = WorldThread(config, self.input, autotick=autotick, parent=self,
                             **({"clock": clock} if clock else {}))
        self.audio = LiveAudio(self.input, audio_output)
        self.audio.muted = settings.muted
        self.gamepads = GamepadPoller(self.input, gamepads, parent=self)
        self.session = None                       # SessionInfo of the scene playing
        self.recorder = None
        self._closed = self._switching = False
        self.setWindowTitle("Reverie")
        self.setAcceptDrops(True)
        self.resize(*settings.window_size)
        self._build()
        self._connect()

    # -- construction -------------------------------------------------------------------
    def _build(self) -> None:
        self.view = FrameView()
        self.view.smooth, self.view.hud_visible = self.settings.smooth, self.settings.hud
        self.notice = NoticeBar()
        self.timeline = TimelineBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)
        self.gallery = GalleryPanel()
        self.dock = QDockWidget("Scenes")
        self.dock.setObjectName("gallery")
        self.dock.setWidget(self.gallery)
        self.dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
        self.dock.setMinimumWidth(300)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.dock)
        self.dock.setVisible(self.settings.gallery)
        self.minimap = MinimapView(self.view)
        self.minimap.hide()
        self.compare = CompareDock(self)
        self.addDockWidget(Qt.RightDockWidgetArea, self.compare)
        self.compare.hide()
        self.actions_ = build_actions(self)
        self.dock.visibilityChanged.connect(self._dock_visibility)
        self.actions_.mute.setIcon(icon("mute" if self.settings.muted else "sound"))
        self.status = {name: QLabel("") for name in ("rec", "pad", "rng", "backend")}
        self.status["rec"].setObjectName("recBadge")
        for label in self.status.values():
            self.statusBar().addPermanentWidget(label)
        self.gallery.set_user_seeds(self.paths.seeds_dir)
        self.view.setFocus()

    def _connect(self) -> None:
        e = self.world_thread
        e.frame_ready.connect(self.view.show_packet)
        e.frame_ready.connect(self.timeline.show_packet)
        e.frame_ready.connect(self._check_audio)
        e.frame_ready.connect(self.minimap.show_packet)
        e.frame_ready.connect(self.compare.follow)
        self.compare.message.connect(self.show_message)
        e.world_loaded.connect(self._world_loaded)
        e.world_failed.connect(self.view.show_failure)
        e.session_started.connect(self._session_started)
        e.paused_changed.connect(self._paused_changed)
        e.steps_changed.connect(self._steps_changed)
        e.recording_changed.connect(self._recording_changed)
        e.message.connect(self.show_message)
        self.timeline.seek.connect(e.seek)
        self.timeline.released.connect(e.commit_rewind)
        self.view.mouse_button.connect(lambda name, down: self._key(name, down))
        self.gallery.seed_chosen.connect(self.start_scene)
        self.gallery.world_chosen.connect(self._choose_world)
        self.gallery.open_requested.connect(self.open_seed_dialog)
        self.gallery.save_requested.connect(self.save_frame_as_seed)
        self.gallery.rng.returnPressed.connect(self.view.setFocus)
        self.gamepads.note.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.gamepads.note.connect(self.status["pad"].setText)
        self.gamepads.command.connect(self._command)

    def start(self) -> None:
        """Show first, then load: the world opens in the worker thread."""
        self.world_thread.start()
        note = self.audio.start()
        if note:
            self.statusBar().showMessage(note, 8000)
        self.gamepads.start()

    # -- world events -------------------------------------------------------------------
    @Slot(object)
    def _world_loaded(self, info) -> None:
        from model.play.pack import available_worlds
        worlds = {wid: wid for wid in available_worlds()}
        if info.id not in worlds:
            worlds[info.id] = str(info.root)
        self.gallery.set_worlds(worlds, info.id)
        self.gallery.set_pack_seeds(info.seeds)
        self.setWindowTitle(f"Reverie — {info.title}")
        self.settings.last_world = info.id if worlds[info.id] == info.id else None
        self.view.placeholder = "Pick a scene, open an image, or drop one here"
        self.view.update()

    @Slot(object)
    def _session_started(self, info) -> None:
        self.session = info
        self.audio.paused = False
        self.status["rng"].setText(f"seed {info.rng_seed}")
        self.status["backend"].setText(info.backend)
        self.actions_.backend.setItemText(0, f"auto ({info.backend})")
        self.gallery.show_drawn(info.rng_seed)
        self._steps_changed(info.steps)
        self._tools_for(info)
        if info.pack_seed:
            self.settings.last_seed = info.seed_path.stem
            self.gallery.pack_list.select(info.seed_path.stem)
        elif info.seed_path is not None:
            self.settings.last_seed = str(self._keep_user_seed(info.seed_path))
            self.gallery.user_list.select(self.settings.last_seed)

    def _tools_for(self, info) -> None:
        """The map needs a geometry world; the engine view, the engine and a seed it made."""
        set_available(self.actions_.minimap, None if info.geometry else NO_MAP)
        self.minimap.setVisible(info.geometry and self.settings.minimap)
        reason = compare_unavailable(info.seed_path)
        set_available(self.actions_.compare, reason)
        if self.compare.running and reason:
            self.actions_.compare.setChecked(False)
            self.show_message("info", f"Engine view closed: {reason}")
        elif self.compare.running:
            self.compare.start(info.seed_path)             # the new scene's reset packet follows

    def _keep_user_seed(self, path: Path) -> Path:
        """A seed opened from elsewhere is copied into the user's seeds folder (shown in the gallery)."""
        folder = self.paths.seeds_dir
        if folder.exists() and path.parent.resolve() == folder.resolve():
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target, n = folder / path.name, 2
            while target.exists() and target.read_bytes() != path.read_bytes():
                target, n = folder / f"{path.stem}-{n}{path.suffix}", n + 1
            if not target.exists():
                shutil.copyfile(path, target)
                self.gallery.note_copied(path, target)
        except OSError as exc:
            self.show_message("error", f"Could not keep {path.name} in {folder}: {exc.strerror or exc}")
            return path
        self.gallery.set_user_seeds(folder)
        return target

    @Slot(bool)
    def _paused_changed(self, paused: bool) -> None:
        self.view.paused = paused
        self.audio.paused = paused
        self.actions_.pause.setIcon(icon("play" if paused else "pause"))
        self.actions_.pause.setText("Resume" if paused else "Pause")
        self.view.update()

    @Slot(int)
    def _steps_changed(self, steps: int) -> None:
        self.actions_.steps.setCurrentIndex(steps - 1)
        self.steps_actions[steps].setChecked(True)

    @Slot(object)
    def _recording_changed(self, recorder) -> None:
        self.recorder = recorder
        active = recorder is not None
        self.actions_.record.blockSignals(True)
        self.actions_.record.setChecked(active)
        self.actions_.record.blockSignals(False)
        self.view.recording_s = recorder.seconds if active else None
        s = int(recorder.seconds) if active else 0
        self.status["rec"].setText(f"● REC {s // 60}:{s % 60:02d}" if active else "")
        self.view.update()

    @Slot(object)
    def _check_audio(self, _packet) -> None:
        note = self.audio.check()
        if note:
            self.show_message("error", note)

    @Slot(str, str)
    def show_message(self, level: str, text: str) -> None:
        self.statusBar().showMessage(text, 8000)
        if level == "error":
            self.notice.notify(level, text)

    # -- input --------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape and self.isFullScreen():
            return self.toggle_fullscreen()
        name = key_name(event.key())
        if event.isAutoRepeat() or name is None or not self._key(name, True):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        name = key_name(event.key())
        if event.isAutoRepeat() or name is None or not self._key(name, False):
            super().keyReleaseEvent(event)

    def _key(self, name: str, down: bool) -> bool:
        """A key or mouse button went down or up; False if it is bound to nothing."""
        bindings = self.settings.bindings
        command = command_for_key(name, bindings)
        if command == "REWIND":
            self.world_thread.scrub(down)
        elif command is not None:
            if down:
                self._command(command)
        elif is_bound(name, bindings):
            (self.input.press if down else self.input.release)(name, time.perf_counter())
        else:
            return False
        return True

    def _command(self, command: str) -> None:
        {"PAUSE": self.world_thread.toggle_pause, "RESET": self.world_thread.reset}[command]()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.ActivationChange and not self.isActiveWindow():
            self.input.clear()                    # keys released in another window never reach us
        super().changeEvent(event)

    def dragEnterEvent(self, event) -> None:
        if _dropped_seed(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = _dropped_seed(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.start_scene(str(path))

    # -- commands -----------------------------------------------------------------------
    def start_scene(self, seed_ref: str) -> None:
        rng, error = self.gallery.rng_value()
        if error:
            self.show_message("error", error)
        self.world_thread.new_scene(seed_ref, rng)
        self.view.setFocus()

    def open_seed_dialog(self) -> None:
        pattern = " ".join(f"*{s}" for s in SEED_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Start from an image or clip", str(Path.home()),
                                              f"Scene seeds ({pattern})")
        if path:
            self.start_scene(path)

    def save_frame_as_seed(self) -> None:
        frame = self.view.current_frame()
        if frame is None:
            return
        folder = self.paths.seeds_dir
        stem = time.strftime("scene-%Y%m%d-%H%M%S")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(folder / f"{stem}.npz", frames=frame[None], name=np.array(stem))
            write_png(folder / f"{stem}.png", frame)
        except OSError as exc:
            return self.show_message("error", f"Could not save the scene in {folder}: {exc.strerror or exc}")
        self.gallery.set_user_seeds(folder)
        self.show_message("info", f"Saved this frame as scene '{stem}'")

    def screenshot(self) -> Path | None:
        frame = self.view.current_frame()
        if frame is None:
            return None
        path = self.paths.timestamped(".png", prefix="reverie-shot")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, upscale(frame, 4, self.view.smooth))      # 4x, as the MP4s upscale
        except OSError as exc:
            self.show_message("error", f"Screenshot not saved: {exc.strerror or exc}")
            return None
        self.show_message("info", f"Screenshot saved to {path}")
        return path

    def toggle_recording(self, on: bool) -> None:
        if on and self.recorder is None:
            self.world_thread.start_recording(str(self.paths.timestamped(".mp4")))
        elif not on and self.recorder is not None:
            self.world_thread.stop_recording()

    def open_videos_folder(self) -> None:
        self.paths.videos_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.paths.videos_dir)))

    def choose_steps(self, steps: int) -> None:
        self.settings.steps = int(steps)
        self.world_thread.set_steps(int(steps))

    def choose_backend(self, backend: str) -> None:
        self.settings.backend = backend
        self.world_thread.set_backend(backend)

    def _choose_world(self, ref: str) -> None:
        self.world_thread.open_world(ref)

    def toggle_fullscreen(self) -> None:
        full = not self.isFullScreen()
        self._switching = True                    # the dock hides, but the setting stays
        for widget in (self.menuBar(), self.toolbar, self.statusBar(), self.timeline):
            widget.setVisible(not full)
        self.dock.setVisible(not full and self.settings.gallery)
        self._switching = False
        self.showFullScreen() if full else self.showNormal()

    def set_hud_visible(self, on: bool) -> None:
        self.settings.hud = bool(on)
        self.view.set_hud_visible(on)

    def set_minimap_visible(self, on: bool) -> None:
        self.settings.minimap = bool(on)
        self.minimap.setVisible(bool(on) and self.session is not None and self.session.geometry)

    def set_compare_visible(self, on: bool) -> None:
        """Open the engine beside the model; the scene restarts so that both start from its seed."""
        if on and self.session is not None:
            self.compare.start(self.session.seed_path)
            self.compare.show()
            self.world_thread.reset()
        else:
            self.compare.stop()
            self.compare.hide()

    def set_gallery_visible(self, on: bool) -> None:
        self.settings.gallery = bool(on)
        self.dock.setVisible(bool(on))

    def _dock_visibility(self, visible: bool) -> None:
        if not (self._switching or self._closed) and self.isVisible():
            self.settings.gallery = visible
            self.actions_.gallery.setChecked(visible)

    def set_smooth(self, on: bool) -> None:
        self.settings.smooth = self.view.smooth = bool(on)
        self.view.update()

    def set_muted(self, on: bool) -> None:
        self.settings.muted = self.audio.muted = bool(on)
        self.actions_.mute.setIcon(icon("mute" if on else "sound"))

    def edit_bindings(self) -> None:
        dialog = BindingsDialog(self.settings.bindings, self)
        if dialog.exec():
            self.settings.bindings = dialog.bindings
            self.input.set_bindings(dialog.bindings)
            self._save_settings()

    def show_controls(self) -> None:
        keys = "\n".join(f"{LABELS[k]}: {' / '.join(v)}" for k, v in self.settings.bindings.items())
        QMessageBox.information(self, "Controls", f"{CONTROLS_TEXT}\n\nYour keys:\n{keys}")

    # -- closing ------------------------------------------------------------------------
    def _save_settings(self) -> None:
        error = save_settings(self.settings, self.paths.settings_file)
        if error:
            self.statusBar().showMessage(error, 8000)

    def closeEvent(self, event) -> None:
        if not self._closed:
            self._closed = True
            if not (self.isFullScreen() or self.isMaximized()):
                self.settings.window_size = (self.width(), self.height())
            self.settings.maximized = self.isMaximized()
            self.world_thread.stop()                    # finalizes a recording
            self.compare.stop()
            self.gamepads.stop()
            self.audio.close()
            self.notice.timer.stop()
            self._save_settings()
        super().closeEvent(event)


def _dropped_seed(mime) -> Path | None:
    for url in mime.urls() if mime.hasUrls() else []:
        path = Path(url.toLocalFile())
        if path.suffix.lower() in SEED_SUFFIXES and path.is_file():
            return path
    return None
