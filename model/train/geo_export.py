"""Export of the geometry-aware world: two ONNX graphs and a world pack.

    observe.onnx  frame (1,3,96,128), actions (1,K,8), motions (1,K,4) -> prior (1,3,96,128),
                  valid (1,1,96,128), weapon (1,1,96,128), motion (1,4), depth (1,96,128)
    recall.onnx   frame (1,5,96,128): colour, trust and the depth each colour was seen at, depth (1,96,128),
                  motion (1,4) -> memory (1,5,96,128): relit, memory_valid (1,1,96,128); nearest-pixel warp;
                  shown (1,4,96,128): colour and trust read bicubic at the same points, relit (packs before: none)
    painter.onnx  x_tau, tau (1,), prior, valid, prev, weapon, action (1,8), ctx_noise (1,),
                  memory, memory_valid -> x0

The warp (GridSample) runs inside observe.onnx, so the runtime needs nothing but ONNX Runtime.
"""
from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from model.nets.checkpoint import atomic_save, round_to
from model.nets.geonets import GEO_PRESETS, MOTION_SCALE, REST_SPEED_FLOOR, GeoConfig, GeoWorld, make_prior, recall
from model.play.atlas import ATLAS_FILE
from model.play.worldmap import MAP_FILE
from model.play.errors import UserError
from model.play.pack import sha256_file
from model.play.world import BUTTONS, FPS, FRAME_H, FRAME_W, N_BUTTONS
from model.train.export import FREEDOOM_LICENCE, OPSET, write_world_json
from model.train.light_fit import STAGE as LIGHT_STAGE
from model.train.runs import load_stage, stage_meta

GEO_STAGES = ("geo_depth", "geo_motion", "geo_painter")
MOTION_FIELDS = ("history", "motion_hidden", "yaw_classes")


class Observe(nn.Module):
    def __init__(self, world: GeoWorld):
        super().__init__()
        self.world = world

    def forward(self, frame, actions, motions):
        depth, weapon_logit = self.world.depth(frame)
        motion = self.world.motion(actions, motions, depth)
        prior, valid, weapon = make_prior(frame, depth, weapon_logit, motion)
        return prior, valid, weapon, motion, depth


class Recall(nn.Module):
    def __init__(self, light):
        super().__init__()
        self.light = light

    def forward(self, frame, depth, motion):
        return recall(frame, depth, motion, self.light, smooth=True)


def load_geo_run(run: Path) -> tuple[GeoWorld, dict]:
    """The three trained stages of a run folder, as one GeoWorld."""
    meta = stage_meta(run, "geo_depth")
    if meta is None:
        raise FileNotFoundError(f"{run}: no geo_depth.safetensors")
    config = meta["config"]
    motion = stage_meta(run, "geo_motion")
    if motion is not None:          # stages of different runs: the motion net keeps its own inputs
        config = {**config, **{k: v for k, v in motion["config"].items() if k in MOTION_FIELDS}}
    world = GeoWorld(GeoConfig.from_dict(config))
    info = {}
    for name, module in zip(GEO_STAGES, (world.depth, world.motion, world.painter)):
        info[f"{name}_steps"], _ = load_stage(run, name, module)
    if stage_meta(run, LIGHT_STAGE) is not None:      # fitted, not trained (model.train.light_fit)
        info["light"] = load_stage(run, LIGHT_STAGE, world.light)[1].get("report", {})
    return world.eval(), info


def pack_world(pack) -> GeoWorld:
    """A geometry pack's torch weights (its sha256 checked) as a GeoWorld, in float32."""
    from model.nets.checkpoint import read_tensors
    tensors, meta = read_tensors(pack.verified_model("torch"))
    world = GeoWorld(GeoConfig.from_dict(meta["geometry"]))
    world.load_state_dict({k: v.float() for k, v in tensors.items()})   # packs before the walk rule: MotionNet fills it
    return world.eval()


def warm_start(pack_dir: Path, run: Path) -> list[str]:
    """A geometry pack's nets as a new run's stages (and its light, atlas and map), so that
    training goes on from the shipped weights (`train --design geometry --warm-start PACK`):
    each stage at the pack's step count with a fresh optimizer, and the pack's training record
    kept beside them for the exported pack (WARM_START_FILE). Returns what was written."""
    from model.play.pack import load_pack
    from model.train.light_fit import save_light
    from model.train.runs import save_stage
    from model.train.trainer import make_optimizer
    pack = load_pack(Path(pack_dir))
    if pack.design != "geometry":
        raise UserError(f"{pack_dir}: --warm-start needs a geometry world pack, not a {pack.design} one")
    world = pack_world(pack)
    record = pack.meta.get("training", {})
    run.mkdir(parents=True, exist_ok=True)
    for name, module in zip(GEO_STAGES, (world.depth, world.motion, world.painter)):    # the steps go on counting
        save_stage(run, name, module, make_optimizer(module.parameters()), int(record.get(f"{name}_steps", 0)),
                   {"warm_start": str(pack_dir)})
    save_light(run, world.light, record.get("light", {}))
    tmp = run / (WARM_START_FILE + ".tmp")
    tmp.write_text(json.dumps({"pack": str(pack_dir), "training": record}, indent=1), encoding="utf-8")
    tmp.replace(run / WARM_START_FILE)
    written = [*GEO_STAGES, LIGHT_STAGE, WARM_START_FILE]
    for role, name in EXTRA_FILES.items():
        if role in pack.meta["models"]:
            copy_whole(pack.verified_model(role), run / name)
            written.append(name)
    return written


