"""App test fixtures: leftover-thread/timer guard, temporary user folders, engine helpers.

Every test fails if it leaves a QThread running or a QTimer active (napari's habit):
the player must always stop and join what it starts.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest
from PySide6.QtCore import QThread, QTimer

from app.audio import BLOCK
from app.input_state import InputState
from app.packets import WorldConfig
from app.paths import AppPaths
from app.world_thread import WorldThread

TIMEOUT = 10_000        # ms: a ceiling for a hung thread, never a wait


def _alive(ref, check) -> bool:
    obj = ref()
    if obj is None:
        return False
    try:
        return check(obj)
    except RuntimeError:          # the C++ object is already gone
        return False


@pytest.fixture(autouse=True)
def no_leftover_threads_or_timers(qapp, monkeypatch):
    threads, timers = [], []
    python_threads = set(threading.enumerate())
    thread_start, timer_start = QThread.start, QTimer.start

    def start_thread(self, *args):
        threads.append(weakref.ref(self))
        return thread_start(self, *args)

    def start_timer(self, *args):
        timers.append(weakref.ref(self))
        return timer_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_thread)
    monkeypatch.setattr(QTimer, "start", start_timer)
    yield
    qapp.processEvents()
    running = [r() for r in threads if _alive(r, QThread.isRunning)]
    active = [r() for r in timers if _alive(r, QTimer.isActive)]
    # A QThread that touched `threading` shows up as a _DummyThread forever: QThreads are checked above.
    extra = [t for t in threading.enumerate() if t not in python_threads and t.is_alive()
             and not isinstance(t, threading._DummyThread)]
    for thread in running:                      # do not let one test hang the next
        thread.quit()
        thread.wait(2000)
    for timer in active:
        timer.stop()
    assert not running, f"QThreads left running: {[t.objectName() for t in running]}"
    assert not active, f"QTimers left active: {[t.objectName() or t for t in active]}"
    assert not extra, f"Python threads left running: {extra}"


@pytest.fixture
def app_paths(tmp_path) -> AppPaths:
    return AppPaths.under(tmp_path / "user")


@pytest.fixture
def input_state() -> InputState:
    return InputState()


class FakeClock:
    """Monotonic time that only moves when a test says so."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()




@pytest.fixture
def engine_factory(qtbot, tiny_pack, input_state, fake_clock):
    engines = []

    def make(**config):
        config.setdefault("world", str(tiny_pack))
        config.setdefault("seed", "alpha")
        config.setdefault("rng_seed", 7)
        engine = WorldThread(WorldConfig(**config), input_state, clock=fake_clock, autotick=False)
        engines.append(engine)
        engine.messages = []                    # everything it said, from the start
        engine.message.connect(lambda level, text: engine.messages.append((level, text)))
        with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as first:
            engine.start()
        engine.first_packet = first.args[0]
        return engine

    yield make
    for engine in engines:
        engine.stop()


@pytest.fixture
def tick(qtbot):
    """tick(engine, n): run n ticks in the worker thread; returns their FramePackets."""
    def run(engine, n: int = 1):
        packets = []
        for _ in range(n):
            with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as blocker:
                engine.tick()
            packets.append(blocker.args[0])
        return packets
    return run


class FakeOutput:
    """An audio device that plays nothing: tests pull blocks from the player's render callback."""

    def __init__(self):
        self.render = None
        self.closed = False
        self.lost: Exception | None = None      # set by a test: the device went away

    def start(self, render):
        self.render = render

    def check(self):
        if self.lost is not None:
            raise self.lost

    def pull(self, samples: int) -> np.ndarray:
        return np.concatenate([self.render(BLOCK) for _ in range(max(1, samples // BLOCK))])

    def close(self):
        self.closed = True


class FakeGamepads:
    """A gamepad source fed by the test: put PadEvents in `queue`, the poller takes them."""

    def __init__(self):
        self.queue = []
        self.closed = False

    def poll(self):
        events, self.queue = self.queue, []
        return events

    def close(self):
        self.closed = True


@pytest.fixture
def fake_output() -> FakeOutput:
    return FakeOutput()


@pytest.fixture
def fake_pads() -> FakeGamepads:
    return FakeGamepads()
