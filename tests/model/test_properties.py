"""Property tests (Hypothesis) for the round trips of the user-facing file formats:
actions as .json and as .npz load to the same array; a session file loads back to the
session that wrote it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.play.session_log import EVENT_TYPES, SessionLog
from model.play.world import BUTTONS, N_BUTTONS, ActionScript

BACKENDS = ("auto", "cpu", "cuda", "cuda-onnx", "torch")    # the names a session file may give
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

action_rows = st.lists(st.lists(st.integers(0, 1), min_size=N_BUTTONS, max_size=N_BUTTONS), max_size=40)


def write_actions_json(path: Path, rows: list[list[int]], with_buttons: bool, indent) -> Path:
    data = {"buttons": list(BUTTONS), "actions": rows} if with_buttons else {"actions": rows}
    path.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    return path


@FAST
@given(rows=action_rows, with_buttons=st.booleans(), indent=st.sampled_from([None, 1]),
       dtype=st.sampled_from([np.uint8, np.int64, np.bool_]), compressed=st.booleans())
def test_actions_json_and_npz_load_to_the_same_array(tmp_path, rows, with_buttons, indent, dtype, compressed):
    from_json = ActionScript.load(write_actions_json(tmp_path / "a.json", rows, with_buttons, indent)).actions
    array = np.array(rows, dtype).reshape(len(rows), N_BUTTONS)
    (np.savez_compressed if compressed else np.savez)(tmp_path / "a.npz", actions=array)
    from_npz = ActionScript.load(tmp_path / "a.npz").actions
    assert from_json.dtype == from_npz.dtype == np.uint8
    assert from_json.shape == from_npz.shape == (len(rows), N_BUTTONS)
    assert np.array_equal(from_json, from_npz)
    assert from_json.tolist() == rows


@FAST
@given(rows=action_rows)
def test_actions_npz_back_to_json_is_the_same_script(tmp_path, rows):
    """npz -> loaded array -> the JSON format -> the same array again."""
    np.savez(tmp_path / "b.npz", actions=np.array(rows, np.uint8).reshape(len(rows), N_BUTTONS))
    loaded = ActionScript.load(tmp_path / "b.npz").actions
    again = ActionScript.load(write_actions_json(tmp_path / "b.json", loaded.tolist(), True, None)).actions
    assert np.array_equal(loaded, again)


text = st.text(max_size=20)
plain_names = st.text(st.characters(blacklist_characters="/\\:\0", blacklist_categories=["Cs"]),
                      min_size=1, max_size=30).filter(lambda s: s not in (".", ".."))
seeds = st.one_of(st.fixed_dictionaries({"name": plain_names}),
                  st.fixed_dictionaries({"path": plain_names, "sha256": st.text("0123456789abcdef", min_size=64,
                                                                               max_size=64)}))
samplers = st.fixed_dictionaries({}, optional={
    "steps": st.integers(1, 4), "ctx_noise": st.floats(0, 0.99), "adaptive": st.booleans(),
    "adaptive_threshold": st.floats(0, 1)})


@st.composite
def sessions(draw) -> SessionLog:
    actions = draw(action_rows)
    n = len(actions)
    event = st.one_of(
        st.fixed_dictionaries({"at": st.integers(0, n), "type": st.just("rewind"), "to": st.integers(0, 10**6)}),
        st.fixed_dictionaries({"at": st.integers(0, n), "type": st.just("steps"), "value": st.integers(1, 4)}),
        st.fixed_dictionaries({"at": st.integers(0, n), "type": st.just("reset")}))
    return SessionLog(world=draw(text), models=draw(st.dictionaries(text, text, max_size=4)),
                      seed=draw(seeds), rng_seed=draw(st.integers(0, 2 ** 63 - 1)), sampler=draw(samplers),
                      backend=draw(st.sampled_from(BACKENDS)), actions=actions,
                      events=draw(st.lists(event, max_size=5)), record_from=draw(st.integers(0, n)))


@FAST
@given(log=sessions())
def test_a_saved_session_loads_back_the_same(tmp_path, log):
    path = tmp_path / "s.json"
    log.save(path)
    back = SessionLog.load(path)
    assert back.to_json() == log.to_json()
    assert back == log
    assert not path.with_name("s.json.tmp").exists()
    assert {e["type"] for e in back.events} <= set(EVENT_TYPES)


@FAST
@given(log=sessions(), more=action_rows)
def test_a_session_saved_again_after_more_actions_loads_the_longer_one(tmp_path, log, more):
    """Recording saves the same file again and again as actions accrue (the JSON is cached in chunks)."""
    path = tmp_path / "s.json"
    log.save(path)
    for row in more:
        log.actions.append(row)
    log.save(path)
    assert SessionLog.load(path).actions == log.actions
