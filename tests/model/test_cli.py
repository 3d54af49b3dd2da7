"""render / bench / replay / seeds from the command line, and their bad input."""
import json
import shutil

import numpy as np
import pytest

import main
from model.play.video import read_video


def run_cli(capsys, *argv):
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bad(capsys, *argv, expect):
    code, out, err = run_cli(capsys, *argv)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expect in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def actions_npz(tmp_path):
    path = tmp_path / "acts.npz"
    np.savez(path, actions=np.random.default_rng(0).integers(0, 2, (12, 8)).astype(np.uint8))
    return path


def test_render_npz_deterministic_and_mp4(tiny_pack, tmp_path, actions_npz, capsys):
    outs = []
    for name in ("a.npz", "b.npz"):
        code, _, err = run_cli(capsys, "render", "--world", str(tiny_pack), "--seed", "alpha",
                               "--actions", str(actions_npz), "--out", str(tmp_path / name), "--rng-seed", "3")
        assert code == 0, err
        with np.load(tmp_path / name, allow_pickle=False) as data:
            outs.append(data["frames"])
    assert outs[0].shape == (12, 96, 128, 3) and outs[0].dtype == np.uint8
    assert np.array_equal(outs[0], outs[1])
    code, _, err = run_cli(capsys, "render", "--world", str(tiny_pack), "--seed", "alpha", "--actions",
                           str(actions_npz), "--out", str(tmp_path / "c.mp4"), "--steps", "20", "--scale", "2")
    assert code == 0, err
    video = read_video(tmp_path / "c.mp4")
    assert video.shape == (20, 192, 256, 3)


def test_render_json_actions(tiny_pack, tmp_path, capsys):
    from model.play.world import BUTTONS
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[1, 0, 0, 0, 0, 0, 0, 0]] * 3}))
    code, _, err = run_cli(capsys, "render", "--world", str(tiny_pack), "--actions", str(path),
                           "--out", str(tmp_path / "o.npz"))
    assert code == 0, err


def test_bench_json(tiny_pack, capsys):
    code, out, err = run_cli(capsys, "bench", "--world", str(tiny_pack), "--frames", "30", "--json",
                             "--backend", "cpu")
    assert code == 0, err
    result = json.loads(out)
    assert result["backend"] == "cpu" and result["frames"] == 30
    assert result["fps"] > 0 and result["p99_step_ms"] >= result["p50_step_ms"] > 0
    assert set(result["stages_ms"]) == {"dynamics", "decode", "geometry", "other"}
    assert result["stages_ms"]["geometry"] == 0 and result["memory_keyframes"] is None


def test_bench_json_of_a_geometry_world(geo_pack, capsys):
    code, out, err = run_cli(capsys, "bench", "--world", str(geo_pack), "--frames", "30", "--json",
                             "--backend", "cpu")
    assert code == 0, err
    result = json.loads(out)
    stages = result["stages_ms"]
    assert stages["decode"] == 0 and stages["geometry"] > 0 and stages["dynamics"] > 0
    assert result["memory_keyframes"] >= 1 and len(result["pass_ms"]) == 2


def test_seeds_lists(tiny_pack, capsys):
    code, out, _ = run_cli(capsys, "seeds", "--world", str(tiny_pack))
    assert code == 0 and "alpha" in out and "beta" in out


@pytest.fixture
def pack_copy(tiny_pack, tmp_path):
    dst = tmp_path / "pack"
    shutil.copytree(tiny_pack, dst)
    return dst


def test_bad_model_files(pack_copy, tmp_path, actions_npz, capsys):
    render = ["render", "--world", str(pack_copy), "--actions", str(actions_npz), "--out", str(tmp_path / "o.npz")]
    (pack_copy / "decoder.onnx").write_bytes(b"not a model")
    bad(capsys, *render, expect="decoder.onnx: sha256 does not match")
    (pack_copy / "decoder.onnx").unlink()
    bad(capsys, *render, expect="decoder.onnx: model file missing")
    # a corrupt file whose sha256 was (re)written to match: ONNX Runtime refuses it
    meta = json.loads((pack_copy / "world.json").read_text())
    from model.play.pack import sha256_file
    (pack_copy / "decoder.onnx").write_bytes(b"garbage" * 100)
    meta["models"]["decoder"]["sha256"] = sha256_file(pack_copy / "decoder.onnx")
    (pack_copy / "world.json").write_text(json.dumps(meta))
    bad(capsys, *render, expect="decoder.onnx: cannot load model")
    (pack_copy / "world.json").write_text("{not json")
    bad(capsys, *render, expect="world.json: not valid JSON")
    bad(capsys, "bench", "--world", "nowhere", "--frames", "5", expect="unknown world 'nowhere'")


def test_bad_seeds(tiny_pack, tmp_path, actions_npz, capsys):
    def render(seed):
        return ["render", "--world", str(tiny_pack), "--seed", str(seed), "--actions", str(actions_npz),
                "--out", str(tmp_path / "o.npz")]
    p = tmp_path / "float.npz"
    np.savez(p, frames=np.zeros((2, 96, 128, 3), np.float32))
    bad(capsys, *render(p), expect="'frames' must be uint8 [T,H,W,3]")
    p = tmp_path / "shape.npz"
    np.savez(p, frames=np.zeros((96, 128, 3), np.uint8))
    bad(capsys, *render(p), expect="'frames' must be uint8 [T,H,W,3]")
    p = tmp_path / "pickled.npz"
    np.savez(p, frames=np.array([{"evil": 1}], dtype=object))
    bad(capsys, *render(p), expect="pickled objects")
    p = tmp_path / "acts.npz"
    np.savez(p, frames=np.zeros((3, 96, 128, 3), np.uint8), actions=np.zeros((3, 8), np.uint8))
    bad(capsys, *render(p), expect="'actions' must be [T-1, 8]")
    p = tmp_path / "broken.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    bad(capsys, *render(p), expect="broken.png: cannot read image")
    bad(capsys, *render("nosuchseed"), expect="unknown scene seed 'nosuchseed'")


def test_bad_actions_and_backend(tiny_pack, tmp_path, capsys):
    out = str(tmp_path / "o.npz")
    wide = tmp_path / "wide.npz"
    np.savez(wide, actions=np.zeros((4, 9), np.uint8))
    bad(capsys, "render", "--world", str(tiny_pack), "--actions", str(wide), "--out", out,
        expect="actions must have shape [N, 8]")
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"buttons": ["JUMP"] * 8, "actions": [[0] * 8]}))
    bad(capsys, "render", "--world", str(tiny_pack), "--actions", str(names), "--out", out,
        expect="buttons must be")
    np.savez(tmp_path / "ok.npz", actions=np.zeros((4, 8), np.uint8))
    bad(capsys, "render", "--world", str(tiny_pack), "--actions", str(tmp_path / "ok.npz"), "--out",
        str(tmp_path / "o.avi"), expect="output must end in .npz or .mp4")
    bad(capsys, "bench", "--world", str(tiny_pack), "--backend", "cuda", "--frames", "3",
        expect="backend 'cuda' is not available")
