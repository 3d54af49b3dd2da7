"""Faults while playing: devices that vanish, a model that raises, no GPU, a killed process.

Each fault leaves a message and a player that keeps going, and recordings that still
replay exactly. Only the hardware (gamepad source, audio device, GPU) and time are faked.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_recording import record, replayed, stop
from test_window import make_window, step  # noqa: F401  (a fixture, used by name)

from app.gamepad import PadEvent
from model.play.backends import OrtBackend
from model.play.render import replay_frames
from model.play.session_log import SessionLog
from model.play.video import read_video
from model.play.world import FPS, action_from_names

TIMEOUT = 10_000
REPO = Path(__file__).resolve().parents[2]


def test_gamepad_unplugged_mid_session_releases_its_buttons(qtbot, make_window, fake_pads):
    w = make_window()
    fake_pads.queue = [PadEvent("added", 4, "Pad"), PadEvent("axis", 4, "lefty", -1.0),
                       PadEvent("button", 4, "a", 1.0)]
    w.gamepads.poll()
    ((packet, _, _),) = step(qtbot, w)
    assert np.array_equal(packet.action, action_from_names({"MOVE_FORWARD", "USE"}))
    fake_pads.queue = [PadEvent("removed", 4)]                 # pulled out with the stick still pushed
    w.gamepads.poll()
    ((packet, _, _),) = step(qtbot, w)
    assert not packet.action.any() and w.status["pad"].text() == "Gamepad disconnected: Pad"


def test_a_gamepad_source_that_raises_stops_polling_and_keeps_the_keyboard(qtbot, make_window, fake_pads):
    w = make_window()
    fake_pads.queue = [PadEvent("added", 1, "Pad"), PadEvent("axis", 1, "righttrigger", 1.0)]
    w.gamepads.poll()

    def vanished():
        raise OSError("Joystick not opened")
    fake_pads.poll = vanished
    w.gamepads.poll()
    assert "Gamepad input stopped (OSError: Joystick not opened)" in w.status["pad"].text()
    assert w.gamepads.source is None and not w.gamepads._timer.isActive() and fake_pads.closed
    qtbot.keyPress(w.view, Qt.Key_W)
    ((packet, _, _),) = step(qtbot, w)                         # the held trigger is gone, W still works
    assert np.array_equal(packet.action, action_from_names({"MOVE_FORWARD"}))
    qtbot.keyRelease(w.view, Qt.Key_W)


def test_the_audio_device_disappearing_goes_silent_with_a_message(qtbot, make_window, fake_output):
    w = make_window()
    step(qtbot, w, 2)
    fake_output.lost = OSError("device unplugged")
    step(qtbot, w)
    assert "Audio device lost (device unplugged): playing silent" in w.notice.text()
    assert w.audio.output is None and fake_output.closed
    assert np.abs(w.audio.render(256)).max() > 0              # the synth runs on; nothing pulls it
    assert len(step(qtbot, w, 3)) == 3                         # and the player goes on


def test_sounddevice_output_notices_a_stream_that_stopped(monkeypatch):
    from app.audio import SoundDeviceOutput

    class Stream:                                              # PortAudio's stream, as the device goes
        def __init__(self, finished_callback, **_):
            self.finished, self.active = finished_callback, False

        def start(self):
            self.active = True

        def close(self):
            self.active = False

    monkeypatch.setitem(sys.modules, "sounddevice", SimpleNamespace(OutputStream=Stream))
    output = SoundDeviceOutput()
    output.start(lambda n: np.zeros(n, np.float32))
    output.check()                                              # playing: fine
    output._stream.finished()                                   # PortAudio ended the stream by itself
    with pytest.raises(OSError, match="audio stream stopped"):
        output.check()
    output.close()


def test_a_model_step_that_raises_pauses_with_a_message_and_replay_stays_exact(
        qtbot, tick, engine_factory, input_state, tmp_path, monkeypatch):
    engine = engine_factory()
    mp4 = tmp_path / "take.mp4"
    record(qtbot, engine, mp4)
    input_state.press("W")
    shown = tick(engine, 10)
    real_decode, calls = OrtBackend.decode, []

    def decode_fails_once(self, z):                            # after the ring buffer was written
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code")
        return real_decode(self, z)
    monkeypatch.setattr(OrtBackend, "decode", decode_fails_once)
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as msg:
        engine.tick()
    assert msg.args[0] == "error" and "Engine error (RuntimeError" in msg.args[1] and "paused" in msg.args[1]
    with qtbot.waitSignal(engine.paused_changed, timeout=TIMEOUT) as resumed:
        engine.toggle_pause()
    assert resumed.args == [False]
    shown += tick(engine, 10)
    stop(qtbot, engine)
    assert np.array_equal(replayed(mp4.with_suffix(".json"), tmp_path), np.stack([p.frame for p in shown]))


@pytest.mark.parametrize("gpu", ["missing", "failing"])
def test_cuda_missing_or_failing_falls_back_to_the_cpu(qtbot, tick, engine_factory, monkeypatch, gpu):
    import model.play.backends as backends
    from model.nets.torch_backend import TorchBackend
    monkeypatch.setattr(backends, "_ort_cuda", lambda: False)
    if gpu == "failing":
        def broken(self, pack, device="cuda"):
            raise RuntimeError("CUDA error: out of memory")
        monkeypatch.setattr(backends, "_torch_cuda", lambda: True)
        monkeypatch.setattr(TorchBackend, "__init__", broken)
    engine = engine_factory(backend="cuda")
    assert engine.first_packet.backend == "cpu"
    assert any(level == "error" and "running on the CPU instead" in text for level, text in engine.messages)
    assert tick(engine, 2)[-1].backend == "cpu"


def wait_for(predicate, timeout_s: float, what: str):
    """Poll a subprocess's files: the one place these tests wait on a real clock."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def recorded_actions(path: Path) -> int:
    try:
        data = json.loads(path.read_text())
        return len(data["actions"]) - data["record_from"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_player_leaves_a_playable_recording_that_replays(tiny_pack, tmp_path):
    mp4 = tmp_path / "rec" / "killed.mp4"
    mp4.parent.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "main.py", "play", "--world", str(tiny_pack), "--seed", "alpha",
                             "--record", str(mp4)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: recorded_actions(mp4.with_suffix(".json")) >= 4 * FPS or proc.poll() is not None,
                 60, "four seconds of recording")
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    video = read_video(mp4)                                    # decodes as left: no repair needed
    log = SessionLog.load(mp4.with_suffix(".json"))
    in_json = len(log.actions) - log.record_from
    assert len(video) >= 3 * FPS and abs(len(video) - in_json) <= 2 * FPS   # about the last second lost
    frames = np.stack([f for f, _ in zip(replay_frames(log, mp4.with_suffix(".json")), range(len(video)))])
    n = min(len(frames), len(video))
    assert n >= 3 * FPS
    error = np.abs(frames[:n].astype(int) - video[:n]).mean(axis=(1, 2, 3))
    assert error.max() < 4                                      # the replayed frames, up to H.264's loss


def test_the_qt_binding_keeps_its_reference_counts():
    """PySide6 6.12.0 lost a reference to None per Qt call: the player aborted within a minute."""
    from app.qt_compat import reference_leak
    assert reference_leak() is None
