"""The one pure mapping from keys and gamepads to the 8-button action, and its tables."""
from __future__ import annotations

import numpy as np

from app.input_map import (
    DEFAULT_BINDINGS,
    PadState,
    action_from_input,
    checked_bindings,
    command_for_key,
    merge_pads,
    rebind,
)
from app.input_state import InputState
from model.play.world import action_from_names


def act(keys=(), pad=None, bindings=DEFAULT_BINDINGS):
    return action_from_input(keys, pad, bindings)


def test_default_keys_map_to_canonical_buttons():
    cases = {("W",): {"MOVE_FORWARD"}, ("S",): {"MOVE_BACKWARD"}, ("A",): {"MOVE_LEFT"},
             ("D",): {"MOVE_RIGHT"}, ("Left",): {"TURN_LEFT"}, ("Right",): {"TURN_RIGHT"},
             ("Ctrl",): {"ATTACK"}, ("Mouse1",): {"ATTACK"}, ("E",): {"USE"}, ("Space",): {"USE"},
             ("W", "Left", "Ctrl"): {"MOVE_FORWARD", "TURN_LEFT", "ATTACK"}, ("P",): set(), ("Q",): set()}
    for keys, held in cases.items():
        assert np.array_equal(act(keys), action_from_names(held)), keys
    assert act(["W"]).dtype == np.uint8 and act(["W"]).shape == (8,)


def test_gamepad_sticks_have_a_deadzone_and_triggers_attack():
    assert not act(pad=PadState({"lefty": -0.2, "rightx": 0.2, "lefttrigger": 0.2})).any()
    pad = PadState({"lefty": -0.9, "leftx": 0.6, "rightx": -0.7, "righttrigger": 0.8}, frozenset({"a"}))
    assert np.array_equal(act(pad=pad), action_from_names(
        {"MOVE_FORWARD", "MOVE_RIGHT", "TURN_LEFT", "ATTACK", "USE"}))
    assert np.array_equal(act(pad=PadState({"lefty": 0.9})), action_from_names({"MOVE_BACKWARD"}))
    assert not act(pad=PadState(buttons=frozenset({"start"}))).any()     # Start pauses: not a button


def test_keys_and_pad_combine_and_pads_merge():
    merged = merge_pads([PadState({"leftx": -0.5}), PadState({"leftx": 0.9}, frozenset({"a"}))])
    assert merged.axes["leftx"] == 0.9 and merged.buttons == {"a"}
    assert np.array_equal(act(["W"], merged), action_from_names({"MOVE_FORWARD", "MOVE_RIGHT", "USE"}))
    assert merge_pads([]) is None


def test_commands_and_rebinding():
    assert command_for_key("P", DEFAULT_BINDINGS) == "PAUSE"
    assert command_for_key("Backspace", DEFAULT_BINDINGS) == "REWIND"
    assert command_for_key("W", DEFAULT_BINDINGS) is None
    b = rebind(DEFAULT_BINDINGS, "USE", "W")          # W leaves forward, becomes use
    assert b["USE"] == ("W",) and "W" not in b["MOVE_FORWARD"]
    assert np.array_equal(act(["W"], bindings=b), action_from_names({"USE"}))


def test_bindings_from_a_file_are_checked():
    b = checked_bindings({"ATTACK": ["F"], "NOPE": ["X"], "USE": "E", "PAUSE": [1]})
    assert b["ATTACK"] == ("F",) and "NOPE" not in b
    assert b["USE"] == DEFAULT_BINDINGS["USE"] and b["PAUSE"] == DEFAULT_BINDINGS["PAUSE"]
    assert checked_bindings(None) == DEFAULT_BINDINGS


def test_input_state_marks_the_first_change_for_latency():
    clock = iter([1.0, 2.0, 3.0]).__next__
    state = InputState(clock=clock)
    state.press("Q")                                  # unbound: no action change, no event
    assert state.take().event_t is None
    state.press("W")
    state.press("D")                                  # the earliest unseen change is kept
    sample = state.take()
    assert sample.event_t == 1.0 and np.array_equal(sample.action, action_from_names({"MOVE_FORWARD", "MOVE_RIGHT"}))
    assert state.take().event_t is None
    state.clear()
    assert not state.current_action().any()
