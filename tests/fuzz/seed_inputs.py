"""Small valid inputs for each fuzz target: where a run starts when its corpus is empty."""
from __future__ import annotations

import io
import json
from fractions import Fraction

import numpy as np

from model.play.session_log import SessionLog
from model.play.world import BUTTONS

SHA = "0" * 64


def _npz(compressed: bool = True, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _image(codec: str, h: int = 12, w: int = 16) -> bytes:
    import av
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.time_base = w, h, Fraction(1, 25)
    ctx.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
    y, x = np.mgrid[:h, :w]
    pixels = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=-1).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format=ctx.pix_fmt)
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def seed_npz() -> list[bytes]:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 8, 10, 3), dtype=np.uint8)
    actions = np.array([[1, 0, 0, 0, 0, 1, 0, 0]], np.uint8)
    return [_npz(frames=frames, actions=actions, name=np.array("hall")),
            _npz(False, frames=frames[:1])]


def actions_npz() -> list[bytes]:
    actions = np.eye(8, dtype=np.uint8)[:3]
    return [_npz(actions=actions), _npz(False, actions=actions.astype(bool))]


def actions_json() -> list[bytes]:
    rows = [[1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 1, 0]]
    return [json.dumps({"buttons": list(BUTTONS), "actions": rows}).encode(),
            json.dumps({"actions": []}).encode()]


def _session(seed: dict, **extra) -> bytes:
    log = SessionLog(world="freedoom", models={"encoder": SHA}, seed=seed, rng_seed=7,
                     sampler={"steps": 2, "ctx_noise": 0.1, "adaptive": False}, backend="cpu",
                     actions=[[0, 1, 0, 0, 0, 0, 0, 0]] * 3, **extra)
    return json.dumps(log.to_json()).encode()


def session_json() -> list[bytes]:
    events = [{"at": 1, "type": "rewind", "to": 0}, {"at": 2, "type": "steps", "value": 3},
              {"at": 3, "type": "reset"}]
    return [_session({"name": "hall"}, events=events, record_from=1),
            _session({"path": "x.seed.npz", "sha256": SHA})]


def world_json() -> list[bytes]:
    dynamics = {"latent_channels": 8, "latent_h": 24, "latent_w": 32, "patch": 4, "width": 128,
                "depth": 4, "heads": 2, "mlp_ratio": 4.0, "window": 5}
    meta = {"format": 1, "id": "tiny", "title": "Tiny", "frame_size": [128, 96], "fps": 25,
            "buttons": list(BUTTONS), "sampler": {"steps": 2, "ctx_noise": 0.0},
            "models": {role: {"file": f"{role}.onnx", "sha256": SHA} for role in ("encoder", "decoder")},
            "config": {"dynamics": dynamics}, "licence": "CC0"}
    return [json.dumps(meta, indent=1).encode()]


SEED_INPUTS = {
    "seed_npz": seed_npz,
    "seed_png": lambda: [_image("png"), _image("png", 96, 128)],
    "seed_jpg": lambda: [_image("mjpeg"), _image("mjpeg", 96, 128)],
    "actions_npz": actions_npz,
    "actions_json": actions_json,
    "session_json": session_json,
    "world_json": world_json,
}
