"""Recording: a decodable MP4 with audio, a session .json, and exact replay of both."""
from __future__ import annotations

import errno
import json
import shutil

import av
import numpy as np
import pytest

import main
from app.recording import ActionLog, Recorder, RecordingError, SeedRef
from model.play.video import VideoWriter, read_video, repair_fragmented_mp4

TIMEOUT = 10_000


def record(qtbot, engine, path):
    with qtbot.waitSignal(engine.recording_changed, timeout=TIMEOUT) as started:
        engine.start_recording(str(path))
    assert started.args[0] is not None


def stop(qtbot, engine):
    with qtbot.waitSignal(engine.recording_changed, timeout=TIMEOUT) as stopped:
        engine.stop_recording()
    assert stopped.args[0] is None


def replayed(session_json, tmp_path) -> np.ndarray:
    out = tmp_path / "replay.npz"
    assert main.main(["replay", str(session_json), "--out", str(out)]) == 0
    with np.load(out) as data:
        return data["frames"]


def test_recording_replays_bit_for_bit_through_rewind_steps_and_reset(qtbot, tick, engine_factory, input_state,
                                                                       tmp_path):
    engine = engine_factory()
    tick(engine, 3)                     # before the recording: in the log, not in the video
    mp4 = tmp_path / "take.mp4"
    record(qtbot, engine, mp4)
    input_state.press("W")
    shown = tick(engine, 12)
    input_state.release("W")
    input_state.press("Ctrl")
    with qtbot.waitSignal(engine.steps_changed, timeout=TIMEOUT):
        engine.set_steps(1)
    shown += tick(engine, 20)
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT) as rewound:
        engine.rewind_by(8)
    assert rewound.args[0].kind == "rewind"
    shown += tick(engine, 6)
    with qtbot.waitSignal(engine.frame_ready, timeout=TIMEOUT):
        engine.reset()
    shown += tick(engine, 5)
    stop(qtbot, engine)
    assert all(p.kind == "step" for p in shown)

    session = json.loads(mp4.with_suffix(".json").read_text())
    assert session["record_from"] == 3 and session["seed"] == {"name": "alpha"}
    assert [e["type"] for e in session["events"]] == ["steps", "rewind", "reset"]
    video = read_video(mp4)
    assert video.shape == (len(shown), 96, 128, 3)
    with av.open(str(mp4)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    frames = replayed(mp4.with_suffix(".json"), tmp_path)
    assert np.array_equal(frames, np.stack([p.frame for p in shown]))


def test_a_user_seed_is_copied_beside_the_recording(qtbot, tick, engine_factory, tiny_pack, tmp_path):
    own = tmp_path / "mine" / "cave.npz"
    own.parent.mkdir()
    shutil.copyfile(tiny_pack / "seeds" / "alpha.npz", own)
    engine = engine_factory(seed=str(own))
    mp4 = tmp_path / "rec" / "own.mp4"
    record(qtbot, engine, mp4)
    shown = tick(engine, 4)
    stop(qtbot, engine)
    session = json.loads(mp4.with_suffix(".json").read_text())
    assert session["seed"]["path"] == "own.seed.npz" and (mp4.parent / "own.seed.npz").is_file()
    own.unlink()                               # the copy is what replay uses
    assert np.array_equal(replayed(mp4.with_suffix(".json"), tmp_path), np.stack([p.frame for p in shown]))


def test_an_unwritable_folder_is_a_message_not_a_crash(qtbot, tick, engine_factory, tmp_path):
    engine = engine_factory()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as msg:
        engine.start_recording(str(blocker / "take.mp4"))
    assert msg.args[0] == "error" and "record" in msg.args[1].lower()
    tick(engine, 2)                     # playing on


def test_disk_full_stops_recording_and_keeps_what_was_written(qtbot, tick, engine_factory, tmp_path, monkeypatch):
    engine = engine_factory()
    real_write = VideoWriter.write

    def write_until_full(self, frame):
        if self.frames >= 30:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, frame)

    monkeypatch.setattr(VideoWriter, "write", write_until_full)
    mp4 = tmp_path / "full.mp4"
    record(qtbot, engine, mp4)
    shown = []
    engine.frame_ready.connect(lambda packet: shown.append(packet.frame))
    with qtbot.waitSignal(engine.message, timeout=TIMEOUT) as msg:
        for _ in range(31):
            engine.tick()
    assert "disk full" in msg.args[1] and str(mp4) in msg.args[1]
    assert len(read_video(mp4)) == 30
    # the session file holds exactly the 30 recorded frames (not the one that failed) and replays them
    assert np.array_equal(replayed(mp4.with_suffix(".json"), tmp_path), np.stack(shown[:30]))
    tick(engine)                        # the session goes on


def test_a_cut_off_file_is_trimmed_to_its_last_whole_fragment(tmp_path):
    path = tmp_path / "cut.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(path, audio_rate=48_000) as writer:
        for _ in range(80):                    # keyframe (and fragment) every 25 frames
            writer.write(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
            writer.write_audio(rng.standard_normal(1920).astype(np.float32) * 0.1)
    data = path.read_bytes()
    cut = int(len(data) * 0.8)
    path.write_bytes(data[:cut])               # what a full disk leaves: a fragment cut in half
    assert 0 < repair_fragmented_mp4(path) < cut
    assert 25 <= len(read_video(path)) < 80    # decodes cleanly up to the last whole fragment


def test_recorder_refuses_a_bad_folder_with_recording_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(RecordingError):
        Recorder(tmp_path / "f" / "x.mp4", ActionLog(), "w", {}, SeedRef(name="a"), 0, {"steps": 1}, "cpu")
