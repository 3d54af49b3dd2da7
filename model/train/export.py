"""Export: ONNX files for the runtime and a complete world pack.

    python main.py export --checkpoint runs/freedoom --out assets/worlds/freedoom
    python main.py export --random --preset small --out /tmp/pack   # untrained, for tests

The pack's world.json lists every model file with its sha256; the player refuses a
pack whose files do not match.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import torch

from model.nets.checkpoint import round_to, save_world_modules
from model.nets.dynamics import DYNAMICS_PRESETS, Dynamics
from model.nets.tokenizer import Tokenizer, tokenizer_preset
from model.play.errors import UserError, os_reason
from model.play.pack import PACK_FORMAT, sha256_file
from model.play.sampler import DENOISE_STEPS, STEPS_TEXT
from model.play.world import ACTION_DIM, BUTTONS, FPS

OPSET = 18
FREEDOOM_LICENCE = ("Freedoom art (freedoom2.wad, BSD-3-Clause, the Freedoom project) "
                    "rendered by ViZDoom; model weights trained by Reverie on those frames.")


class _Method(torch.nn.Module):
    """Exports `module.<name>` as the graph (the exporter traces `forward`)."""

    def __init__(self, module: torch.nn.Module, name: str):
        super().__init__()
        self.module, self.name = module, name

    def forward(self, *args):
        return getattr(self.module, self.name)(*args)


def export_onnx(tokenizer: Tokenizer, dynamics: Dynamics, out: Path) -> dict[str, Path]:
    """Write encoder/dynamics/decoder ONNX files; returns role -> path."""
    import warnings
    tokenizer.eval()
    dynamics.eval()
    cfg, tcfg = dynamics.cfg, tokenizer.cfg
    h, w = tcfg.latent_hw
    n_ctx = cfg.window * cfg.tokens_per_frame
    ctx = torch.zeros(cfg.depth, 1, cfg.heads, n_ctx, cfg.head_dim)
    ages = torch.zeros(2, cfg.window + 2, dtype=torch.int64)
    specs = {
        "encoder": (_Method(tokenizer, "encode"), (torch.zeros(1, tcfg.frame_h, tcfg.frame_w, 3, dtype=torch.uint8),),
                    ["frames"], ["z"], {"frames": {0: "T"}, "z": {0: "T"}}),
        "decoder": (_Method(tokenizer, "decode"), (torch.zeros(1, tcfg.latent_channels, h, w),),
                    ["z"], ["frame"], {}),
        "dynamics": (_Method(dynamics, "frame_pass"),
                     (torch.zeros(1, 2, tcfg.latent_channels, h, w), torch.zeros(1, 2, tcfg.latent_channels, h, w),
                      torch.zeros(1, 2), torch.zeros(1, 2, ACTION_DIM), ctx, ctx.clone(), ages),
                     ["z", "z_prev", "tau", "action", "ctx_k", "ctx_v", "ages"], ["x0", "new_k", "new_v"],
                     {"z": {1: "F"}, "z_prev": {1: "F"}, "tau": {1: "F"}, "action": {1: "F"},
                      "ages": {0: "F", 1: "K"},
                      "x0": {1: "F"}, "new_k": {3: "FN"}, "new_v": {3: "FN"}}),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, (module, args, inputs, outputs, axes) in specs.items():
        path = out / f"{role}.onnx"
        tmp = path.with_name(path.name + ".tmp")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        tmp.replace(path)
        paths[role] = path
    return paths


def quantize_int8(path: Path) -> None:
    """Dynamic int8 quantization of the matmul weights, in place (a CPU speed/size lever)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = path.with_name(path.stem + ".int8.tmp.onnx")
    quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
    tmp.replace(path)


def write_pack(tokenizer: Tokenizer, dynamics: Dynamics, out: Path, world_id: str = "freedoom",
               title: str = "Freedoom", sampler: dict | None = None, training: dict | None = None,
               int8: bool = False) -> Path:
    """ONNX + fp16 safetensors + world.json. Seeds already in `out/seeds` are kept."""
    round_to(tokenizer)
    round_to(dynamics)
    paths = export_onnx(tokenizer, dynamics, out)
    if int8:
        quantize_int8(paths["dynamics"])
    paths["torch"] = out / "weights.safetensors"
    save_world_modules(tokenizer, dynamics, paths["torch"])
    meta = {
        "id": world_id, "title": title,
        "frame_size": [tokenizer.cfg.frame_w, tokenizer.cfg.frame_h], "fps": FPS,
        "buttons": list(BUTTONS),
        "models": {role: {"file": p.name, "sha256": sha256_file(p)} for role, p in paths.items()},
        "config": {"tokenizer": tokenizer.cfg.to_dict(), "dynamics": dynamics.cfg.to_dict()},
        "sampler": sampler or {"steps": 2, "ctx_noise": 0.0},
        "licence": FREEDOOM_LICENCE,
        "training": training or {},
        "dynamics_onnx": "int8 dynamic quantization" if int8 else "fp32",
    }
    write_world_json(out, meta)
    return out


