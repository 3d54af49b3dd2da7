"""Bad and hostile input: every case exits 2 with one line naming the file, never a traceback.

Images, .npz files, session JSON, world packs, actions and backends, each the way a
careless or hostile file would arrive, through the real command line.
"""
from __future__ import annotations

import json
import shutil
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from test_cli import bad

import main
from model.play.pack import sha256_file
from model.play.session_log import SessionLog
from model.play.world import BUTTONS


def refused(capsys, *argv, expect: str) -> str:
    """Exit 2, one line on stderr containing `expect` (paths may be given as Path)."""
    return bad(capsys, *(str(a) for a in argv), expect=expect)


@pytest.fixture
def render_with(tiny_pack, tmp_path):
    actions = tmp_path / "acts.npz"
    np.savez(actions, actions=np.zeros((3, 8), np.uint8))

    def argv(seed="alpha", acts=actions, world=tiny_pack, out=tmp_path / "o.npz"):
        return ["render", "--world", world, "--seed", seed, "--actions", acts, "--out", out]
    return argv


# -- images -----------------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_decompression_bomb_images_are_refused_before_decoding(render_with, tmp_path, capsys):
    # 100000 x 100000 x 3 bytes of zeros compress to almost nothing: 30 GB from a few KB.
    # Decoding it would fail on memory, never end in this message: Pillow refuses it from the header.
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bytes(100_000, 100_000, zlib.compress(b"\0" * 1_000_000, 9)))
    assert bomb.stat().st_size < 5_000
    refused(capsys, *render_with(bomb), expect="bomb.png: image is too large (more than 40,000,000 pixels)")
    # 7000 x 7000 is under Pillow's own default limit (89 million): only ours stops it
    (tmp_path / "big.png").write_bytes(png_bytes(7_000, 7_000, zlib.compress(b"\0" * 1000)))
    refused(capsys, *render_with(tmp_path / "big.png"), expect="big.png: image is too large")
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60_000, 60_000, 1) + b"\x01\x11\x00"
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8" + b"\xff\xe0\x00\x04ab" + sof + b"\xff\xd9")
    refused(capsys, *render_with(tmp_path / "big.jpg"), expect="big.jpg: image is too large")


def real_png(path, h=48, w=64, mode="RGB"):
    from PIL import Image
    pixels = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def test_truncated_corrupt_and_disguised_images(render_with, tmp_path, capsys):
    whole = real_png(tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[:len(whole) // 2])
    line = refused(capsys, *render_with(cut), expect="cut.png: cannot read image (truncated or corrupt")
    assert "avcodec" not in line and "packet" not in line                 # no decoder's internals
    (tmp_path / "header.png").write_bytes(whole[:20])          # cut inside the header
    refused(capsys, *render_with(tmp_path / "header.png"), expect="header.png: cannot read image")
    (tmp_path / "noise.jpg").write_bytes(b"\xff\xd8" + np.random.default_rng(1).bytes(4000))
    refused(capsys, *render_with(tmp_path / "noise.jpg"), expect="noise.jpg: cannot read image")
    # a playlist named .png must never reach another decoder (FFmpeg's could open URLs and files)
    (tmp_path / "list.png").write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    refused(capsys, *render_with(tmp_path / "list.png"), expect="not a PNG or JPEG file")
    from PIL import Image
    Image.new("RGB", (64, 48)).save(tmp_path / "gif.png", format="GIF")     # a real image, another format
    refused(capsys, *render_with(tmp_path / "gif.png"), expect="gif.png: cannot read image (not a PNG or JPEG")
    assert main.main([str(a) for a in render_with(real_png(tmp_path / "fine.png"))]) == 0   # a good one works


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "I;16", "CMYK"])
def test_every_kind_of_png_and_jpeg_loads_as_rgb(tmp_path, mode):
    from PIL import Image

    from model.play.images import read_image
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))            # 48 x 64
    image = Image.fromarray(np.stack([grey] * 3, axis=-1))
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode == "I;16":                                        # 16-bit grey: 257 x the 8-bit value
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path, quality=95)                                # quality: JPEG's only
    rgb = read_image(path)
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - grey[..., None]).max() <= (12 if mode == "CMYK" else 2)


def test_a_rotated_photo_is_turned_upright(tmp_path):
    from PIL import Image

    from model.play.images import read_image
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40] = 255                                        # left half white
    exif = Image.Exif()
    exif[0x0112] = 6                                            # "rotate 90 degrees clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "phone.jpg")
    assert upright.shape == (80, 40, 3)
    assert upright[:40].mean() > 200 and upright[40:].mean() < 50           # the white half is now on top


