"""The "Compare with engine" view: the real engine (vizdoom) on a short script, beside the model."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_window import TIMEOUT, open_window

import app.compare
from app.compare import NO_ENGINE, NO_ORIGIN, ComparePacket, PsnrReadout
from app.engine_twin import EngineTwin
from model.play.errors import UserError
from model.play.origin import EngineOrigin, has_origin, read_origin
from model.play.world import FRAME_H, FRAME_W, action_from_names, area_resize

pytest.importorskip("vizdoom")
from model.train.capture import make_game, start_episode  # noqa: E402  (needs vizdoom)
from model.train.make_seeds import write_seed  # noqa: E402

MAP, EPISODE_SEED = "MAP01", 11
SCRIPT = [action_from_names(n) for n in [set()] * 4 + [{"MOVE_FORWARD"}] * 12 + [{"TURN_RIGHT"}] * 14]
FORWARD, TURN = action_from_names({"MOVE_FORWARD"}), action_from_names({"TURN_LEFT"})


def engine_frames(actions) -> list[np.ndarray]:
    """The engine from the episode's start, straight: the frame before and after each action."""
    game = make_game(MAP, EPISODE_SEED, depth=False)
    try:
        start_episode(game, MAP, EPISODE_SEED)
        frames = [game.get_state().screen_buffer.copy()]
        for action in actions:
            game.make_action([int(v) for v in action], 1)
            frames.append(game.get_state().screen_buffer.copy())
        return frames
    finally:
        game.close()


@pytest.fixture(scope="module")
def engine_seed(tmp_path_factory):
    """A scene seed as make_seeds writes them: the last 16 frames of a scripted start, and its origin."""
    folder = tmp_path_factory.mktemp("engine-seeds")
    frames = engine_frames(SCRIPT)
    write_seed(folder, "scripted", np.stack(frames[-16:]), np.stack(SCRIPT[-15:]),
               EngineOrigin(MAP, EPISODE_SEED, np.stack(SCRIPT)))
    return folder / "scripted.npz"


def small(frame) -> np.ndarray:
    return area_resize(frame, FRAME_H, FRAME_W)


def packet(kind, index, action=None, frame=None):
    return SimpleNamespace(kind=kind, index=index, action=action,
                           frame=np.zeros((FRAME_H, FRAME_W, 3), np.uint8) if frame is None else frame)


def test_engine_twin_replays_the_seed_then_follows_steps_rewinds_and_scrubs(engine_seed):
    seed_frames = np.load(engine_seed)["frames"]
    twin = EngineTwin(read_origin(engine_seed))
    twin.open()
    try:
        assert twin.follow(packet("step", 16, FORWARD)) is None        # before a reset: nothing to match
        assert np.array_equal(twin.follow(packet("reset", 15)), seed_frames[-1])
        played = [FORWARD, FORWARD, TURN, TURN, FORWARD]
        got = [twin.follow(packet("step", 16 + i, a)) for i, a in enumerate(played)]
        truth = [small(f) for f in engine_frames(SCRIPT + played)[-len(played):]]
        assert all(np.array_equal(g, t) for g, t in zip(got, truth))
        assert not np.array_equal(got[0], got[-1])
        assert np.array_equal(twin.follow(packet("scrub", 17)), got[1])
        assert np.array_equal(twin.follow(packet("rewind", 17)), got[1])
        assert twin.follow(packet("step", 20, FORWARD)) is None        # not the frame after 17
        assert np.array_equal(twin.follow(packet("step", 18, TURN)), got[2])
    finally:
        twin.close()


def test_the_shipped_seeds_bring_the_engine_to_their_last_frame():
    """make_seeds stores every pack seed's origin; the shortest one is replayed here."""
    seeds = sorted((Path(__file__).resolve().parents[2] / "assets" / "worlds" / "freedoom" / "seeds").glob("*.npz"))
    origins = {path: read_origin(path) for path in seeds}
    assert seeds and all(origins.values())
    path = min(seeds, key=lambda p: len(origins[p].actions))
    seed = np.load(path)
    assert np.array_equal(origins[path].actions[-15:], seed["actions"])
    twin = EngineTwin(origins[path])
    twin.open()
    try:
        assert np.array_equal(twin.follow(packet("reset", 15)), seed["frames"][-1])
    finally:
        twin.close()


