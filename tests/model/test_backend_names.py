"""A recording replays on the backend it was made on, for every backend name.

cpu and torch run for real; the GPU backends run on the CPU under their own names
(the `gpu_on_cpu` fixture), which tests the name -> backend -> session file -> backend chain.
"""
from dataclasses import asdict

import numpy as np
import pytest

import model.play.runtime as runtime
from model.play.backends import BACKENDS
from model.play.render import replay_frames
from model.play.session_log import SessionLog
from model.play.timeline import Timeline


def _record(world, backend: str, actions) -> tuple[SessionLog, list[np.ndarray]]:
    session = world.session(backend=backend)
    timeline = Timeline(session)
    timeline.reset(world.load_seed("alpha"), 5)
    frames = [timeline.step(a) for a in actions]
    log = SessionLog(world=str(world.pack.root), models=world.pack.model_hashes(), seed={"name": "alpha"},
                     rng_seed=5, sampler=asdict(session.settings), backend=session.backend_name, actions=actions)
    return log, frames


@pytest.mark.parametrize("name", BACKENDS)
def test_a_recording_replays_on_the_backend_it_was_made_on(name, tiny_world, tmp_path, monkeypatch, gpu_on_cpu):
    actions = np.random.default_rng(2).integers(0, 2, (6, 8)).astype(np.uint8)
    log, frames = _record(tiny_world, name, actions)
    assert log.backend == name
    path = tmp_path / "s.json"
    log.save(path)
    opened, open_backend = [], runtime.open_backend

    def spy(pack, choice):
        opened.append(open_backend(pack, choice))
        return opened[-1]
    monkeypatch.setattr(runtime, "open_backend", spy)
    replayed = list(replay_frames(SessionLog.load(path), path))
    assert [b.name for b in opened] == [name]
    assert np.array_equal(np.stack(replayed), np.stack(frames))

