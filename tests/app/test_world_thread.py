"""The world worker on its real QThread, driven one tick at a time (no real-time waits)."""
from __future__ import annotations

import numpy as np
import pytest

from app.packets import WorldConfig
from app.worker import next_due
from app.world_thread import WorldThread
from model.play.world import BUTTONS

TIMEOUT = 10_000        # ms: a ceiling for a hung thread, never a wait

def test_next_due_never_drifts_and_never_bursts():
    period = 0.04
    due = 0.0
    for k in range(1, 100):                    # on time: exact multiples, no accumulated drift
        due = next_due(due, now=due + 0.031, period=period)
        assert due == pytest.approx(k * period)
    late = next_due(1.0, now=1.3, period=period)  # a 300 ms step: run once now, no catch-up burst
    assert late == 1.3
    assert next_due(late, now=late + 0.01, period=period) == pytest.approx(1.34)


def test_first_frame_is_the_seed_and_steps_follow(qtbot, tick, engine_factory):
    engine = engine_factory()
    first = engine.first_packet
    assert first.kind == "reset" and first.frame.shape == (96, 128, 3)
    packets = tick(engine, 3)
    assert [p.index for p in packets] == [first.index + 1, first.index + 2, first.index + 3]
    assert all(p.kind == "step" and p.timings is not None for p in packets)


def test_key_press_reaches_the_next_step(qtbot, tick, engine_factory, input_state):
    engine = engine_factory()
    input_state.press("W")
    input_state.press("Left")
    (packet,) = tick(engine)
    held = {b for b, v in zip(BUTTONS, packet.action) if v}
    assert held == {"MOVE_FORWARD", "TURN_LEFT"}
    assert packet.event_t is not None          # the first frame that saw the press carries its time
    (after,) = tick(engine)
    assert after.event_t is None


def test_pause_stops_steps_and_reset_returns_to_the_seed(qtbot, tick, engine_factory):
    engine = engine_factory()
    tick(engine, 2)
    with qtbot.waitSignal(engine.paused_changed, timeout=TIMEOUT) as paused:
        engine.toggle_pause()
    assert paused.args == [True]
    with qtbot.assertNotEmitted(engine.frame_ready, wait=0):
        engine.tick()
        with qtbot.waitSignal(engine.paused_changed, timeout=TIMEOUT):
            engine.toggle_pause()              # a round trip: the paused tick has run
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as reset:
        engine.reset()
    assert reset.args[0].kind == "reset"
    assert np.array_equal(reset.args[0].frame, engine.first_packet.frame)


def test_rewind_branches_a_new_future(qtbot, tick, engine_factory, input_state):
    engine = engine_factory()
    packets = tick(engine, 30)
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as seek:
        engine.seek(packets[9].index)
    assert seek.args[0].kind == "scrub" and np.array_equal(seek.args[0].frame, packets[9].frame)
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as rewound:
        engine.commit_rewind()
    assert rewound.args[0].kind == "rewind" and rewound.args[0].index == packets[9].index
    (again,) = tick(engine)             # same state, same (no) input: the same next frame
    assert again.index == packets[10].index and np.array_equal(again.frame, packets[10].frame)


def test_holding_rewind_runs_time_backwards(qtbot, tick, engine_factory):
    engine = engine_factory()
    packets = tick(engine, 10)
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT):
        engine.scrub(True)
    back = tick(engine, 2)
    assert [p.index for p in back] == [packets[-1].index - 2, packets[-1].index - 4]
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as released:
        engine.scrub(False)
    assert released.args[0].index == packets[-1].index - 4


def test_steps_change_while_playing(qtbot, tick, engine_factory):
    engine = engine_factory()
    with qtbot.waitSignal(engine.steps_changed, timeout=TIMEOUT):
        engine.set_steps(3)
    (packet,) = tick(engine)
    assert packet.steps == 3 and packet.timings.passes == 3


def test_worker_errors_become_messages_and_the_engine_survives(qtbot, tick, engine_factory):
    engine = engine_factory()
    session = engine.worker._session
    real_step = session.step
    session.step = lambda action: (_ for _ in ()).throw(RuntimeError("boom"))
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as msg:
        engine.tick()
    assert msg.args[0] == "error" and "boom" in msg.args[1]
    session.step = real_step
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as bad:
        engine.new_scene("no-such-seed", None)
    assert "unknown scene seed" in bad.args[1]
    with qtbot.waitSignal(engine.paused_changed, timeout=TIMEOUT):
        engine.set_paused(False)
    tick(engine)                        # still alive, still stepping


def test_switching_worlds_loads_the_pack_and_its_first_scene(qtbot, engine_factory, tiny_pack):
    engine = engine_factory()
    loaded = []
    engine.world_loaded.connect(loaded.append)
    with qtbot.waitSignal(engine.session_started, timeout=TIMEOUT) as started:
        engine.open_world(str(tiny_pack))
    (world,), session = loaded, started.args[0]
    assert world.id == "tinyworld" and [name for name, _ in world.seeds] == ["alpha", "beta"]
    assert session.seed_name == "alpha" and session.pack_seed
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as bad:
        engine.open_world("no-such-world")
    assert "unknown world" in bad.args[1]


@pytest.mark.parametrize("backend", ["cuda-onnx", "cuda", "torch"])
def test_another_world_opens_on_the_backend_the_session_runs(qtbot, engine_factory, tiny_pack, gpu_on_cpu,
                                                              backend):
    engine = engine_factory(backend=backend)
    assert engine.first_packet.backend == backend
    with qtbot.waitSignal(engine.session_started, timeout=TIMEOUT) as started:
        engine.open_world(str(tiny_pack))
    assert started.args[0].backend == backend


def test_blank_rng_seed_is_drawn_and_reported(qtbot, tick, engine_factory):
    engine = engine_factory(rng_seed=None)
    with qtbot.waitSignal(engine.session_started, timeout=TIMEOUT) as started:
        engine.new_scene("beta", None)
    assert isinstance(started.args[0].rng_seed, int) and started.args[0].seed_name == "beta"


def test_the_timer_drives_ticks_on_a_fake_clock(qtbot, tiny_pack, input_state, fake_clock):
    """autotick: each tick re-arms a PreciseTimer; the clock runs ahead so every delay is 0 ms."""
    engine = WorldThread(WorldConfig(world=str(tiny_pack), seed="alpha", rng_seed=1), input_state,
                    clock=lambda: fake_clock.advance(0.05) or fake_clock.t)
    try:
        with qtbot.waitSignals([engine.frame_ready] * 4, timeout=TIMEOUT):
            engine.start()
    finally:
        engine.stop()
    assert not engine.thread.isRunning()
