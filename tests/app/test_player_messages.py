"""What the player says (issue 14, parts 2-4): a world that cannot open is said where the
frame would be, a seed copied into the user's scenes is said in the gallery, a tiny seed
warns, and screenshots and saved scenes are PNGs written by Pillow."""
from __future__ import annotations

import shutil
from argparse import Namespace

import numpy as np
from PIL import Image
from test_window import TIMEOUT, open_window

from app.frame_view import from_qimage, to_qimage
from app.player import world_config
from app.settings import Settings
from app.window import MainWindow
from model.play.images import read_image


def test_a_world_that_cannot_open_is_said_where_the_frame_would_be(qtbot, tiny_pack, tmp_path, app_paths,
                                                                   fake_output, fake_pads):
    pack = shutil.copytree(tiny_pack, tmp_path / "broken")
    (pack / "decoder.onnx").unlink()
    config = world_config(Namespace(world=str(pack), seed=None, backend="auto", record=None), Settings())
    w = MainWindow(Settings(), app_paths, config, audio_output=lambda: fake_output, gamepads=lambda: fake_pads,
                   autotick=False)
    w.show()
    try:
        with qtbot.waitSignal(w.world_thread.world_failed, timeout=TIMEOUT):
            w.start()
        qtbot.waitUntil(lambda: "decoder.onnx: model file missing" in w.view.placeholder, timeout=TIMEOUT)
        assert w.view.placeholder.startswith("No world is open") and "Loading" not in w.view.placeholder
        assert w.view.grab().toImage().width() == w.view.width()          # it paints the message
    finally:
        w.close()


def _open(qtbot, tiny_pack, app_paths, fake_output, fake_pads, seed):
    return open_window(qtbot, tiny_pack, app_paths, fake_output, fake_pads, seed=str(seed))


def test_a_seed_opened_from_elsewhere_is_copied_and_the_gallery_says_so(qtbot, tiny_pack, tmp_path, app_paths,
                                                                        fake_output, fake_pads):
    one = tmp_path / "one.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8)).save(one)
    w = _open(qtbot, tiny_pack, app_paths, fake_output, fake_pads, one)
    try:
        qtbot.waitUntil(lambda: w.gallery.copied.isVisibleTo(w.gallery), timeout=TIMEOUT)
        assert (app_paths.seeds_dir / "one.png").read_bytes() == one.read_bytes()
        assert "one.png was copied into your scenes" in w.gallery.copied.text()
        assert str(app_paths.seeds_dir / "one.png") in w.gallery.copied.toolTip()
    finally:
        w.close()
    again = _open(qtbot, tiny_pack, app_paths, fake_output, fake_pads, app_paths.seeds_dir / "one.png")
    try:                                      # a seed already in the scenes is not copied, so nothing is said
        assert not again.gallery.copied.isVisibleTo(again.gallery)
    finally:
        again.close()


def test_a_tiny_seed_plays_with_a_warning(qtbot, tiny_pack, tmp_path, app_paths, fake_output, fake_pads):
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 30, 30)).save(dot)
    args = Namespace(world=str(tiny_pack), seed=str(dot), backend="auto", record=None)
    config = world_config(args, Settings())
    w = MainWindow(Settings(), app_paths, config, audio_output=lambda: fake_output, gamepads=lambda: fake_pads,
                   autotick=False)
    messages = []
    w.world_thread.message.connect(lambda level, text: messages.append(text))
    w.show()
    try:
        with qtbot.waitSignal(w.world_thread.session_started, timeout=TIMEOUT):
            w.start()
        qtbot.waitUntil(lambda: any("1x1 pixels" in m for m in messages), timeout=TIMEOUT)
        assert any("it will look blocky" in m for m in messages)
    finally:
        w.close()


def test_screenshots_and_saved_scenes_are_pngs_of_the_frame(qtbot, tiny_pack, app_paths, fake_output, fake_pads):
    w = _open(qtbot, tiny_pack, app_paths, fake_output, fake_pads, "alpha")
    try:
        frame = w.view.current_frame()
        shot = read_image(w.screenshot())
        assert shot.shape == (4 * frame.shape[0], 4 * frame.shape[1], 3)
        assert np.array_equal(shot[::4, ::4], frame)                     # pixel blocks: the frame itself
        w.save_frame_as_seed()
        (png,) = app_paths.seeds_dir.glob("scene-*.png")
        assert np.array_equal(read_image(png), frame)
        assert not list(app_paths.seeds_dir.glob("*.tmp")) and not list(app_paths.videos_dir.glob("*.tmp"))
    finally:
        w.close()



def test_a_window_grab_reaches_pillow_pixel_for_pixel():
    for w in (128, 37):                                         # 37 * 3 bytes: rows padded in Qt
        frame = np.random.default_rng(w).integers(0, 256, (9, w, 3), np.uint8)
        assert np.array_equal(from_qimage(to_qimage(frame)), frame)