def copy_whole(source: Path, dest: Path) -> None:
    """Copy through a .tmp beside `dest`, so that `dest` is never half a file."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(dest)


def random_geo(preset: str = "tiny", seed: int = 0) -> GeoWorld:
    """Untrained nets (the painter's zero head made non-zero, so frames vary with the noise), a
    made-up light and the engine's walking rule (an untrained motion net's move head is zero:
    without a rule, held keys would not move the camera)."""
    torch.manual_seed(seed)
    world = GeoWorld(GEO_PRESETS[preset])
    with torch.no_grad():
        world.painter.net.head.weight.normal_(0, 0.02)
        world.motion.walk_friction.fill_(-0.09375)
        for key, axis, push in (("MOVE_FORWARD", 0, 1), ("MOVE_BACKWARD", 0, -1), ("MOVE_RIGHT", 1, 1), ("MOVE_LEFT", 1, -1)):
            world.motion.walk_thrust[BUTTONS.index(key), axis] = push * 0.78125 / MOTION_SCALE[1 + axis]
        # the rest head reads the speed: at rest as without it, moving further from "exactly zero"
        world.motion.rest_speed.weight.copy_(-0.3 * torch.eye(3))
        world.motion.rest_speed.bias.fill_(0.3 * math.log(REST_SPEED_FLOOR))
        world.light.falloff.copy_(torch.linspace(1.0, 0.0, len(world.light.falloff)))    # a light that does something
        world.light.response.copy_(torch.linspace(1.5, 0.0, len(world.light.response)))
    return world.eval()


def export_geo_onnx(world: GeoWorld, out: Path) -> dict[str, Path]:
    k = world.cfg.history
    img = torch.zeros(1, 3, FRAME_H, FRAME_W)
    mask = torch.zeros(1, 1, FRAME_H, FRAME_W)
    specs = {
        "observe": (Observe(world), (img, torch.zeros(1, k, N_BUTTONS), torch.zeros(1, k, 4)),
                    ["frame", "actions", "motions"], ["prior", "valid", "weapon", "motion", "depth"]),
        "recall": (Recall(world.light), (torch.full((1, 5, FRAME_H, FRAME_W), 100.0), torch.full((1, FRAME_H, FRAME_W), 100.0),
                                          torch.zeros(1, 4)),
                   ["frame", "depth", "motion"], ["memory", "memory_valid", "shown"]),
        "painter": (world.painter, (img, torch.ones(1), img, mask, img, mask, torch.zeros(1, N_BUTTONS),
                                    torch.zeros(1), img, mask),
                    ["x_tau", "tau", "prior", "valid", "prev", "weapon", "action", "ctx_noise", "memory",
                     "memory_valid"], ["x0"]),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, (module, args, inputs, outputs) in specs.items():
        path = out / f"{role}.onnx"
        tmp = path.with_name(path.name + ".tmp")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=inputs, output_names=outputs,
                              opset_version=OPSET, dynamo=False)
        tmp.replace(path)
        paths[role] = path
    return paths


WARM_START_FILE = "warm_start.json"     # in a run folder: the pack it started from and that pack's training record
EXTRA_FILES = {"atlas": ATLAS_FILE, "map": MAP_FILE}    # optional pack roles: what a run folder may hold


def write_geo_pack(world: GeoWorld, out: Path, world_id: str = "freedoom", title: str = "Freedoom",
                   sampler: dict | None = None, training: dict | None = None, extras: dict | None = None) -> Path:
    """observe/painter ONNX + fp16 safetensors + world.json (design "geometry"), and the
    `extras` files by role: "atlas" (model.play.atlas) and "map" (model.play.worldmap)."""
    world = world.eval().float()
    round_to(world)
    paths = export_geo_onnx(world, out)
    paths["torch"] = out / "weights.safetensors"
    atomic_save({k: v.half() for k, v in world.state_dict().items()}, paths["torch"],
                {"geometry": world.cfg.to_dict()})
    for role, source in (extras or {}).items():
        paths[role] = out / EXTRA_FILES[role]
        copy_whole(source, paths[role])
    meta = {
        "id": world_id, "title": title, "design": "geometry",
        "frame_size": [FRAME_W, FRAME_H], "fps": FPS, "buttons": list(BUTTONS),
        "models": {role: {"file": p.name, "sha256": sha256_file(p)} for role, p in paths.items()},
        "config": {"geometry": world.cfg.to_dict()},
        "sampler": sampler or {"steps": 2, "ctx_noise": 0.0},
        "licence": FREEDOOM_LICENCE,
        "training": training or {},
    }
    write_world_json(out, meta)
    return out
