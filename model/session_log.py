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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model.errors import UserError
from model.world import N_BUTTONS

FORMAT = "reverie-session"
VERSION = 1
MAX_ACTIONS = 10_000_000            # ~4.6 days at 25 fps: anything bigger is hostile
MAX_EVENTS = 1_000_000
EVENT_TYPES = ("rewind", "steps", "reset")


@dataclass
class SessionLog:
    world: str
    models: dict[str, str]
    seed: dict
    rng_seed: int
    sampler: dict
    backend: str
    actions: list[list[int]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    record_from: int = 0

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    def save(self, path: Path) -> None:
        """Atomic: a crash leaves the previous complete file, never half of one."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)

    @staticmethod
    def load(path: Path) -> "SessionLog":
        path = Path(path)
        try:
            if path.stat().st_size > 512 * 1024 * 1024:
                raise UserError(f"{path}: session file is too large")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: session file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
    if not _is_int(data.get("rng_seed")) or not 0 <= data["rng_seed"] < 2 ** 63:
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
    if event["type"] == "steps" and not (_is_int(event.get("value")) and 1 <= event["value"] <= 4):
        raise bad("a steps event needs a 'value' of 1..4")


def _check_seed(seed: dict, bad) -> None:
    if "name" in seed:
        if not isinstance(seed["name"], str) or not seed["name"] or "/" in seed["name"] or "\\" in seed["name"]:
            raise bad("seed 'name' must be a plain scene seed name")
        return
    rel = seed.get("path")
    if not isinstance(rel, str) or not isinstance(seed.get("sha256"), str):
        raise bad("seed needs a 'name', or a 'path' and 'sha256'")
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or len(p.parts) != 1:
        raise bad(f"seed path '{rel}' must be a file beside the session file")


def resolve_seed(log: SessionLog, session_path: Path, world):
    """The session's scene seed, checked against its recorded sha256."""
    if "name" in log.seed:
        return world.load_seed(log.seed["name"])
    path = Path(session_path).parent / log.seed["path"]
    seed = world.load_seed(str(path)) if path.is_file() else None
    if seed is None:
        raise UserError(f"{path}: the session's scene seed is missing")
    if seed.sha256 != log.seed["sha256"]:
        raise UserError(f"{path}: scene seed differs from the one recorded (sha256 mismatch)")
    return seed


def replay_frames(log: SessionLog, session_path: Path, backend: str | None = None):
    """Yield the recorded frames again, bit for bit on the same backend."""
    from model.runtime import open_world
    from model.timeline import Timeline
    world = open_world(log.world)
    if world.pack.model_hashes() != log.models:
        raise UserError(f"{session_path}: the world's model files differ from the session's "
                        "(sha256 mismatch); replay needs the same model")
    seed = resolve_seed(log, session_path, world)
    sampler = {k: v for k, v in log.sampler.items() if k in ("steps", "ctx_noise", "adaptive", "adaptive_threshold")}
    session = world.session(backend=backend or log.backend, **sampler)
    timeline = Timeline(session)
    session.reset(seed, log.rng_seed)
    timeline.start()
    events: dict[int, list[dict]] = {}
    for event in log.events:
        events.setdefault(event["at"], []).append(event)
    for i, action in enumerate(log.actions):
        for event in events.get(i, []):
            _apply(event, session, timeline, seed, log.rng_seed)
        frame = timeline.step(np.array(action, np.uint8))
        if i >= log.record_from:
            yield frame


def _apply(event: dict, session, timeline, seed, rng_seed: int) -> None:
    if event["type"] == "steps":
        session.steps = event["value"]
    elif event["type"] == "rewind":
        timeline.rewind_to(event["to"])
    else:
        session.reset(seed, rng_seed)
        timeline.start()
