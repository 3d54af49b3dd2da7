"""Progress lines: readable in logs (no carriage returns or escape codes), a readable ETA,
and an interrupt's message on a line of its own."""
from __future__ import annotations

import io
import re

import pytest

import main
from model.play import progress as progress_mod
from model.play.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_mod.time, "monotonic", fake)
    return fake


def test_a_log_gets_sparse_plain_lines(clock):
    stream = io.StringIO()                              # not a terminal, like a log file
    progress = Progress(300, "render o.mp4", stream=stream, log_every=10.0)
    for done in range(1, 301):                          # 300 frames at 10 per second: 30 s
        clock.now += 0.1
        progress(done, "loss 0.5")
    progress.close()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert 3 <= len(lines) <= 4                         # one every 10 s and the last, not 300
    assert text.endswith("\n")
    assert lines[-1].startswith("render o.mp4: 300/300 (100%)")
    assert "loss 0.5" in lines[0]


def test_close_writes_the_final_count_once(clock):
    stream = io.StringIO()
    progress = Progress(None, "train tokenizer", stream=stream)
    for step in range(1, 6):
        clock.now += 1
        progress(step)
    progress.close()
    progress.close()
    assert stream.getvalue().splitlines() == ["train tokenizer: 5  1.00/s elapsed 00:05"]


def test_a_resumed_count_rates_only_this_runs_units(clock):
    stream = io.StringIO()
    progress = Progress(None, "train geo_motion", stream=stream, initial=73_801)   # resumed at step 73,801
    for step in range(73_802, 73_807):
        clock.now += 1
        progress(step)
    progress.close()
    assert stream.getvalue().splitlines() == ["train geo_motion: 73806  1.00/s elapsed 00:05"]


def test_the_eta_reads_as_hours_minutes_seconds(clock):
    stream = io.StringIO()
    progress = Progress(10_000_000, "render long.npz", stream=stream, log_every=10.0)
    clock.now += 10
    progress(100)                                       # 10 frames a second: 277 hours to go
    assert "eta 277:46:30" in stream.getvalue()
    assert not re.search(r"eta \d+s", stream.getvalue())


def interrupted_job(args) -> int:
    progress = Progress(100, "render o.mp4")            # on sys.stderr, as the commands do
    progress(40)
    raise KeyboardInterrupt


def test_an_interrupt_message_starts_its_own_line(monkeypatch):
    stderr = TtyStream()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setitem(main.HANDLERS, "bench", "test_progress:interrupted_job")
    assert main.main(["bench"]) == 130
    text = stderr.getvalue()
    assert "40/100" in text                             # the bar was drawn on the terminal
    assert "\nreverie bench: interrupted\n" in text