# -- .npz files -------------------------------------------------------------------------
def npy_header(shape, dtype="|u1") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_npz_bombs_are_refused_before_allocating(render_with, tmp_path, capsys):
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:     # claims 40000 frames: 1.5 GB
        z.writestr("frames.npy", npy_header((40_000, 96, 128, 3)) + b"\0" * 1_000_000)
    assert bomb.stat().st_size < 10_000
    tracemalloc.start()
    try:
        refused(capsys, *render_with(bomb), expect="bomb.npz: arrays would unpack to 1.4 GiB")
        assert tracemalloc.get_traced_memory()[1] < 20 * 2 ** 20       # numpy reports its allocations here
    finally:
        tracemalloc.stop()
    many = tmp_path / "many.npz"
    np.savez(many, **{f"a{i}": np.zeros(1, np.uint8) for i in range(100)})
    refused(capsys, *render_with(many), expect="many.npz: too many arrays")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    refused(capsys, *render_with(tmp_path / "junk.npz"), expect="junk.npz: not a valid .npz")


@pytest.mark.parametrize("arrays, expect", [
    ({"actions": np.array([{"x": 1}] * 3, dtype=object)}, "pickled objects"),
    ({"actions": np.zeros((3, 8), np.float32)}, "must be integers 0/1"),
    ({"actions": np.full((3, 8), 2, np.uint8)}, "must be 0 or 1"),
    ({"actions": np.zeros((3, 8, 1), np.uint8)}, "actions must have shape [N, 8]"),
    ({"actions": np.zeros((3, 7), np.uint8)}, "actions must have shape [N, 8]"),
    ({"moves": np.zeros((3, 8), np.uint8)}, "no 'actions' array"),
])
def test_bad_actions_npz(render_with, tmp_path, capsys, arrays, expect):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    refused(capsys, *render_with(acts=path), expect=expect)


@pytest.mark.parametrize("payload, expect", [
    ({"buttons": list(BUTTONS), "actions": [[0] * 7]}, "actions must have shape [N, 8]"),
    ({"buttons": list(BUTTONS), "actions": [[0] * 8, [0] * 9]}, "every action must have 8 values"),
    ({"buttons": list(BUTTONS), "actions": [[1.0] * 8]}, "lists of 0/1 integers"),
    ({"buttons": list(BUTTONS), "actions": [[2] * 8]}, "lists of 0/1 integers"),
    ({"buttons": list(BUTTONS), "actions": "[[0,0,0,0,0,0,0,0]]"}, "lists of 0/1 integers"),
    ([[0] * 8], 'expected an object with "buttons" and "actions"'),
])
def test_bad_actions_json(render_with, tmp_path, capsys, payload, expect):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    refused(capsys, *render_with(acts=path), expect=expect)


def test_seed_npz_with_bad_shapes(render_with, tmp_path, capsys):
    for name, arrays, expect in (
        ("tiny.npz", {"frames": np.zeros((1, 4, 4, 3), np.uint8)}, "is out of range"),
        ("gray.npz", {"frames": np.zeros((1, 96, 128), np.uint8)}, "'frames' must be uint8 [T,H,W,3]"),
        ("named.npz", {"frames": np.zeros((1, 96, 128, 3), np.uint8), "name": np.zeros(3)}, "'name' must be a string"),
    ):
        np.savez(tmp_path / name, **arrays)
        refused(capsys, *render_with(tmp_path / name), expect=expect)


# -- session JSON -----------------------------------------------------------------------
@pytest.fixture
def session_file(tiny_pack, tmp_path):
    """write(**changes) -> a session file for the tiny pack, with fields replaced or removed (None)."""
    from model.play.pack import load_pack

    def write(name="s.json", **changes):
        data = SessionLog(world=str(tiny_pack), models=load_pack(tiny_pack).model_hashes(), seed={"name": "alpha"},
                          rng_seed=7, sampler={"steps": 2}, backend="cpu", actions=[[1, 0, 0, 0, 0, 0, 0, 0]] * 4,
                          events=[{"at": 2, "type": "steps", "value": 1}]).to_json()
        data.update(changes)
        data = {k: v for k, v in data.items() if v is not None}
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path
    return write


def replay(path, tmp_path):
    return ["replay", path, "--out", tmp_path / "r.npz"]


def test_a_good_session_replays(session_file, tmp_path, capsys):
    assert main.main([str(a) for a in replay(session_file(), tmp_path)]) == 0
    with np.load(tmp_path / "r.npz") as data:
        assert data["frames"].shape == (4, 96, 128, 3)


