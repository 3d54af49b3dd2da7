"""Recording: the MP4 (video + audio) and the session .json beside it (no Qt).

The worker owns one `ActionLog` per session (every generated frame's action since the
scene's reset, and the rewind/steps/reset events) whether or not it records; a
`Recorder` writes the frames from now on and a SessionLog whose `record_from` is the
first recorded action, so `python main.py replay` rebuilds exactly the recorded frames.
"""
from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from model.play.errors import UserError
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = VideoWriter(self.path, audio_rate=audio_rate)
            seed_json = self._seed_json(seed)
            self.session = SessionLog(world=world, models=models, seed=seed_json, rng_seed=int(rng_seed),
                                      sampler=sampler, backend=backend, actions=log.actions,
                                      events=log.events, record_from=len(log.actions))
            self.session.save(self.json_path)
        except UserError as exc:
            raise RecordingError(f"Cannot record: {exc}") from None
        except OSError as exc:
            self._abandon()
            raise RecordingError(f"Cannot record to {self.path.parent}: {exc.strerror or exc}") from None

    def _seed_json(self, seed: SeedRef) -> dict:
        if seed.name is not None:
            return {"name": seed.name}
        copy = self.path.with_name(f"{self.path.stem}.seed{seed.path.suffix.lower()}")
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
            self._abandon()
            raise RecordingError(self._failure(exc)) from None

    def stop(self) -> str:
        """Finalize both files; returns a one-line summary."""
        try:
            self.session.save(self.json_path)
            self.writer.close()
        except OSError as exc:
            self._abandon()
            raise RecordingError(self._failure(exc)) from None
        return f"Saved {self.seconds:.1f} s to {self.path}"

    def _failure(self, exc: OSError) -> str:
        why = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
        return f"Recording stopped ({why}); {self.seconds:.1f} s kept in {self.path}"

    def _abandon(self) -> None:
        """After a write error: close what can be closed, cut a half-written fragment off."""
        writer = getattr(self, "writer", None)
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the disk is full: flushing fails the same way
                writer.container = None
        try:
            # The action of the frame that failed is logged already: keep only recorded frames'.
            kept = self.session.record_from + self.frames
            replace(self.session, actions=self.session.actions[:kept],
                    events=[e for e in self.session.events if e["at"] <= kept]).save(self.json_path)
        except (AttributeError, OSError):
            pass                                       # the last complete save stays
        if self.path.is_file():
            repair_fragmented_mp4(self.path)


def repair_fragmented_mp4(path: Path) -> int:
    """Truncate a fragmented MP4 after its last complete fragment; returns the new size.

    Top-level boxes are [size:4][type:4]...; a write cut short leaves a last box whose
    size runs past the end of the file, which some decoders choke on.
    """
    size = os.path.getsize(path)
    good = pos = 0
    with open(path, "rb") as f:
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box = int.from_bytes(head[:4], "big")
            kind = head[4:8]
            if box == 1 and len(head) == 16:
                box = int.from_bytes(head[8:16], "big")
            if box < 8 or pos + box > size:
                break
            pos += box
            if kind in (b"moov", b"mdat", b"mfra"):      # ends of a complete header or fragment
                good = pos
    if good < size:
        os.truncate(path, good)
    return good
