"""The player stops when asked (issue 14, part 1): SIGINT and SIGTERM close it as Ctrl+Q
does, with its recording finalized and its session file complete, in real processes sent
real signals; SDL keeps its hands off both signals; the window takes the keyboard focus
when it is shown, even with no window manager to give it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_faults import REPO, recorded_actions, wait_for

from app.signals import StopOnSignal
from model.play.render import replay_frames
from model.play.session_log import SessionLog
from model.play.video import read_video
from model.play.world import FPS


def player_env(tmp_path: Path, **extra) -> dict:
    """The environment of a player that never touches the user's own folders, and has no display."""
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
            "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"), **extra}


def test_sdl_started_for_the_gamepads_leaves_sigterm_alone(tmp_path):
    """Without SDL_HINT_NO_SIGNAL_HANDLERS, SDL turns SIGTERM into an event nobody reads."""
    script = ("import os, signal, time\n"
              "from app.gamepad import PygameGamepads\n"
              "pads = PygameGamepads()\n"
              "os.kill(os.getpid(), signal.SIGTERM)\n"
              "time.sleep(5)\n"
              "print('still running')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=player_env(tmp_path), check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM and "still running" not in done.stdout, done.stderr


def test_stop_on_signal_calls_back_once_then_gives_the_signals_back(qtbot):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    calls = []
    stopper = StopOnSignal(calls.append)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: calls == [signal.SIGTERM], timeout=10_000)
        assert stopper.exit_code == 143
        # a second signal would end a player whose closing hangs: the defaults are back
        assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGINT) == signal.SIG_DFL
    finally:
        stopper.close()
    assert {s: signal.getsignal(s) for s in before} == before
    assert signal.set_wakeup_fd(-1) == -1                      # the wakeup fd was given back too


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_closes_the_player_like_ctrl_q_with_its_recording_intact(tiny_pack, tmp_path, sig, code):
    mp4 = tmp_path / "rec" / "take.mp4"
    mp4.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "main.py", "play", "--world", str(tiny_pack), "--seed", "alpha",
                             "--record", str(mp4)], cwd=REPO, env=player_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: recorded_actions(mp4.with_suffix(".json")) >= 2 * FPS or proc.poll() is not None,
                 60, "two seconds of recording")
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)           # a ceiling for a player that ignores it
    finally:
        proc.kill()
    assert proc.returncode == code and "Traceback" not in err, err
    assert "reverie: Saved " in err and str(mp4) in err
    video = read_video(mp4)
    log = SessionLog.load(mp4.with_suffix(".json"))
    assert len(video) >= 2 * FPS and len(log.actions) - log.record_from == len(video)   # complete: every frame
    frames = np.stack(list(replay_frames(log, mp4.with_suffix(".json"))))
    assert len(frames) == len(video)
    assert np.abs(frames.astype(int) - video).mean(axis=(1, 2, 3)).max() < 4    # up to H.264's loss


FOCUS_SCRIPT = """
import sys
from argparse import Namespace
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.paths import AppPaths
from app.player import create_window, show_window
app, window = create_window(Namespace(world=sys.argv[1], seed=None, backend="auto", record=None),
                            paths=AppPaths.under(Path(sys.argv[2])))
show_window(window)
def check():
    print("active" if QApplication.activeWindow() is window else "not active")
    window.close()
QTimer.singleShot(2000, check)
app.exec()
"""


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs Xvfb")
def test_the_window_takes_the_focus_with_no_window_manager(tiny_pack, tmp_path):
    """Under Xvfb nothing gives a new window the focus: before, Ctrl+Q and F12 reached nothing."""
    env = player_env(tmp_path, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    done = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", FOCUS_SCRIPT, str(tiny_pack), str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip().splitlines()[-1:] == ["active"], done.stdout + done.stderr


def test_the_player_refuses_a_world_the_cli_refuses_before_any_window(capsys):
    import main
    assert main.main(["play", "--world", "../../etc"]) == 2       # before, it sat on "Loading world…"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reverie play: unknown world '../../etc'" in err[0], err