@pytest.mark.parametrize("changes, expect", [
    ({"format": "something-else"}, "not a session file"),
    ({"version": 99}, "unsupported session version 99"),
    ({"actions": "[[0,0,0,0,0,0,0,0]]"}, "'actions' missing or not a list"),
    ({"models": None}, "'models' missing or not a dict"),
    ({"rng_seed": "7"}, "'rng_seed' must be a non-negative integer"),
    ({"rng_seed": -1}, "'rng_seed' must be a non-negative integer"),
    ({"rng_seed": 2 ** 70}, "'rng_seed' must be a non-negative integer"),
    ({"models": {"encoder": 5}}, "'models' must map names to sha256 strings"),
    ({"actions": [[0] * 9]}, "every action must be a list of 8 values 0 or 1"),
    ({"actions": [[0, 0, 0, 0, 0, 0, 0, 2]]}, "every action must be a list of 8 values 0 or 1"),
    ({"actions": [[True] * 8]}, "every action must be a list of 8 values 0 or 1"),
    ({"events": [{"at": 99, "type": "reset"}]}, "an event's 'at' must be an index"),
    ({"events": [{"at": 1, "type": "exec", "code": "import os"}]}, "events must be objects with a type"),
    ({"events": [{"at": 1, "type": "steps", "value": 9}]}, "a steps event needs a 'value' of 1..4"),
    ({"record_from": 10}, "'record_from' must be an index into 'actions'"),
    ({"sampler": {"steps": "2"}}, "sampler 'steps' has the wrong type (str)"),
    ({"sampler": {"steps": 9}}, "denoising steps must be 1..4, got 9"),
    ({"sampler": {"ctx_noise": float("nan")}}, "context noise must be in [0, 1)"),
    ({"backend": "rocm"}, "unknown backend 'rocm'"),
    ({"backend": "cuda"}, "backend 'cuda' is not available"),
    ({"world": "nowhere"}, "unknown world 'nowhere'"),
    ({"world": "/etc"}, "unknown world '/etc'"),
    ({"seed": {"name": "gamma"}}, "scene seed 'gamma' is not in world 'tinyworld'"),
    ({"seed": {"name": "alpha.npz"}}, "scene seed 'alpha.npz' is not in world"),
])
def test_hostile_session_fields(session_file, tmp_path, capsys, changes, expect):
    refused(capsys, *replay(session_file(**changes), tmp_path), expect=expect)


@pytest.mark.parametrize("seed_path", ["../alpha.npz", "/etc/passwd", "sub/alpha.npz", "..\\alpha.npz",
                                       "C:alpha.npz", "..", ""])
def test_seed_paths_cannot_leave_the_recordings_folder(session_file, tmp_path, capsys, seed_path):
    path = session_file(seed={"path": seed_path, "sha256": "0" * 64})
    refused(capsys, *replay(path, tmp_path), expect="must be a file beside the session file")


def test_a_seed_link_out_of_the_folder_and_a_changed_seed(session_file, tiny_pack, tmp_path, capsys):
    (tmp_path / "link.npz").symlink_to(tiny_pack / "seeds" / "alpha.npz")
    path = session_file(seed={"path": "link.npz", "sha256": sha256_file(tiny_pack / "seeds" / "alpha.npz")})
    refused(capsys, *replay(path, tmp_path), expect="link.npz: the session's scene seed is missing")
    shutil.copyfile(tiny_pack / "seeds" / "beta.npz", tmp_path / "copy.npz")
    path = session_file(seed={"path": "copy.npz", "sha256": sha256_file(tiny_pack / "seeds" / "alpha.npz")})
    refused(capsys, *replay(path, tmp_path), expect="copy.npz: scene seed differs from the one recorded")


def test_deeply_nested_huge_and_broken_session_files(session_file, tmp_path, capsys, monkeypatch):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    refused(capsys, *replay(deep, tmp_path), expect="deep.json: not a valid session file")
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:                     # sparse: 65 MB that cost nothing to make
        f.truncate(65 * 2 ** 20)
    refused(capsys, *replay(huge, tmp_path), expect="huge.json: session file is too large")
    monkeypatch.setattr("model.play.session_log.MAX_ACTIONS", 3)
    refused(capsys, *replay(session_file(), tmp_path), expect="too many actions or events")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    refused(capsys, *replay(tmp_path / "bin.json", tmp_path), expect="bin.json: not a valid session file")
    refused(capsys, *replay(tmp_path / "absent.json", tmp_path), expect="absent.json: session file not found")


# -- world packs, worlds, backends -------------------------------------------------------
@pytest.fixture
def pack_copy(tiny_pack, tmp_path):
    return shutil.copytree(tiny_pack, tmp_path / "pack")


