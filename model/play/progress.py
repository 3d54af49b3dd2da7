"""Progress of long jobs on stderr (render, replay, demo, bench, capture, train, eval).

On a terminal: a tqdm bar redrawn in place. Anywhere else (a log file, a pipe): a plain,
complete line every `log_every` seconds and at the end, with no carriage returns or
escape codes, so logs stay readable. The ETA reads as tqdm writes it (H:MM:SS).
"""
from __future__ import annotations

import sys
import time
import weakref

from tqdm import tqdm

WITH_TOTAL = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) {rate_fmt} eta {remaining}{postfix}"
WITH_TOTAL_BAR = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) |{bar}| {rate_fmt} eta {remaining}{postfix}"
NO_TOTAL = "{desc}: {n_fmt} {rate_fmt} elapsed {elapsed}{postfix}"
_OPEN: weakref.WeakSet = weakref.WeakSet()


class _Bar(tqdm):
    monitor_interval = 0            # no monitor thread: callers update the bar often enough


class Progress:
    """`progress(done, extra)` after each unit of work; `close()` at the end."""

    def __init__(self, total: int | None, label: str, stream=None, every: float = 0.5,
                 log_every: float = 10.0, initial: int = 0):
        """`initial`: units done before this run (a resumed training run's steps), left out of the rate."""
        self.total, self.label, self.initial = total, label, initial
        self.stream = stream or sys.stderr
        self.done = self._logged = initial
        self.start = self._last = time.monotonic()
        self.log_every = log_every
        self._extra = ""
        self._bar = None
        if _is_tty(self.stream):
            self._bar = _Bar(total=total, desc=label, file=self.stream, mininterval=every, unit="", initial=initial,
                             bar_format=WITH_TOTAL_BAR if total else NO_TOTAL, dynamic_ncols=True)
        _OPEN.add(self)

    def __call__(self, done: int, extra: str = "") -> None:
        self.done, self._extra = done, extra
        if self._bar is not None:
            self._bar.set_postfix_str(extra, refresh=False)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last >= self.log_every or done == self.total:
            self._last = now
            self._write_line(now)

    def close(self) -> None:
        """End the progress line (idempotent): the final count is always shown."""
        _OPEN.discard(self)
        if self._bar is not None:
            self._bar.close()
        elif self.done != self._logged:
            self._write_line(time.monotonic())

    def _write_line(self, now: float) -> None:
        text = tqdm.format_meter(self.done, self.total, now - self.start, prefix=self.label,
                                 postfix=self._extra or None, unit="", initial=self.initial,
                                 bar_format=WITH_TOTAL if self.total else NO_TOTAL)
        self.stream.write(text + "\n")
        self.stream.flush()
        self._logged = self.done


def close_all() -> None:
    """End every open progress line, so a message after an interrupt starts a line of its own."""
    for progress in list(_OPEN):
        progress.close()


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):      # no isatty, or a closed stream
        return False
