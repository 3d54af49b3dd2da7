"""Recording: the MP4 (video + audio) and the session .json beside it (no Qt).

The worker owns one `ActionLog` per session (every generated frame's action since the
scene's reset, and the rewind/steps/reset events) whether or not it records; a
`Recorder` writes the frames from now on and a SessionLog whose `record_from` is the
first recorded action, so `python main.py replay` rebuilds exactly the recorded frames.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from model.play.errors import UserError, os_reason
from model.play.session_log import PackedActions, SessionLog
from model.play.video import VideoWriter
from model.play.world import FPS


class RecordingError(Exception):
    """Recording had to stop (disk full, folder gone): the message says why and what was kept."""


@dataclass
class ActionLog:
    actions: PackedActions = field(default_factory=PackedActions)
    events: list[dict] = field(default_factory=list)

    def add(self, action: np.ndarray) -> None:
        self.actions.append(action)

    def event(self, kind: str, **values) -> None:
        """An event applies before the step of the next action."""
        self.events.append({"at": len(self.actions), "type": kind, **values})


@dataclass(frozen=True)
class SeedRef:
    """How a session file names its scene seed: a pack seed by name, or a file to copy."""
    name: str | None = None
    path: Path | None = None
    sha256: str | None = None


class Recorder:
    def __init__(self, path: Path, log: ActionLog, world: str, models: dict, seed: SeedRef,
                 rng_seed: int, sampler: dict, backend: str, audio_rate: int | None = None):
        self.path = Path(path)
        self.json_path = self.path.with_suffix(".json")
        self.frames = 0
        self._made: list[Path] = []             # files this recording made: removed if it keeps nothing
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = VideoWriter(self.path, audio_rate=audio_rate)
            self._made.append(self.path)
            seed_json = self._seed_json(seed)
            self.session = SessionLog(world=world, models=models, seed=seed_json, rng_seed=int(rng_seed),
                                      sampler=sampler, backend=backend, actions=log.actions,
                                      events=log.events, record_from=len(log.actions))
            self.session.save(self.json_path)
            self._made.append(self.json_path)
        except UserError as exc:
            self._abandon()
            raise RecordingError(f"Cannot record: {exc}") from None
        except OSError as exc:
            self._abandon()
            raise RecordingError(f"Cannot record to {self.path.parent}: {os_reason(exc)}") from None

    def _seed_json(self, seed: SeedRef) -> dict:
        if seed.name is not None:
            return {"name": seed.name}
        copy = self.path.with_name(f"{self.path.stem}.seed{seed.path.suffix.lower()}")
        self._made.append(copy)                 # before the copy: a full disk can leave half of it
        shutil.copyfile(seed.path, copy)
        return {"path": copy.name, "sha256": seed.sha256}

    @property
    def seconds(self) -> float:
        return self.frames / FPS

    def add(self, frame: np.ndarray, audio: np.ndarray | None) -> None:
        """One recorded frame (its action is already in the log). RecordingError stops it."""
        try:
            self.writer.write(frame)
            if audio is not None and self.writer.audio is not None:
                self.writer.write_audio(audio)
            self.frames += 1
            if self.frames % FPS == 0:                 # the session file, once a second
                self.session.save(self.json_path)
        except OSError as exc:                          # av.error.OSError is one too
            raise RecordingError(self._failure(exc, self._abandon())) from None

    def stop(self) -> str:
        """Finalize both files; returns a one-line summary."""
        try:
            self.session.save(self.json_path)
            self.writer.close()
        except OSError as exc:
            raise RecordingError(self._failure(exc, self._abandon())) from None
        return f"Saved {self.seconds:.1f} s to {self.path}"

    def _failure(self, exc: OSError, kept: int) -> str:
        what = f"{kept / FPS:.1f} s kept in {self.path}" if kept else "nothing was kept"
        return f"Recording stopped ({os_reason(exc)}); {what}"

    def _abandon(self) -> int:
        """After a write error: keep the frames the video still plays and a session file of
        exactly those (it replays them), or, if none play, no file at all; returns the frames kept."""
        writer = getattr(self, "writer", None)
        kept = writer.abandon() if writer is not None else 0
        if kept == 0:
            for path in self._made:
                path.unlink(missing_ok=True)
            return 0
        end = self.session.record_from + kept
        try:
            replace(self.session, actions=self.session.actions[:end],
                    events=[e for e in self.session.events if e["at"] <= end]).save(self.json_path)
        except OSError:
            pass                                       # the last complete save stays
        return kept
