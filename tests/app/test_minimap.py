"""The map of where you have been: the trail model, and the map and memory readout in the window."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from test_window import open_window, step

from app.hud import HudStats
from app.minimap import TRAIL_COLOUR, map_transform, thin
from app.packets import MapState
from app.trail import PoseTrail
from app.window import NO_MAP


def packet(kind: str, index: int, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, share: float = 0.0,
           painted: float = 0.0, imagined: float = 0.0, mapped: float | None = None):
    geo = MapState((x, y, yaw), np.array([[x, y]]), 1, 64, share, painted, imagined, mapped or 0.0, mapped is not None)
    return SimpleNamespace(kind=kind, index=index, geo=geo)


def test_trail_follows_reset_steps_rewind_and_scrub():
    trail = PoseTrail(capacity=8, step=4.0)
    trail.on_packet(packet("reset", 15))
    for i in range(1, 6):
        trail.on_packet(packet("step", 15 + i, x=5.0 * i))
    trail.on_packet(packet("step", 21, x=26.0))               # 1 unit on: not kept
    assert trail.points[:, 0].tolist() == [0, 5, 10, 15, 20, 25] and trail.pose == (26.0, 0.0, 0.0)
    trail.on_packet(packet("scrub", 17))
    assert trail.points[:, 0].tolist() == [0, 5, 10] and trail.pose[0] == 10
    trail.on_packet(packet("rewind", 18, x=15.0))
    assert trail.points[:, 0].tolist() == [0, 5, 10, 15] and trail.shown is None
    trail.on_packet(packet("step", 19, y=-30.0))
    assert trail.points[-1].tolist() == [0, -30]
    trail.on_packet(packet("reset", 15, x=7.0))
    assert trail.points.tolist() == [[7, 0]]
    trail.on_packet(SimpleNamespace(kind="reset", index=15, geo=None))   # a latent world: no map
    assert trail.pose is None and len(trail.points) == 0 and len(trail.keyframes) == 0


def test_trail_is_bounded_and_keeps_the_recent_past():
    trail = PoseTrail(capacity=8, step=1.0)
    trail.on_packet(packet("reset", 0))
    for i in range(1, 40):
        trail.on_packet(packet("step", i, x=float(i)))
        assert len(trail.points) <= 8
    kept = trail.points[:, 0].tolist()
    assert len(kept) >= 6 and kept == list(range(40 - len(kept), 40))


def test_map_transform_is_north_up_and_fits_everything():
    pose = (100.0, 50.0, 90.0)
    far = np.array([[100.0, 550.0], [100.0, 50.0]])                    # 500 units north of the camera
    px = map_transform(pose, far, radius_px=90.0)(far)
    assert px[1].tolist() == [100.0, 100.0] and px[0].tolist() == pytest.approx([100.0, 10.0])
    near = np.array([[110.0, 50.0]])                                   # never zoomed in past MIN_RADIUS
    assert map_transform(pose, near, 90.0)(near)[0, 0] < 110.0
    line = np.array([[0, 0], [0.2, 0], [0.4, 0], [3, 0], [3.1, 0]])
    assert thin(line).tolist() == [[0, 0], [3, 0], [3.1, 0]]


def test_hud_shows_the_memory_share_only_for_a_geometry_world():
    geo = packet("step", 20, share=0.234, painted=0.05, imagined=0.12).geo
    lines = HudStats().lines(SimpleNamespace(timings=None, steps_used=2, steps=2, backend="cpu", index=20, geo=geo))
    assert "memory 23% · map: not located · imagined 12% · painted 5% of view · keyframes 1/64" in lines
    geo = packet("step", 20, share=0.234, painted=0.05, imagined=0.12, mapped=0.31).geo
    lines = HudStats().lines(SimpleNamespace(timings=None, steps_used=2, steps=2, backend="cpu", index=20, geo=geo))
    assert "memory 23% · map 31% · imagined 12% · painted 5% of view · keyframes 1/64" in lines
    latent = HudStats().lines(SimpleNamespace(timings=None, steps_used=2, steps=2, backend="cpu", index=20, geo=None))
    assert not any(line.startswith("memory") for line in latent)


@pytest.fixture
def window(qtbot, app_paths, fake_output, fake_pads):
    windows = []

    def make(pack):
        windows.append(open_window(qtbot, pack, app_paths, fake_output, fake_pads))
        return windows[-1]

    yield make
    for w in windows:
        w.close()


def trail_pixels(w) -> int:
    """Pixels of the map in the trail's colour."""
    image = w.minimap.grab().toImage().convertToFormat(QImage.Format_RGB888)
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rgb[:, :image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    target = np.array([int(TRAIL_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).sum(axis=2) < 40).sum())


def test_the_map_key_shows_the_trail_of_a_geometry_world(qtbot, window, geo_pack):
    w = window(geo_pack)
    assert w.actions_.minimap.isEnabled() and not w.minimap.isVisible()
    qtbot.keyClick(w.view, Qt.Key_Tab)
    assert w.minimap.isVisible() and w.settings.minimap and w.view.hasFocus()
    assert trail_pixels(w) == 0                                        # one pose: nothing drawn yet
    qtbot.keyPress(w.view, Qt.Key_W)
    qtbot.keyPress(w.view, Qt.Key_Left)
    step(qtbot, w, 12)
    first = w.minimap.grab().toImage()
    assert len(w.minimap.trail.points) > 2 and trail_pixels(w) > 0
    step(qtbot, w, 12)
    assert w.minimap.grab().toImage() != first                        # the pose moved: the map moved
    qtbot.keyRelease(w.view, Qt.Key_W)
    qtbot.keyRelease(w.view, Qt.Key_Left)
    geo = w.view.packet.geo
    assert geo is not None and geo.capacity == 64 and geo.count >= 1
    assert (f"memory {geo.memory_share * 100:.0f}% · map: not located · imagined {geo.imagined_share * 100:.0f}%"
            f" · painted {geo.painted_share * 100:.0f}% of view · keyframes {geo.count}/64") in w.view.stats.lines(w.view.packet)
    qtbot.keyClick(w.view, Qt.Key_Tab)
    assert not w.minimap.isVisible() and not w.settings.minimap


def test_a_latent_world_has_no_map(qtbot, window, tiny_pack):
    w = window(tiny_pack)
    assert not w.actions_.minimap.isEnabled() and w.actions_.minimap.toolTip() == NO_MAP
    qtbot.keyClick(w.view, Qt.Key_Tab)
    assert not w.minimap.isVisible() and w.view.packet.geo is None
    step(qtbot, w)
    assert not any(line.startswith("memory") for line in w.view.stats.lines(w.view.packet))