def test_origin_keys_are_read_or_refused_by_name(engine_seed, tmp_path):
    origin = read_origin(engine_seed)
    assert (origin.map, origin.seed, origin.actions.shape) == (MAP, EPISODE_SEED, (len(SCRIPT), 8))
    plain = tmp_path / "plain.npz"
    np.savez(plain, frames=np.zeros((1, 96, 128, 3), np.uint8))
    assert not has_origin(plain) and read_origin(plain) is None and not has_origin(None)
    bad = tmp_path / "bad.npz"
    np.savez(bad, frames=np.zeros((1, 96, 128, 3), np.uint8),
             **EngineOrigin("E1M1", 3, np.zeros((2, 8), np.uint8)).arrays())
    with pytest.raises(UserError, match="bad.npz: 'engine_map'"):
        read_origin(bad)


def test_psnr_readout():
    readout = PsnrReadout()
    frame = np.zeros((2, 2, 3), np.uint8)
    readout.add(ComparePacket(frame, 15, "reset", 100.0))
    assert readout.text(ComparePacket(frame, 15, "reset", 100.0)) == "PSNR 100.0 dB · frame 15"
    for i, value in enumerate((20.0, 10.0)):
        readout.add(ComparePacket(frame, 16 + i, "step", value))
    assert readout.text(ComparePacket(frame, 17, "step", 10.0)) == "PSNR 10.0 dB · 15.0 over 1 s · 15.0 over 2 steps"


@pytest.fixture
def window(qtbot, tiny_pack, app_paths, fake_output, fake_pads):
    windows = []

    def make(seed):
        windows.append(open_window(qtbot, tiny_pack, app_paths, fake_output, fake_pads, seed=seed))
        return windows[-1]

    yield make
    for w in windows:
        w.close()


def shown(qtbot, w, kind: str, send):
    """Run `send` and return the engine-view packet of `kind` that it leads to, once painted."""
    with qtbot.waitSignal(w.compare.view.painted, timeout=TIMEOUT,
                          check_params_cb=lambda p, *_: p.kind == kind) as painted:
        send()
    return painted.args[0]


def test_compare_view_plays_the_engine_on_the_same_keys(qtbot, window, engine_seed):
    w = window(str(engine_seed))
    assert w.actions_.compare.isEnabled()
    first = shown(qtbot, w, "reset", lambda: w.actions_.compare.setChecked(True))
    assert w.compare.isVisible() and w.compare.engine.thread.isRunning()
    assert np.array_equal(first.frame, np.load(engine_seed)["frames"][-1])
    qtbot.keyPress(w.view, Qt.Key_W)
    steps = [shown(qtbot, w, "step", w.world_thread.tick) for _ in range(3)]
    qtbot.keyRelease(w.view, Qt.Key_W)
    truth = [small(f) for f in engine_frames(SCRIPT + [FORWARD] * 3)[-3:]]
    assert [p.index for p in steps] == [16, 17, 18]
    assert all(np.array_equal(p.frame, t) for p, t in zip(steps, truth))
    model = w.view.packet.frame                                      # the untrained model: far from the engine
    assert 0 < steps[-1].psnr < 100 and not np.array_equal(model, steps[-1].frame)
    assert w.compare.readout.text().startswith(f"PSNR {steps[-1].psnr:.1f} dB")
    thread = w.compare.engine.thread
    w.actions_.compare.setChecked(False)
    assert not thread.isRunning() and not w.compare.isVisible() and w.compare.engine is None


def test_the_item_says_why_it_cannot_open(qtbot, window, engine_seed, monkeypatch):
    w = window("alpha")                                               # a synthetic seed
    assert not w.actions_.compare.isEnabled() and w.actions_.compare.toolTip() == NO_ORIGIN
    monkeypatch.setattr(app.compare, "ENGINE_MODULES", ("vizdoom", "no_such_engine_module"))
    w2 = window(str(engine_seed))
    assert not w2.actions_.compare.isEnabled() and w2.actions_.compare.toolTip() == NO_ENGINE
