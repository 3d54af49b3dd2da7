"""Soak test: a long scripted session in the real window, recording, then checked.

    xvfb-run -a python scripts/soak.py --minutes 30              # real time, the real pack
    python scripts/soak.py --minutes 2 --fast --world PACK       # 3,000 frames as fast as they come

Random human-like held keys (walk, turn, strafe, fire, use; held for a fifth of a second
to two seconds, sometimes nothing) go through the real window as key events while the
player records. Afterwards: memory (RSS) after warm-up and at the end (growth < 5%),
frames per second over the first and the last minute (within 5%), the recording complete
(as many frames in the MP4 and in its session file as were stepped) and replayable
(sampled frames rebuilt bit for bit from the session file). One JSON object on stdout;
exit 0 when every check passes, 1 otherwise.

--fast steps the world as soon as each frame arrives instead of every 40 ms (session
time runs faster than real time), for the test suite. Without a display on Linux the
script runs itself again under xvfb-run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Slot

REPO = Path(__file__).resolve().parent.parent
KEYS = ("W", "S", "A", "D", "Left", "Right", "Control", "E")
# What a player holds, and how often: mostly walking and turning.
COMBOS = ((("W",), 6), (("W", "Left"), 3), (("W", "Right"), 3), (("Left",), 2), (("Right",), 2),
          (("A",), 1), (("D",), 1), (("S",), 1), (("Control",), 1), (("E",), 1), (("W", "Control"), 1), ((), 2))
MINUTE = 60 * 25                    # frames in a minute of session time
SAMPLES = 24                        # recorded frames kept to compare with the replay


def key_plan(frames: int, seed: int = 0) -> dict[int, tuple[str, ...]]:
    """Frame index -> the keys held from that frame on (a new combo every 5-50 frames)."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, w in COMBOS], float)
    plan, i = {}, 0
    while i < frames:
        plan[i] = COMBOS[rng.choice(len(COMBOS), p=weights / weights.sum())][0]
        i += int(rng.integers(5, 51))
    return plan


