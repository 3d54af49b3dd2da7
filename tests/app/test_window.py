"""The window, offscreen: frames on screen, keys to actions, controls, recording, errors."""
from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.gamepad import PadEvent
from app.packets import WorldConfig
from app.player import world_config
from app.settings import Settings, load_settings
from app.window import MainWindow
from model.play.video import read_video
from model.play.world import action_from_names

TIMEOUT = 10_000


def open_window(qtbot, pack, paths, output, pads, settings=None, seed="alpha", record=None) -> MainWindow:
    """A window configured as `play --world PACK --seed SEED [--record]` would be (rng seed 3),
    shown and active (window shortcuts such as Tab need an active window), its first frame painted."""
    settings = settings or Settings()
    args = Namespace(world=str(pack), seed=seed, backend="auto", record=record)
    config = replace(world_config(args, settings), rng_seed=3)
    w = MainWindow(settings, paths, config, audio_output=lambda: output, gamepads=lambda: pads, autotick=False)
    w.show()
    with qtbot.waitActive(w, timeout=TIMEOUT):
        w.activateWindow()
    with qtbot.waitSignal(w.view.painted, timeout=TIMEOUT):
        w.start()
    return w


@pytest.fixture
def make_window(qtbot, tiny_pack, app_paths, fake_output, fake_pads):
    windows = []

    def make(settings=None, seed="alpha", record=None, pack=tiny_pack):
        windows.append(open_window(qtbot, pack, app_paths, fake_output, fake_pads, settings, seed, record))
        return windows[-1]

    yield make
    for w in windows:
        w.close()


def step(qtbot, w, n: int = 1):
    """n ticks, each waited for until painted; returns the painted (packet, paint_ms, latency)."""
    out = []
    for _ in range(n):
        with qtbot.waitSignal(w.view.painted, timeout=TIMEOUT,
                              check_params_cb=lambda packet, *_: packet.kind != "reset") as painted:
            w.world_thread.tick()
        out.append(painted.args)
    return out


def test_window_opens_and_paints_generated_frames(qtbot, make_window):
    w = make_window()
    assert w.view.packet.kind == "reset" and w.windowTitle() == "Reverie — Tiny"
    ((packet, paint_ms, _),) = step(qtbot, w)
    assert packet.kind == "step" and paint_ms >= 0
    shot = w.view.grab().toImage()
    assert shot.width() == w.view.width()
    assert any("fps" in line for line in w.view.stats.lines(packet))
    assert w.gallery.pack_list.count() == 2 and w.status["rng"].text() == "seed 3"


def test_key_press_reaches_the_next_step_and_latency_is_measured(qtbot, make_window):
    w = make_window()
    qtbot.keyPress(w.view, Qt.Key_W)
    qtbot.keyPress(w.view, Qt.Key_Control)
    ((packet, _, latency),) = step(qtbot, w)
    assert np.array_equal(packet.action, action_from_names({"MOVE_FORWARD", "ATTACK"}))
    assert latency is not None and latency >= 0 and w.view.stats.latency_p50 is not None
    qtbot.keyRelease(w.view, Qt.Key_W)
    qtbot.keyRelease(w.view, Qt.Key_Control)
    qtbot.mousePress(w.view, Qt.LeftButton)
    ((packet, _, _),) = step(qtbot, w)
    assert np.array_equal(packet.action, action_from_names({"ATTACK"}))
    qtbot.mouseRelease(w.view, Qt.LeftButton)


