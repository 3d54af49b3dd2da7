"""Gamepads from synthetic SDL-like events: hot-plug notes, sticks, triggers, buttons."""
from __future__ import annotations

import numpy as np

from app.gamepad import GamepadPoller, PadEvent, PadTracker
from model.play.world import action_from_names


def test_tracker_follows_hot_plug_and_ignores_unknown_pads():
    t = PadTracker()
    assert t.apply(PadEvent("axis", 9, "leftx", 1.0)) == (None, None)
    assert t.apply(PadEvent("added", 3, "Xbox Controller"))[0] == "Gamepad connected: Xbox Controller"
    assert t.apply(PadEvent("button", 3, "start", 1.0)) == (None, "PAUSE")
    assert t.apply(PadEvent("button", 3, "start", 0.0)) == (None, None)
    assert t.apply(PadEvent("removed", 3))[0] == "Gamepad disconnected: Xbox Controller"
    assert t.merged() is None


def test_poller_feeds_the_input_state(qtbot, input_state, fake_pads):
    source = fake_pads
    poller = GamepadPoller(input_state, lambda: source)
    notes, commands = [], []
    poller.note.connect(notes.append)
    poller.command.connect(commands.append)
    poller.start()
    try:
        source.queue = [PadEvent("added", 1, "Pad"), PadEvent("axis", 1, "lefty", -0.8),
                        PadEvent("axis", 1, "rightx", 0.9), PadEvent("axis", 1, "righttrigger", 1.0),
                        PadEvent("button", 1, "a", 1.0)]
        poller.poll()
        assert np.array_equal(input_state.current_action(),
                              action_from_names({"MOVE_FORWARD", "TURN_RIGHT", "ATTACK", "USE"}))
        assert input_state.take().event_t is not None
        source.queue = [PadEvent("axis", 1, "lefty", -0.1), PadEvent("button", 1, "start", 1.0)]
        poller.poll()
        assert not input_state.current_action()[0] and commands == ["PAUSE"]
        source.queue = [PadEvent("removed", 1)]
        poller.poll()
        assert not input_state.current_action().any()
        assert notes == ["Gamepad connected: Pad", "Gamepad disconnected: Pad"]
    finally:
        poller.stop()
    assert source.closed


def test_no_sdl_means_a_note_and_no_timer(qtbot, input_state):
    def broken():
        raise OSError("no SDL")
    poller = GamepadPoller(input_state, broken)
    with qtbot.waitSignal(poller.note, timeout=1000) as note:
        poller.start()
    assert "unavailable" in note.args[0]
    poller.stop()


def test_the_real_pygame_source_starts_with_no_pads(qtbot):
    from app.gamepad import PygameGamepads
    source = PygameGamepads()
    try:
        assert source.poll() == []
    finally:
        source.close()