class Soak(QObject):
    """Drives the window: keys on schedule, measurements per frame, the window closed at the end."""

    def __init__(self, window, frames: int, fast: bool, warmup: int):
        super().__init__()
        from model.play.bench import rss_mb
        self.window, self.frames, self.fast, self.warmup = window, frames, fast, warmup
        self.rss_mb = rss_mb
        self.plan, self.held = key_plan(frames), ()
        self.stamps: list[float] = []           # wall clock at each step
        self.cpu: list[float] = []              # this process's CPU time at each step
        self.rss: dict[str, float] = {}
        self.every = max(1, frames // SAMPLES)
        self.samples: dict[int, np.ndarray] = {}
        self.messages: list[str] = []
        self.done, self.late = False, 0
        window.world_thread.frame_ready.connect(self.on_frame)
        window.world_thread.message.connect(self.on_message)

    @Slot(str, str)
    def on_message(self, level: str, text: str) -> None:
        self.messages.append(f"{level}: {text}")

    @Slot(object)
    def on_frame(self, packet) -> None:
        if self.done:
            self.late += packet.kind == "step"      # real time: a tick may land before the close
            return
        if packet.kind == "step":
            self._count(packet)
        if self.fast and packet.kind in ("step", "reset") and not self.done:
            self.window.world_thread.tick()          # the next frame as soon as this one is here

    def _count(self, packet) -> None:
        i = len(self.stamps)
        self.stamps.append(time.perf_counter())
        self.cpu.append(time.process_time())
        if i % self.every == 0:
            self.samples[i] = packet.frame.copy()
        if i + 1 == self.warmup:
            self.rss["warm"] = self.rss_mb()
        if i + 1 >= self.frames:
            self.rss["end"] = self.rss_mb()
            self.done = True
            from PySide6.QtCore import QTimer
            QTimer.singleShot(0, self.window.close)    # finalizes the recording
            return
        if i + 1 in self.plan:
            self._hold(self.plan[i + 1])

    def _hold(self, keys: tuple[str, ...]) -> None:
        from PySide6.QtCore import Qt

        from app.tools import send_key
        for key in set(self.held) - set(keys):
            send_key(self.window.view, getattr(Qt, f"Key_{key}"), False)
        for key in set(keys) - set(self.held):
            send_key(self.window.view, getattr(Qt, f"Key_{key}"), True)
        self.held = keys


def fps(stamps: list[float], start: int, stop: int) -> float:
    """Frames per second over stamps[start:stop], from the median interval (a busy
    neighbour's spike moves the median little; a steady slowdown moves it all)."""
    return round(1.0 / max(float(np.median(np.diff(stamps[start:stop]))), 1e-9), 2)


def check_recording(mp4: Path, soak: Soak, replay_limit: int) -> dict:
    """Frame counts of the MP4 and the session file, and the sampled frames replayed."""
    import av

    from model.play.render import replay_frames
    from model.play.session_log import SessionLog
    with av.open(str(mp4)) as container:
        in_video = sum(1 for p in container.demux(video=0) if p.size)
    log = SessionLog.load(mp4.with_suffix(".json"))
    in_json = len(log.actions) - log.record_from
    wanted = {i: f for i, f in soak.samples.items() if replay_limit <= 0 or i < replay_limit}
    last, matched = max(wanted), 0
    for i, frame in enumerate(replay_frames(log, mp4.with_suffix(".json"))):
        if i in wanted:
            matched += bool(np.array_equal(frame, wanted[i]))
        if i >= last:
            break
    return {"frames_stepped": len(soak.stamps) + soak.late, "frames_in_video": in_video, "frames_in_session": in_json,
            "replay_samples": len(wanted), "replay_matched": matched, "replay_checked_upto": last + 1}


def run_session(args, out: Path) -> tuple[Soak, float]:
    from app.player import create_window
    from app.tools import temp_paths
    cli = Namespace(world=args.world, seed=args.seed, backend=args.backend, record=str(out / "soak.mp4"))
    app, window = create_window(cli, paths=temp_paths(), autotick=not args.fast)
    frames = int(args.minutes * MINUTE)
    soak = Soak(window, frames, args.fast, warmup=min(max(250, frames // 10), MINUTE))
    window.show()
    t0 = time.perf_counter()
    window.start()
    app.exec()
    window.close()
    return soak, time.perf_counter() - t0


def verdict(soak: Soak, rec: dict, wall_s: float, args) -> dict:
    n = len(soak.stamps)
    span = min(MINUTE, max(2, (n - soak.warmup) // 2))     # a minute, or half of what is left
    # Real time: frames per wall second (it must hold 25). Fast: frames per second of this
    # process's CPU time, so that other jobs on the machine do not read as a slowdown.
    basis = soak.cpu if args.fast else soak.stamps
    first, last = fps(basis, soak.warmup, soak.warmup + span), fps(basis, n - span, n)
    growth = 100 * (soak.rss["end"] - soak.rss["warm"]) / soak.rss["warm"]
    checks = {
        "memory_growth_below_5pct": growth < 5.0,
        "fps_last_within_5pct_of_first": abs(last - first) <= 0.05 * first,
        "recording_complete": rec["frames_in_video"] == rec["frames_in_session"] == rec["frames_stepped"] >= n,
        "replay_matches": rec["replay_matched"] == rec["replay_samples"] > 0,
    }
    return {"minutes": args.minutes, "mode": "fast" if args.fast else "real time", "frames": n,
            "wall_s": round(wall_s, 1), "warmup_frames": soak.warmup,
            "rss_mb_warm": round(soak.rss["warm"], 1), "rss_mb_end": round(soak.rss["end"], 1),
            "rss_growth_pct": round(growth, 2), "fps_basis": "cpu time" if args.fast else "wall clock",
            "fps_first": first, "fps_last": last, "fps_window_frames": span,
            "fps_by_tenth": [fps(basis, k * n // 10, (k + 1) * n // 10) for k in range(10)],
            "wall_fps_first": fps(soak.stamps, soak.warmup, soak.warmup + span),
            "wall_fps_last": fps(soak.stamps, n - span, n),
            **rec, "messages": soak.messages[-5:], "checks": checks, "pass": all(checks.values())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="session time (25 frames a second)")
    p.add_argument("--world", default=None)
    p.add_argument("--seed", default=None, help="scene seed name or .npz/.png path")
    p.add_argument("--backend", default="auto")
    p.add_argument("--fast", action="store_true", help="step as fast as frames come, not every 40 ms")
    p.add_argument("--out", default=None, help="folder for the recording (default: a temporary one)")
    p.add_argument("--replay-frames", type=int, default=5 * MINUTE,
                   help="compare samples from the first N recorded frames (0: all; replay runs at model speed)")
    args = p.parse_args(argv)
    if _needs_xvfb():
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, *sys.argv])
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="reverie-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    soak, wall_s = run_session(args, out)
    if not soak.done:
        print(json.dumps({"pass": False, "error": "the session ended early", "frames": len(soak.stamps),
                          "messages": soak.messages[-5:]}))
        return 1
    result = verdict(soak, check_recording(out / "soak.mp4", soak, args.replay_frames), wall_s, args)
    (out / "soak.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if result["pass"] else 1


def _needs_xvfb() -> bool:
    return (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM")
            and shutil.which("xvfb-run") is not None)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