def test_replay_refuses_a_different_or_tampered_model(session_file, pack_copy, tmp_path, capsys):
    meta = json.loads((pack_copy / "world.json").read_text())
    path = session_file(world=str(pack_copy))
    assert main.main([str(a) for a in replay(path, tmp_path)]) == 0
    capsys.readouterr()
    (pack_copy / "dynamics.onnx").write_bytes((pack_copy / "dynamics.onnx").read_bytes()[:-1] + b"\0")
    refused(capsys, *replay(path, tmp_path), expect="dynamics.onnx: sha256 does not match world.json")
    meta["models"]["dynamics"]["sha256"] = sha256_file(pack_copy / "dynamics.onnx")   # re-signed: a new model
    (pack_copy / "world.json").write_text(json.dumps(meta))
    refused(capsys, *replay(path, tmp_path), expect="the world's model files differ from the session's")
    (pack_copy / "encoder.onnx").unlink()
    refused(capsys, *render_argv(pack_copy, tmp_path), expect="encoder.onnx: model file missing")


def render_argv(pack, tmp_path):
    actions = tmp_path / "a.json"
    actions.write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[0] * 8] * 2}))
    return ["render", "--world", pack, "--seed", "alpha", "--actions", actions, "--out", tmp_path / "o.npz"]


@pytest.mark.parametrize("change, expect", [
    (lambda m: m["models"]["decoder"].update(file="../../outside.onnx"), "file must stay inside the pack"),
    (lambda m: m.update(frame_size=["128", 96]), "'frame_size' must be [width, height]"),
    (lambda m: m.update(frame_size=[10 ** 9, 96]), "'frame_size' must be [width, height]"),
    (lambda m: m["config"].pop("dynamics"), "'config.dynamics' needs positive integers"),
    (lambda m: m["config"]["dynamics"].update(window="16"), "'config.dynamics' needs positive integers"),
    (lambda m: m.update(buttons=["JUMP"] * 8), "buttons must be"),
    (lambda m: m.update(models=[]), "'models' missing or not a dict"),
])
def test_hostile_world_json(pack_copy, tmp_path, capsys, change, expect):
    meta = json.loads((pack_copy / "world.json").read_text())
    change(meta)
    (pack_copy / "world.json").write_text(json.dumps(meta))
    refused(capsys, *render_argv(pack_copy, tmp_path), expect=expect)


def test_unknown_worlds_everywhere(tmp_path, capsys):
    refused(capsys, *render_argv("atlantis", tmp_path), expect="unknown world 'atlantis'")
    refused(capsys, "demo", "--world", "atlantis", "--out", tmp_path / "d.mp4", expect="unknown world 'atlantis'")
    refused(capsys, "seeds", "--world", "atlantis", expect="unknown world 'atlantis'")


def test_cuda_missing_or_failing_is_one_line(tiny_pack, tmp_path, capsys, monkeypatch):
    import model.play.backends as backends
    from model.nets.torch_backend import TorchBackend
    monkeypatch.setattr(backends, "_ort_cuda", lambda: False)
    refused(capsys, *render_argv(tiny_pack, tmp_path), "--backend", "cuda", expect="backend 'cuda' is not available")

    def broken_gpu(self, pack, device="cuda"):
        raise RuntimeError("CUDA error: no CUDA-capable device is detected\nCUDA kernel errors might be ...")
    monkeypatch.setattr(backends, "_torch_cuda", lambda: True)        # a driver that says yes, then fails
    monkeypatch.setattr(TorchBackend, "__init__", broken_gpu)
    refused(capsys, *render_argv(tiny_pack, tmp_path), "--backend", "cuda",
            expect="backend 'cuda' failed to start (CUDA error: no CUDA-capable device is detected)")


def test_a_pack_from_another_version_is_refused_not_run(pack_copy, tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper
    z = helper.make_tensor_value_info("latent", TensorProto.FLOAT, None)
    y = helper.make_tensor_value_info("frame", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Identity", ["latent"], ["frame"])], "old", [z], [y])
    onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]),
              pack_copy / "decoder.onnx")
    meta = json.loads((pack_copy / "world.json").read_text())
    meta["models"]["decoder"]["sha256"] = sha256_file(pack_copy / "decoder.onnx")
    (pack_copy / "world.json").write_text(json.dumps(meta))
    refused(capsys, *render_argv(pack_copy, tmp_path),
            expect="decoder.onnx: the model's inputs ['latent'] are not the ['z'] this version runs")


def test_auto_backend_goes_on_to_the_cpu_when_the_gpu_fails(tiny_pack, monkeypatch):
    import model.play.backends as backends
    from model.nets.torch_backend import TorchBackend
    from model.play.pack import load_pack

    def broken_gpu(self, pack, device="cuda"):
        raise RuntimeError("CUDA error: initialization error")
    monkeypatch.setattr(backends, "_torch_cuda", lambda: True)
    monkeypatch.setattr(backends, "_ort_cuda", lambda: False)
    monkeypatch.setattr(TorchBackend, "__init__", broken_gpu)
    assert backends.open_backend(load_pack(tiny_pack), "auto").name == "cpu"