def write_world_json(out: Path, meta: dict) -> None:
    """world.json, atomically, with the pack format first."""
    tmp = out / "world.json.tmp"
    tmp.write_text(json.dumps({"format": PACK_FORMAT, **meta}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "world.json")


def random_modules(preset: str, seed: int = 0) -> tuple[Tokenizer, Dynamics]:
    """Untrained modules of a named preset (with non-zero output layers so frames vary)."""
    if preset not in DYNAMICS_PRESETS:
        raise UserError(f"unknown preset '{preset}' (choose from {', '.join(DYNAMICS_PRESETS)})")
    from model.train.runs import dynamics_config
    torch.manual_seed(seed)
    tokenizer = Tokenizer(tokenizer_preset(preset))
    dynamics = Dynamics(dynamics_config(preset, tokenizer.cfg))
    with torch.no_grad():
        for p in dynamics.parameters():
            if p.abs().sum() == 0 and p.ndim > 1:
                p.normal_(0, 0.02)
    return tokenizer.eval(), dynamics.eval()


def run(args) -> int:
    p = argparse.ArgumentParser(prog="reverie export")
    p.add_argument("--checkpoint", help="training run folder (with tokenizer/dynamics checkpoints)")
    p.add_argument("--random", action="store_true", help="export untrained weights of --preset")
    p.add_argument("--preset", default="small")
    p.add_argument("--out", required=True, help="world pack folder to write")
    p.add_argument("--steps", type=int, default=2, help="default denoising steps")
    p.add_argument("--ctx-noise", type=float, default=0.0, help="default noise level of context frames")
    p.add_argument("--seeds-from", help="copy scene seeds from this pack folder")
    p.add_argument("--int8", action="store_true", help="quantize the dynamics ONNX to int8 weights")
    a = p.parse_args(args.rest)
    out = Path(a.out)
    # Every argument is checked before anything is loaded or written.
    if a.steps not in DENOISE_STEPS:
        raise UserError(f"--steps must be {STEPS_TEXT}, got {a.steps}")
    if not 0.0 <= a.ctx_noise < 1.0:
        raise UserError(f"--ctx-noise must be in [0, 1), got {a.ctx_noise}")
    if not (a.checkpoint or a.random):
        raise UserError("export needs --checkpoint RUN or --random")
    check_pack_out(out)
    if a.checkpoint and (Path(a.checkpoint) / "geo_depth.safetensors").is_file():
        return _export_geo(a, out)
    if a.random:
        tokenizer, dynamics = random_modules(a.preset)
        training = {"note": "untrained"}
    else:
        from model.train.runs import load_run
        tokenizer, dynamics, training = load_run(Path(a.checkpoint))
    with staged(out) as stage:
        _copy_seeds(a.seeds_from, stage)
        write_pack(tokenizer, dynamics, stage, sampler={"steps": a.steps, "ctx_noise": a.ctx_noise},
                   training=training, int8=a.int8)
    print(f"wrote world pack {out}")
    return 0


def _export_geo(a, out: Path) -> int:
    """A geometry-aware run (depth, motion and painter stages) -> a geometry world pack."""
    from model.train.geo_export import EXTRA_FILES, WARM_START_FILE, load_geo_run, write_geo_pack
    from model.play.atlas import load_atlas
    from model.play.worldmap import load_map
    run = Path(a.checkpoint)
    world, training = load_geo_run(run)
    # model.train.atlas_build and model.train.map_build; each read before anything is written
    extras = {role: run / name for role, name in EXTRA_FILES.items() if (run / name).is_file()}
    for role, load in (("atlas", load_atlas), ("map", load_map)):
        if role in extras:
            training = {**training, f"{role}_views": len(load(extras[role]))}
    if (run / WARM_START_FILE).is_file():          # the pack it went on from, and how that was trained
        training["warm_start"] = json.loads((run / WARM_START_FILE).read_text(encoding="utf-8"))
    with staged(out) as stage:
        _copy_seeds(a.seeds_from, stage)
        write_geo_pack(world, stage, sampler={"steps": a.steps, "ctx_noise": a.ctx_noise}, training=training,
                       extras=extras)
    print(f"wrote world pack {out} (geometry-aware)")
    return 0


def check_pack_out(out: Path) -> None:
    """Refuse an --out that cannot become a world pack (a file, a folder of other things, a
    read-only place) before anything is loaded or written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "world.json").is_file():
        raise UserError(f"--out {out}: holds other files and no world pack; export to a new folder or a pack")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise UserError(f"--out {out}: {existing} is not writable")


MODEL_FILES = ("*.onnx", "*.onnx.data", "*.safetensors", "*.tmp", "atlas.npz", "map.npz")


@contextmanager
def staged(out: Path):
    """A folder beside `out` to build the pack in (a copy of the pack already there: its seeds,
    tours and licence stay), put in place of `out` only when complete. A full disk, an
    error or an interrupt leaves `out` exactly as it was, and nothing else."""
    stage = out.with_name(f".{out.name}.export-tmp")
    shutil.rmtree(stage, ignore_errors=True)                    # left by a killed export
    try:
        if out.is_dir():       # seeds, tours, licence; not the old model files (the design may change)
            shutil.copytree(out, stage, ignore=shutil.ignore_patterns(*MODEL_FILES))
        else:
            stage.mkdir(parents=True)
        yield stage
        _swap_in(stage, out)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise UserError(f"--out {out}: export failed ({os_reason(exc)}); nothing was changed") from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_in(stage: Path, out: Path) -> None:
    if not out.exists():
        os.replace(stage, out)
        return
    old = out.with_name(f".{out.name}.export-old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def _copy_seeds(pack: str | None, out: Path) -> None:
    if pack:
        src = Path(pack) / "seeds"
        if not src.is_dir():
            raise UserError(f"{src}: no seeds folder")
        shutil.copytree(src, out / "seeds", dirs_exist_ok=True)
