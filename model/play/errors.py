"""One exception type for everything a user can get wrong, and one for being told to stop."""
from __future__ import annotations

import errno
import signal


def printable(text: str) -> str:
    """`text` with every unprintable character (NUL, ESC, newlines, ...) written as an escape.

    Messages quote names and paths out of users' files: a raw ESC would drive the
    terminal, a newline would break the one-line rule."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def os_reason(exc: OSError) -> str:
    """Why a write failed, in a few words: "disk full", "Permission denied", ..."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    return exc.strerror or str(exc)


def os_error_line(exc: OSError) -> str:
    """An OSError as one printable line: its file, when it names one, and why."""
    return printable(f"{exc.filename}: {os_reason(exc)}" if exc.filename else os_reason(exc))


class UserError(Exception):
    """Bad input: a file, a flag or a setting. Reported as one line, exit code 2.

    The message names the file (when there is one) and what is wrong with it; whatever it
    quotes from the file is escaped (see `printable`).
    """

    def __init__(self, message: str):
        super().__init__(printable(str(message)))


class Interrupted(KeyboardInterrupt):
    """Ctrl+C (SIGINT) or SIGTERM stopped a command.

    `kept` names the valid partial file the command left (None: it left nothing). A
    KeyboardInterrupt, so every `except KeyboardInterrupt` and `finally` runs as for Ctrl+C."""

    def __init__(self, signum: int = signal.SIGINT, kept: str | None = None):
        super().__init__(signum)
        self.signum, self.kept = int(signum), kept
