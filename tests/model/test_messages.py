"""Consistency and messages (issue 14, part 3): the same input means the same in every
format, every message names its file and escapes what it quotes, warnings say what
happened to a seed, and the README's command list is the parser's."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_cli import bad, run_cli

import main
from model.play.errors import UserError, printable
from model.play.pack import load_pack
from model.play.session_log import SessionLog
from model.play.world import BUTTONS, ActionScript

README = Path(__file__).resolve().parents[2] / "README.md"


def render(tiny_pack, actions, out, *extra, seed="alpha"):
    return ["render", "--world", str(tiny_pack), "--seed", str(seed), "--actions", str(actions),
            "--out", str(out), *map(str, extra)]


def frames_of(path):
    with np.load(path, allow_pickle=False) as data:
        return data["frames"]


def test_bool_actions_in_json_are_the_npz_bools_and_the_ints(tiny_pack, tmp_path, capsys):
    rows = np.random.default_rng(3).integers(0, 2, (6, 8)).astype(bool)
    (tmp_path / "ints.json").write_text(json.dumps({"buttons": list(BUTTONS), "actions": rows.astype(int).tolist()}))
    (tmp_path / "bools.json").write_text(json.dumps({"buttons": list(BUTTONS), "actions": rows.tolist()}))
    np.savez(tmp_path / "bools.npz", actions=rows)
    loaded = [ActionScript.load(tmp_path / name).actions for name in ("ints.json", "bools.json", "bools.npz")]
    assert all(a.dtype == np.uint8 and np.array_equal(a, loaded[0]) for a in loaded)
    for name in ("ints.json", "bools.json"):
        code, _, err = run_cli(capsys, *render(tiny_pack, tmp_path / name, tmp_path / f"{name}.npz"))
        assert code == 0, err
    assert np.array_equal(frames_of(tmp_path / "ints.json.npz"), frames_of(tmp_path / "bools.json.npz"))


def test_upper_case_extensions_are_the_lower_case_ones(tiny_pack, tmp_path, capsys):
    (tmp_path / "A.JSON").write_text(json.dumps({"actions": [[1, 0, 0, 0, 0, 0, 0, 0]] * 3}))
    np.savez(tmp_path / "B.npz", actions=np.array([[1, 0, 0, 0, 0, 0, 0, 0]] * 3, np.uint8))
    (tmp_path / "B.npz").rename(tmp_path / "B.NPZ")
    for name in ("A.JSON", "B.NPZ"):
        code, _, err = run_cli(capsys, *render(tiny_pack, tmp_path / name, tmp_path / f"{name}.NPZ"))
        assert code == 0, err
    assert np.array_equal(frames_of(tmp_path / "A.JSON.NPZ"), frames_of(tmp_path / "B.NPZ.NPZ"))


@pytest.mark.parametrize("steps", ["0", "5", "-1"])
def test_denoise_steps_out_of_range_are_refused_not_ignored(tiny_pack, tmp_path, capsys, steps):
    np.savez(tmp_path / "a.npz", actions=np.zeros((2, 8), np.uint8))
    bad(capsys, *render(tiny_pack, tmp_path / "a.npz", tmp_path / "o.npz", "--denoise-steps", steps),
        expect=f"--denoise-steps must be 1..4, got {steps}")
    bad(capsys, "bench", "--world", str(tiny_pack), "--frames", "3", "--denoise-steps", steps,
        expect=f"--denoise-steps must be 1..4, got {steps}")


@pytest.mark.parametrize("sampler, expect", [
    ({"steps": 9}, "sampler: denoising steps must be 1..4, got 9"),
    ({"steps": 0}, "sampler: denoising steps must be 1..4, got 0"),
    ({"ctx_noise": 5.0}, "sampler: context noise must be in [0, 1), got 5.0"),
])
def test_session_and_pack_messages_about_steps_and_noise_name_the_file(tiny_pack, tmp_path, capsys,
                                                                        sampler, expect):
    log = SessionLog(world=str(tiny_pack), models=load_pack(tiny_pack).model_hashes(), seed={"name": "alpha"},
                     rng_seed=1, sampler=sampler, backend="cpu", actions=[[0] * 8] * 2)
    (tmp_path / "s.json").write_text(json.dumps(log.to_json()))
    bad(capsys, "replay", str(tmp_path / "s.json"), "--out", str(tmp_path / "r.npz"), expect=f"s.json: {expect}")
    pack = tmp_path / "pack"
    pack.mkdir()
    meta = json.loads((tiny_pack / "world.json").read_text())
    (pack / "world.json").write_text(json.dumps({**meta, "sampler": sampler}))
    bad(capsys, "bench", "--world", str(pack), "--frames", "2", expect=f"world.json: {expect}")


def test_unprintable_bytes_from_files_are_escaped(tiny_pack, tmp_path, capsys):
    assert printable("a\0b\x1b[2J\nc\u2028é") == "a\\x00b\\x1b[2J\\nc\\u2028é"
    assert str(UserError("x\ty")) == "x\\ty"
    log = SessionLog(world=str(tiny_pack), models=load_pack(tiny_pack).model_hashes(), seed={"name": "alpha"},
                     rng_seed=1, sampler={}, backend="cpu", actions=[[0] * 8] * 2)
    for change, expect in (({"seed": {"path": "a\0b.npz", "sha256": "0"}}, "seed path 'a\\x00b.npz'"),
                           ({"world": "\x1b[2Jgone"}, "unknown world '\\x1b[2Jgone'"),
                           ({"seed": {"name": "x\x1b]0;pwned\x07"}}, "scene seed 'x\\x1b]0;pwned\\x07'")):
        (tmp_path / "s.json").write_text(json.dumps({**log.to_json(), **change}))
        code, _, err = run_cli(capsys, "replay", str(tmp_path / "s.json"), "--out", str(tmp_path / "r.npz"))
        assert code == 2 and expect in err, err
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", err), repr(err)     # nothing raw but the newline
    np.savez(tmp_path / "named.npz", frames=np.zeros((1, 96, 128, 3), np.uint8), name=np.array("n\0\x1bme"))
    code, out, err = run_cli(capsys, "demo", "--world", str(tiny_pack), "--seed", str(tmp_path / "named.npz"),
                             "--frames", "2", "--out", str(tmp_path / "d.mp4"))
    assert code == 0, err
    assert "n\\x00\\x1bme: 2 frames" in out and "\0" not in out


def _png(path: Path, w: int, h: int) -> Path:
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize("w, h, expect", [
    (1, 1, "the seed is 1x1 pixels and is stretched to the world's 128x96 frame: it will look blocky"),
    (5000, 1, "the seed is 5000x1 pixels, cropped to 1x1 for the world's aspect, and is stretched"),
    (1, 5000, "the seed is 1x5000 pixels, cropped to 1x1 for the world's aspect, and is stretched"),
    (100, 96, "the seed is 100x96 pixels, cropped to 100x75"),
])
def test_tiny_seeds_warn_and_still_play(tiny_pack, tmp_path, capsys, w, h, expect):
    np.savez(tmp_path / "a.npz", actions=np.zeros((2, 8), np.uint8))
    seed = _png(tmp_path / "tiny.png", w, h)
    code, _, err = run_cli(capsys, *render(tiny_pack, tmp_path / "a.npz", tmp_path / "o.npz", seed=seed))
    assert code == 0, err
    warning = err.strip().splitlines()[0]
    assert warning.startswith(f"reverie render: warning: {seed}: ") and expect in warning, warning
    assert frames_of(tmp_path / "o.npz").shape == (2, 96, 128, 3)


def test_seeds_the_world_size_or_bigger_do_not_warn(tiny_pack, tmp_path, capsys):
    np.savez(tmp_path / "a.npz", actions=np.zeros((2, 8), np.uint8))
    for w, h in ((128, 96), (1920, 1080), (300, 900)):
        seed = _png(tmp_path / f"s{w}.png", w, h)
        code, _, err = run_cli(capsys, *render(tiny_pack, tmp_path / "a.npz", tmp_path / "o.npz", seed=seed))
        assert code == 0 and "warning" not in err, err


def test_demo_says_how_long_it_will_take_before_it_starts(tiny_pack, tmp_path, capsys):
    code, out, err = run_cli(capsys, "demo", "--world", str(tiny_pack), "--frames", "10",
                             "--out", str(tmp_path / "d.mp4"))
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("demo: "))
    assert re.fullmatch(r"demo: 44 frames \(00:01 of video\) from 2 scenes; about \d\d:\d\d to make here", line), line
    assert out.index(line) < out.index("wrote 44 frames")


def _readme_commands() -> dict[str, str]:
    block = README.read_text(encoding="utf-8").split("## Command line", 1)[1].split("```")[1]
    return {m.group(1): m.group(0) for m in re.finditer(r"^python main\.py (\w+).*$", block, re.MULTILINE)}


def test_the_readme_command_list_is_the_parser():
    """Every command is listed; a flag the parser requires is shown bare, an optional one in [ ]."""
    listed = _readme_commands()
    parser = main.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subcommands) <= set(listed), set(subcommands) - set(listed)
    for name in set(subcommands) - set(main.SELF_PARSING):
        line = listed[name]
        bare = re.sub(r"\[[^\]]*\]", "", line)
        for action in subcommands[name]._actions:
            for flag in (f for f in action.option_strings if f.startswith("--") and f != "--help"):
                shown = re.search(rf"{flag}\b", line) is not None
                if action.required:
                    assert re.search(rf"{flag}\b", bare), f"{name}: {flag} is required, shown optional: {line}"
                elif shown:
                    assert not re.search(rf"{flag}\b", bare), f"{name}: {flag} is optional, shown required: {line}"