def test_pause_reset_and_rewind_keys(qtbot, make_window):
    w = make_window()
    first = w.view.packet
    step(qtbot, w, 5)
    with qtbot.waitSignal(w.world_thread.paused_changed, timeout=TIMEOUT) as paused:
        qtbot.keyPress(w.view, Qt.Key_P)
    assert paused.args == [True] and w.actions_.pause.text() == "Resume"
    with qtbot.waitSignal(w.world_thread.paused_changed, timeout=TIMEOUT):
        qtbot.keyPress(w.view, Qt.Key_P)
    with qtbot.waitSignal(w.view.painted, timeout=TIMEOUT):
        qtbot.keyPress(w.view, Qt.Key_R)
    assert w.view.packet.kind == "reset" and np.array_equal(w.view.packet.frame, first.frame)
    step(qtbot, w, 6)
    with qtbot.waitSignal(w.view.painted, timeout=TIMEOUT):
        qtbot.keyPress(w.view, Qt.Key_Backspace)
    ((scrub, _, _),) = step(qtbot, w)
    assert scrub.kind == "scrub" and scrub.index == scrub.latest - 2
    assert w.timeline.label.text() == "-0.1 s"
    with qtbot.waitSignal(w.view.painted, timeout=TIMEOUT):
        qtbot.keyRelease(w.view, Qt.Key_Backspace)
    assert w.view.packet.kind == "rewind" and w.view.packet.index == scrub.index


def test_record_toggle_writes_video_and_session(qtbot, make_window, app_paths, tmp_path):
    w = make_window()
    with qtbot.waitSignal(w.world_thread.recording_changed, timeout=TIMEOUT):
        w.actions_.record.trigger()
    assert w.status["rec"].text() == "● REC 0:00" and w.view.recording_s == 0
    shown = [p for p, _, _ in step(qtbot, w, 26)]
    assert w.status["rec"].text() == "● REC 0:01"
    with qtbot.waitSignal(w.world_thread.recording_changed, timeout=TIMEOUT):
        w.actions_.record.trigger()
    (mp4,) = app_paths.videos_dir.glob("*.mp4")
    assert len(read_video(mp4)) == len(shown) and not w.actions_.record.isChecked()
    assert len(json.loads(mp4.with_suffix(".json").read_text())["actions"]) == len(shown)


def test_play_record_is_finalized_when_the_window_closes(qtbot, make_window, tmp_path):
    out = tmp_path / "take.mp4"
    w = make_window(record=str(out))
    step(qtbot, w, 4)
    w.close()
    assert len(read_video(out)) == 4 and out.with_suffix(".json").is_file()


def test_engine_errors_show_in_the_window(qtbot, make_window):
    w = make_window()
    with qtbot.waitSignal(w.world_thread.message, timeout=TIMEOUT):
        w.start_scene("no-such-seed")
    assert w.notice.isVisible() and "unknown scene seed" in w.notice.text()
    step(qtbot, w)                                           # still playing


def test_dropping_an_image_starts_from_it_and_keeps_it(qtbot, make_window, tiny_pack, tmp_path, app_paths):
    w = make_window()
    png = tmp_path / "drop.png"
    assert w.view.grab().save(str(png))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(w.world_thread.session_started, timeout=TIMEOUT) as started:
        w.dropEvent(event)
    assert started.args[0].seed_name == "drop" and not started.args[0].pack_seed
    assert (app_paths.seeds_dir / "drop.png").is_file() and w.gallery.user_list.count() == 1
    assert w.settings.last_seed == str(app_paths.seeds_dir / "drop.png")


def test_gallery_rng_field_and_controls(qtbot, make_window):
    w = make_window()
    w.gallery.rng.setText("1234")
    with qtbot.waitSignal(w.world_thread.session_started, timeout=TIMEOUT) as started:
        w.gallery.pack_list.chosen.emit("beta")
    assert started.args[0].rng_seed == 1234 and started.args[0].seed_name == "beta"
    with qtbot.waitSignal(w.world_thread.steps_changed, timeout=TIMEOUT):
        w.choose_steps(4)
    ((packet, _, _),) = step(qtbot, w)
    assert packet.steps == 4 and w.actions_.steps.currentText() == "4 steps"
    with qtbot.waitSignal(w.world_thread.session_started, timeout=TIMEOUT) as restarted:
        w.choose_backend("cpu")
    assert restarted.args[0].backend == "cpu" and restarted.args[0].rng_seed == 1234


