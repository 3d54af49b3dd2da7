"""The session file written beside every recording, and exact replay from it.

    {"format": "reverie-session", "version": 1, "world": "freedoom",
     "models": {role: sha256}, "seed": {"name": ...} or {"path": "x.seed.npz", "sha256": ...},
     "rng_seed": 7, "sampler": {"steps": 2, ...}, "backend": "cpu",
     "actions": [[0,1,0,0,0,0,0,0], ...],          # one per generated frame
     "events": [{"at": 120, "type": "rewind", "to": 40}, {"at": 300, "type": "steps", "value": 3},
                {"at": 500, "type": "reset"}],
     "record_from": 0}                               # first action whose frame is recorded

An event applies before the step of `actions[at]`. Replay rebuilds exactly the frames
that were recorded: one per action from `record_from` on.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from model.play.backends import BACKEND_CHOICES
from model.play.errors import UserError
from model.play.sampler import (
    DENOISE_STEPS,
    RNG_SEEDS,
    STEPS_TEXT,
    SamplerSettings,
    wrong_type,
)
from model.play.world import N_BUTTONS

FORMAT = "reverie-session"
VERSION = 1
MAX_ACTIONS = 2_700_000             # 30 hours at 25 fps: anything bigger is hostile
MAX_EVENTS = 100_000
MAX_FILE_BYTES = 64 * 1024 * 1024   # 30 hours of actions is ~50 MB of JSON
EVENT_TYPES = ("rewind", "steps", "reset")


class PackedActions:
    """A growing list of 8-button actions kept as 8 bytes each, with its JSON cached in
    chunks. A 30-minute recording holds 45,000 actions: as Python lists they cost ~16 MB
    and their re-encoding a 300 ms hitch per save; packed, under 1 MB and ~1 ms."""

    CHUNK = 256

    def __init__(self, rows=()):
        self._bytes = bytearray()
        self._chunks: list[str] = []           # JSON of each complete CHUNK of actions
        for row in rows:
            self.append(row)

    def append(self, action) -> None:
        self._bytes += bytes(int(v) for v in action)

    def __len__(self) -> int:
        return len(self._bytes) // N_BUTTONS

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PackedActions(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return list(self._bytes[index * N_BUTTONS:(index + 1) * N_BUTTONS])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def to_json_text(self) -> str:
        """'[[0,1,...],...]', encoding only the actions added since the last call."""
        done = len(self._chunks) * self.CHUNK
        while done + self.CHUNK <= len(self):
            self._chunks.append(self._encode(done, done + self.CHUNK))
            done += self.CHUNK
        parts = self._chunks + ([self._encode(done, len(self))] if done < len(self) else [])
        return "[" + ",".join(parts) + "]"

    def _encode(self, start: int, stop: int) -> str:
        return ",".join("[" + ",".join(map(str, self[i])) + "]" for i in range(start, stop))


@dataclass
class SessionLog:
    world: str
    models: dict[str, str]
    seed: dict
    rng_seed: int
    sampler: dict
    backend: str
    actions: PackedActions = field(default_factory=PackedActions)
    events: list[dict] = field(default_factory=list)
    record_from: int = 0

    def __post_init__(self):
        if not isinstance(self.actions, PackedActions):
            self.actions = PackedActions(self.actions)

    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, **{f.name: getattr(self, f.name) for f in fields(self)}}
        out["actions"] = list(self.actions)
        return out

    def save(self, path: Path) -> None:
        """Atomic: a crash leaves the previous complete file, never half of one."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        rest = {"format": FORMAT, "version": VERSION,
                **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "actions"}}
        text = json.dumps(rest, separators=(",", ":"))[:-1] + ',"actions":' + self.actions.to_json_text() + "}"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except BaseException:       # a full disk leaves half a .tmp: never keep it
            tmp.unlink(missing_ok=True)
            raise

    @staticmethod
    def load(path: Path) -> "SessionLog":
        path = Path(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise UserError(f"{path}: session file is too large")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: session file not found") from None
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON, a 5000-digit number
            raise UserError(f"{path}: not a valid session file ({type(exc).__name__})") from None
        return _validated(data, path)


def _validated(data: object, path: Path) -> SessionLog:
    def bad(what: str) -> UserError:
        return UserError(f"{path}: {what}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad(f"not a session file (format must be '{FORMAT}')")
    if data.get("version") != VERSION:
        raise bad(f"unsupported session version {data.get('version')!r}")
    for key, kind in (("world", str), ("models", dict), ("seed", dict), ("sampler", dict),
                      ("backend", str), ("actions", list), ("events", list)):
        if not isinstance(data.get(key), kind):
            raise bad(f"'{key}' missing or not a {kind.__name__}")
    if not _is_int(data.get("rng_seed")) or data["rng_seed"] not in RNG_SEEDS:
        raise bad("'rng_seed' must be a non-negative integer")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["models"].items()):
        raise bad("'models' must map names to sha256 strings")
    actions = data["actions"]
    if len(actions) > MAX_ACTIONS or len(data["events"]) > MAX_EVENTS:
        raise bad("too many actions or events")
    if not all(isinstance(a, list) and len(a) == N_BUTTONS and all(v in (0, 1) and _is_int(v) for v in a)
               for a in actions):
        raise bad(f"every action must be a list of {N_BUTTONS} values 0 or 1")
    for event in data["events"]:
        _check_event(event, len(actions), bad)
    record_from = data.get("record_from", 0)
    if not _is_int(record_from) or not 0 <= record_from <= len(actions):
        raise bad("'record_from' must be an index into 'actions'")
    _check_seed(data["seed"], bad)
    _check_sampler(data["sampler"], bad, path)
    if data["backend"] not in BACKEND_CHOICES:      # a backend's name is the choice that opens it again
        raise bad(f"unknown backend {data['backend']!r}")
    return SessionLog(world=data["world"], models=data["models"], seed=data["seed"],
                      rng_seed=data["rng_seed"], sampler=data["sampler"], backend=data["backend"],
                      actions=actions, events=data["events"], record_from=record_from)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_event(event, n_actions: int, bad) -> None:
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        raise bad(f"events must be objects with a type in {EVENT_TYPES}")
    if not _is_int(event.get("at")) or not 0 <= event["at"] <= n_actions:
        raise bad("an event's 'at' must be an index into 'actions'")
    if event["type"] == "rewind" and not (_is_int(event.get("to")) and event["to"] >= 0):
        raise bad("a rewind event needs a frame number 'to'")
    if event["type"] == "steps" and not (_is_int(event.get("value")) and event["value"] in DENOISE_STEPS):
        raise bad(f"a steps event needs a 'value' of {STEPS_TEXT}")


def _check_sampler(sampler: dict, bad, path: Path) -> None:
    for key, value in sampler.items():
        if wrong_type(key, value):
            raise bad(f"sampler '{key}' has the wrong type ({type(value).__name__})")
    SamplerSettings.check_file(sampler, path)         # in range too: replay's refusal names this file


def _plain_name(name: object) -> bool:
    """One file name: no folder, drive or parent part on any platform."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\:\0"))


def _check_seed(seed: dict, bad) -> None:
    if "name" in seed:
        if not _plain_name(seed["name"]):
            raise bad("seed 'name' must be a plain scene seed name")
        return
    rel = seed.get("path")
    if not isinstance(rel, str) or not isinstance(seed.get("sha256"), str):
        raise bad("seed needs a 'name', or a 'path' and 'sha256'")
    if not _plain_name(rel):
        raise bad(f"seed path '{rel}' must be a file beside the session file")
