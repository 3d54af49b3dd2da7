"""One-line progress on stderr for long jobs (render, capture, train, eval)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, label: str, stream=None, every: float = 0.5):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.every = every
        self.start = self._last = time.monotonic()
        self.done = 0

    def __call__(self, done: int, extra: str = "") -> None:
        self.done = done
        now = time.monotonic()
        if now - self._last < self.every and done != self.total:
            return
        self._last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else 0.0
            text = f"{self.label}: {done}/{self.total} ({100 * done / self.total:.0f}%) {rate:.1f}/s eta {eta:.0f}s"
        else:
            text = f"{self.label}: {done} {rate:.1f}/s"
        self.stream.write("\r" + text + (" " + extra if extra else "") + "\033[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