def test_screenshot_and_save_frame(qtbot, make_window, app_paths):
    w = make_window()
    path = w.screenshot()
    assert path.is_file() and path.parent == app_paths.videos_dir
    w.save_frame_as_seed()
    assert len(list(app_paths.seeds_dir.glob("*.npz"))) == 1 and w.gallery.user_list.count() == 1


def test_gamepad_and_audio_in_the_window(qtbot, make_window, fake_pads, fake_output):
    w = make_window()
    fake_pads.queue = [PadEvent("added", 1, "Pad"), PadEvent("axis", 1, "righttrigger", 1.0)]
    w.gamepads.poll()
    assert w.status["pad"].text() == "Gamepad connected: Pad"
    assert fake_output.pull(512).max() > 0.2                 # the weapon is heard at once
    ((packet, _, _),) = step(qtbot, w)
    assert np.array_equal(packet.action, action_from_names({"ATTACK"}))
    with qtbot.waitSignal(w.world_thread.paused_changed, timeout=TIMEOUT):
        fake_pads.queue = [PadEvent("button", 1, "start", 1.0)]
        w.gamepads.poll()
    w.actions_.mute.trigger()
    assert fake_output.pull(512).max() == 0.0


def test_silent_without_an_audio_device(qtbot, tiny_pack, app_paths, fake_pads):
    def no_device():
        raise OSError("no PortAudio")
    w = MainWindow(Settings(), app_paths, WorldConfig(world=str(tiny_pack), seed="alpha"),
                   audio_output=no_device, gamepads=lambda: fake_pads, autotick=False)
    try:
        with qtbot.waitSignal(w.world_thread.frame_ready, timeout=TIMEOUT):
            w.start()
        assert "silent" in w.statusBar().currentMessage()
    finally:
        w.close()


def test_settings_persist_between_runs(qtbot, make_window, app_paths):
    w = make_window()
    w.resize(900, 640)
    w.actions_.smooth.trigger()
    w.actions_.mute.trigger()
    w.actions_.hud.trigger()
    with qtbot.waitSignal(w.world_thread.steps_changed, timeout=TIMEOUT):
        w.choose_steps(1)
    w.close()
    saved, note = load_settings(app_paths.settings_file)
    assert note is None and saved.smooth and saved.muted and not saved.hud and saved.steps == 1
    assert saved.window_size == (900, 640) and saved.last_seed == "alpha"
    again = make_window(settings=saved, seed=None)
    assert again.view.smooth and again.audio.muted and again.view.packet is not None
    assert again.session.seed_name == "alpha" and again.actions_.steps.currentText() == "1 step"


def test_rebinding_dialog_and_its_use(qtbot, make_window, app_paths, monkeypatch):
    from app.bindings_dialog import BindingsDialog
    dialog = BindingsDialog(Settings().bindings)
    qtbot.addWidget(dialog)
    button = dialog.buttons["USE"]
    qtbot.mouseClick(button, Qt.LeftButton)
    assert button.text() == "Press a key…"
    qtbot.keyClick(button, Qt.Key_W)
    button.releaseKeyboard()
    assert dialog.bindings["USE"] == ("W",) and "W" not in dialog.bindings["MOVE_FORWARD"]
    assert button.text() == "W"

    w = make_window()
    monkeypatch.setattr(BindingsDialog, "exec", lambda self: (self.assign("ATTACK", "F"), 1)[1])
    w.edit_bindings()
    qtbot.keyPress(w.view, Qt.Key_F)
    ((packet, _, _),) = step(qtbot, w)
    assert np.array_equal(packet.action, action_from_names({"ATTACK"}))
    saved, _ = load_settings(app_paths.settings_file)
    assert saved.bindings["ATTACK"] == ("F",)


def test_full_screen_hides_the_chrome(qtbot, make_window):
    w = make_window()
    w.toggle_fullscreen()
    assert w.isFullScreen() and not w.toolbar.isVisible() and not w.dock.isVisible()
    qtbot.keyClick(w.view, Qt.Key_Escape)
    assert not w.isFullScreen() and w.toolbar.isVisible() and w.dock.isVisible()
