"""The worker's recording: at most one Recorder, the audio mixed into it, and what the GUI hears.

No Qt: `say(level, text)` and `status(RecordingStatus | None)` are the worker's signals.
"""
from __future__ import annotations

import sys
from pathlib import Path

from app.audio import FRAME_SAMPLES, RATE, Synth
from app.packets import RecordingStatus
from app.recording import Recorder, RecordingError, SeedRef
from model.play.world import FPS


class LiveRecording:
    def __init__(self, say, status, with_audio: bool):
        self._say, self._status, self._with_audio = say, status, with_audio
        self._recorder: Recorder | None = None
        self._synth: Synth | None = None

    @property
    def active(self) -> bool:
        return self._recorder is not None

    def start(self, path: str, scene) -> None:
        """Record `scene` (an app.scene.Scene) from its next frame on; ignored while recording."""
        if self._recorder is not None:
            return
        seed = scene.seed
        ref = SeedRef(name=seed.path.stem) if scene.pack_seed else SeedRef(path=seed.path, sha256=seed.sha256)
        try:
            self._recorder = Recorder(Path(path), scene.log, world_ref(scene.world), scene.world.pack.model_hashes(),
                                      ref, scene.rng_seed, scene.sampler, scene.session.backend_name,
                                      audio_rate=RATE if self._with_audio else None)
        except RecordingError as exc:
            self._failed(exc)
            return
        self._synth = Synth()
        self._report()

    def add(self, frame, action) -> None:
        audio = self._synth.render(FRAME_SAMPLES, action) if self._with_audio else None
        try:
            self._recorder.add(frame, audio)
        except RecordingError as exc:
            self._recorder = None
            self._failed(exc)
            return
        if self._recorder.frames % FPS == 0:
            self._report()

    def stop(self, reason: str | None, closing: bool = False) -> None:
        """Finalize the files, if recording; `closing`: the app is quitting, so say it on stderr too."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            summary = recorder.stop()
            self._say("info", f"{summary} (stopped: {reason})" if reason else summary)
            if closing:
                print(f"reverie: {summary}", file=sys.stderr)
        except RecordingError as exc:
            self._say("error", str(exc))
        self._status(None)

    def _report(self) -> None:
        self._status(RecordingStatus(self._recorder.path, self._recorder.seconds))

    def _failed(self, exc: RecordingError) -> None:
        self._say("error", str(exc))
        self._status(None)


def world_ref(world) -> str:
    """The world id, or the pack's folder when the id alone would not find it again."""
    from model.play.pack import available_worlds
    root = available_worlds().get(world.id)
    same = root is not None and Path(root).resolve() == Path(world.pack.root).resolve()
    return world.id if same else str(Path(world.pack.root).resolve())
