"""Settings that persist between runs: settings.json in the user's config folder.

A missing or broken file gives the defaults (and a note), never a crash; saves are atomic.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from app.input_map import DEFAULT_BINDINGS, checked_bindings
from model.play.backends import BACKEND_CHOICES
from model.play.sampler import DENOISE_STEPS


@dataclass
class Settings:
    window_size: tuple[int, int] = (1180, 760)
    maximized: bool = False
    bindings: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_BINDINGS))
    steps: int | None = None                # None: the world's default
    backend: str = "auto"
    muted: bool = False
    last_seed: str | None = None            # a pack seed's name, or a file path
    last_world: str | None = None
    smooth: bool = False                    # smooth (bilinear) or nearest scaling
    hud: bool = True
    gallery: bool = True
    minimap: bool = False                   # the map of where you have been (geometry worlds)

    def to_json(self) -> dict:
        data = asdict(self)
        data["window_size"] = list(self.window_size)
        data["bindings"] = {k: list(v) for k, v in self.bindings.items()}
        return data


def from_json(data: object) -> Settings:
    """Each field taken only if it has the right shape; anything else keeps its default."""
    s = Settings()
    if not isinstance(data, dict):
        return s
    size = data.get("window_size")
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 200 <= v <= 16384 for v in size):
        s.window_size = (size[0], size[1])
    s.bindings = checked_bindings(data.get("bindings"))
    steps = data.get("steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps in DENOISE_STEPS:
        s.steps = steps
    if data.get("backend") in BACKEND_CHOICES:
        s.backend = data["backend"]
    for name in ("last_seed", "last_world"):
        if isinstance(data.get(name), str) and data[name]:
            setattr(s, name, data[name])
    for f in fields(Settings):
        if f.type == "bool" and isinstance(data.get(f.name), bool):
            setattr(s, f.name, data[f.name])
    return s


def load_settings(path: Path) -> tuple[Settings, str | None]:
    """(settings, note): the note says why the defaults were used, if the file was bad."""
    try:
        return from_json(json.loads(Path(path).read_text(encoding="utf-8"))), None
    except FileNotFoundError:
        return Settings(), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return Settings(), f"{path}: settings not readable ({type(exc).__name__}), using defaults"


def save_settings(settings: Settings, path: Path) -> str | None:
    """Atomic save; returns an error line instead of raising (settings are never worth a crash)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(settings.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return None
    except OSError as exc:
        return f"{path}: settings not saved ({exc.strerror or exc})"
