"""World packs: `assets/worlds/<id>/` (and the user's data folder), checked on load.

A pack is `world.json` (id, title, frame size, fps, buttons, model files with sha256,
sampler defaults, licence), the model files, and `seeds/`. Every model file is checked
against its sha256 before anything reads it.
"""
from __future__ import annotations

import hashlib
import json
import reprlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from model.play.errors import UserError
from model.play.sampler import SamplerSettings, wrong_type
from model.play.world import BUTTONS, FPS

PACK_FORMAT = 1
DEFAULT_WORLD = "freedoom"
# Frozen (PyInstaller), the bundled assets sit under sys._MEIPASS; from source, beside model/.
REPO_WORLDS = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2])) / "assets" / "worlds"
MODEL_ROLES = ("encoder", "dynamics", "decoder")     # the ONNX files the runtime needs
DYNAMICS_KEYS = ("window", "latent_h", "latent_w", "patch", "width", "heads", "depth")   # sizes the ring buffer
# A pack's design -> the config section its runtime reads and the integers that size it.
# "latent": tokenizer + latent dynamics; "geometry": depth, camera motion, warp and painter.
DESIGN_CONFIG = {"latent": ("dynamics", DYNAMICS_KEYS), "geometry": ("geometry", ("history",))}


def user_worlds_dir() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("reverie", appauthor=False)) / "worlds"


def world_dirs() -> list[Path]:
    """Folders that may hold packs: the bundled ones first, then the user's."""
    return [REPO_WORLDS, user_worlds_dir()]


@dataclass(frozen=True)
class WorldPack:
    root: Path
    meta: dict = field(repr=False)

    @property
    def id(self) -> str:
        return self.meta["id"]

    @property
    def title(self) -> str:
        return self.meta.get("title", self.id)

    @property
    def frame_hw(self) -> tuple[int, int]:
        w, h = self.meta["frame_size"]
        return int(h), int(w)

    @property
    def fps(self) -> int:
        return int(self.meta.get("fps", FPS))

    @property
    def sampler(self) -> dict:
        return dict(self.meta.get("sampler", {}))

    @property
    def config(self) -> dict:
        return self.meta["config"]

    @property
    def design(self) -> str:
        return self.meta.get("design", "latent")

    def model_path(self, role: str) -> Path:
        entry = self.meta["models"].get(role)
        if entry is None:
            raise UserError(f"{self.root / 'world.json'}: no '{role}' model listed")
        path = self.root / entry["file"]
        if not path.is_file():
            raise UserError(f"{path}: model file missing")
        return path

    def verified_model(self, role: str) -> Path:
        """The model file for `role` once its sha256 matches world.json."""
        path = self.model_path(role)
        expected = self.meta["models"][role]["sha256"]
        if sha256_file(path) != expected:
            raise UserError(f"{path}: sha256 does not match world.json (tampered or corrupt model file)")
        return path

    def model_hashes(self) -> dict[str, str]:
        return {role: entry["sha256"] for role, entry in self.meta["models"].items()}

    def seed_paths(self) -> list[Path]:
        return sorted((self.root / "seeds").glob("*.npz"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_pack(root: Path) -> WorldPack:
    meta_path = root / "world.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{meta_path}: world.json not found") from None
    except (OSError, ValueError, RecursionError) as exc:      # ValueError: bad UTF-8 or JSON, a 5000-digit number
        raise UserError(f"{meta_path}: not valid JSON ({exc})") from None
    _check_meta(meta, meta_path)
    return WorldPack(root=root, meta=meta)


def _check_meta(meta: object, path: Path) -> None:
    if not isinstance(meta, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key, kind in (("id", str), ("frame_size", list), ("models", dict), ("config", dict)):
        if not isinstance(meta.get(key), kind):
            raise UserError(f"{path}: '{key}' missing or not a {kind.__name__}")
    size = meta["frame_size"]
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 4096 for v in size):
        raise UserError(f"{path}: 'frame_size' must be [width, height] in pixels, got {size}")
    design = meta.get("design", "latent")
    if design not in DESIGN_CONFIG:
        raise UserError(f"{path}: unknown 'design' {design!r} (expected one of {', '.join(DESIGN_CONFIG)})")
    section, keys = DESIGN_CONFIG[design]
    part = meta["config"].get(section)
    if not isinstance(part, dict) or not all(isinstance(part.get(k), int) and part[k] > 0 for k in keys):
        raise UserError(f"{path}: 'config.{section}' needs positive integers {', '.join(keys)}")
    if meta.get("buttons", list(BUTTONS)) != list(BUTTONS):
        raise UserError(f"{path}: buttons must be {list(BUTTONS)}")
    for role, entry in meta["models"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("sha256"), str)):
            raise UserError(f"{path}: model {role!r} needs 'file' and 'sha256'")
        if Path(entry["file"]).is_absolute() or ".." in Path(entry["file"]).parts:
            raise UserError(f"{path}: model {role!r} file must stay inside the pack")
    _check_optional(meta, path)


def _check_optional(meta: dict, path: Path) -> None:
    """The keys a pack may leave out (the player reads them all): of the right type when there."""
    if not isinstance(meta.get("title", ""), str):
        raise UserError(f"{path}: 'title' must be text")
    fps = meta.get("fps", 25)
    if not (isinstance(fps, int) and not isinstance(fps, bool) and 1 <= fps <= 240):
        raise UserError(f"{path}: 'fps' must be a whole number of frames per second (1..240), "
                        f"got {reprlib.repr(fps)}")
    sampler = meta.get("sampler", {})
    if not isinstance(sampler, dict) or any(wrong_type(k, v) for k, v in sampler.items()):
        raise UserError(f"{path}: 'sampler' must map setting names to values of their type")
    SamplerSettings.check_file(sampler, path)         # the defaults every session starts from


def available_worlds() -> dict[str, Path]:
    """World id -> pack folder, bundled packs first (a user pack cannot shadow one)."""
    found: dict[str, Path] = {}
    for base in world_dirs():
        if not base.is_dir():
            continue
        for meta in sorted(base.glob("*/world.json")):
            if not meta.parent.name.startswith("."):        # an export's staging folder, say
                found.setdefault(meta.parent.name, meta.parent)
    return found


def find_pack(world: str | None) -> WorldPack:
    """A pack by id (bundled or user) or by folder path."""
    world = world or DEFAULT_WORLD
    as_path = Path(world)
    if as_path.is_dir() and (as_path / "world.json").is_file():
        return load_pack(as_path)
    worlds = available_worlds()
    if world not in worlds:
        known = ", ".join(sorted(worlds)) or "none installed"
        raise UserError(f"unknown world '{world}' (available: {known})")
    return load_pack(worlds[world])
