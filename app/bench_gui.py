"""`python -m app.bench_gui`: the real window, offscreen, on the real world pack.

Reports the time from process start to the first frame painted (and to the first
generated one), the paint cost per frame, the GUI frame rate over ~500 frames, and the
key-to-frame latency (synthetic key events sent through Qt, measured by the view from the
event to the paint of the first frame that saw it).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from app.tools import player_args, seconds_since_process_start, send_key, temp_paths

T0 = time.perf_counter()
PRESS_EVERY_MS = 330               # not a multiple of 40 ms: presses land at every phase of the tick


class Bench:
    def __init__(self, window, frames: int):
        self.window, self.frames = window, frames
        self.start_offset = (seconds_since_process_start() or 0.0) - (time.perf_counter() - T0)
        self.first_paint = self.first_step = None
        self.paint_ms, self.latency, self.step_times = [], [], []
        self.key_down, self.presses = False, 0

    def on_paint(self, packet, paint_ms, latency) -> None:
        now = time.perf_counter() - T0 + self.start_offset
        self.first_paint = self.first_paint or now
        if packet.kind != "step":
            return
        self.first_step = self.first_step or now
        self.paint_ms.append(paint_ms)
        self.step_times.append(now)
        if latency is not None:
            self.latency.append(latency)
        if len(self.step_times) == self.frames:
            from PySide6.QtCore import QTimer
            QTimer.singleShot(0, self.window.close)      # after this paint, not inside it

    def press(self) -> None:
        """Alternately press and release W, then Left: every press and release changes the action."""
        from PySide6.QtCore import Qt
        if not self.key_down:
            self.presses += 1
        self.key_down = not self.key_down
        send_key(self.window.view, Qt.Key_W if self.presses % 2 else Qt.Key_Left, self.key_down)

    def result(self) -> dict:
        t = np.array(self.step_times)
        stats = self.window.view.stats
        return {
            "startup_first_paint_s": round(self.first_paint or -1, 2),
            "startup_first_generated_s": round(self.first_step or -1, 2),
            "frames": len(t), "gui_fps": round((len(t) - 1) / (t[-1] - t[0]), 2) if len(t) > 1 else 0,
            "paint_ms_mean": round(float(np.mean(self.paint_ms)), 2),
            "paint_ms_p99": round(float(np.percentile(self.paint_ms, 99)), 2),
            "latency_ms_p50": round(float(np.percentile(self.latency, 50)), 1) if self.latency else None,
            "latency_ms_p90": round(float(np.percentile(self.latency, 90)), 1) if self.latency else None,
            "latency_samples": len(self.latency), "dropped": stats.dropped,
            "view": f"{self.window.view.width()}x{self.window.view.height()}",
            "backend": self.window.session.backend if self.window.session else None,
        }


def main(argv=None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args = player_args(argv, __doc__.splitlines()[0], frames=(500, "generated frames to paint"),
                       json=(None, "write the result to this JSON file"))
    from PySide6.QtCore import QTimer

    from app.player import create_window
    app, window = create_window(args, paths=temp_paths())
    bench = Bench(window, args.frames)
    window.view.painted.connect(bench.on_paint)
    window.resize(*map(int, args.size.split("x")))
    window.show()
    window.start()
    presser = QTimer()
    presser.timeout.connect(bench.press)
    presser.start(PRESS_EVERY_MS)
    guard = QTimer()                        # never hang: give up after two minutes
    guard.setSingleShot(True)
    guard.timeout.connect(window.close)
    guard.start(120_000)
    window.destroyed.connect(app.quit)
    app.lastWindowClosed.connect(app.quit)
    app.exec()
    presser.stop()
    guard.stop()
    window.close()
    if not bench.step_times:
        print("bench_gui: no generated frame was painted", file=sys.stderr)
        return 1
    result = bench.result()
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
