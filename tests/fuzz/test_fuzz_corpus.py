"""Every input the fuzzer kept (tests/fuzz/corpus/<target>/) through its loader, on every
run: each still loads to a valid object or is refused with one clear line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from loader_targets import CORPUS, TARGETS, run_target
from mutators import json_mutator, npz_mutator
from seed_inputs import SEED_INPUTS

HARNESS = Path(__file__).resolve().parent / "fuzz_loaders.py"


# numpy and Pillow warn of odd headers ("created on Python 2", "Invalid APNG"): the rule is
# about what a loader returns or raises.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_corpus_replays_cleanly(name, tmp_path):
    inputs = sorted((CORPUS / name).glob("*"))
    assert inputs, f"no corpus for {name}: run tests/fuzz/fuzz_loaders.py {name}"
    for path in inputs:
        try:
            run_target(name, path.read_bytes(), tmp_path)
        except Exception as exc:
            raise AssertionError(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}") from exc


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_seed_inputs_load(name, tmp_path):
    """The fuzzer's starting points are valid files, so it starts from deep inside each format."""
    target = TARGETS[name]
    for data in SEED_INPUTS[name]():
        path = tmp_path / target.filename
        path.write_bytes(data)
        target.check(target.load(path), path)


@pytest.mark.parametrize("name", ["actions_json", "session_json", "world_json", "actions_npz", "seed_npz"])
def test_the_structure_aware_mutators_keep_making_inputs(name):
    """The fuzzer's mutators run outside pytest: a bug in one ends a campaign, so try them here."""
    make = json_mutator if name.endswith("json") else npz_mutator
    mutate = make(lambda data, max_size: data[:max_size])        # libFuzzer's own mutations: left out
    for data in SEED_INPUTS[name]():
        for seed in range(150):
            data = mutate(data, 8192, seed)
            assert isinstance(data, bytes) and len(data) <= 8192


def test_the_harness_runs(tmp_path):
    """A short real run, into a scratch corpus: the harness starts, fuzzes and ends cleanly."""
    pytest.importorskip("atheris")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(SEED_INPUTS["actions_json"]()[0])
    run = subprocess.run([sys.executable, str(HARNESS), "actions_json", "-atheris_runs=300",
                          f"-artifact_prefix={tmp_path}/", str(tmp_path / "in")],
                         capture_output=True, text=True, timeout=120)
    assert "Done 300 in" in run.stderr, run.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))
    usage = subprocess.run([sys.executable, str(HARNESS), "no_such_target"], capture_output=True, text=True)
    assert usage.returncode == 2 and "TARGET is one of" in usage.stderr
