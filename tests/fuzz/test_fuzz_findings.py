"""Each crash the fuzzer (or the review of its targets) found, as the smallest input that
showed it: now refused with one clear line (tests/fuzz/README.md lists them)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from loader_targets import TARGETS, run_target
from seed_inputs import world_json

from model.play import seeds
from model.play.errors import UserError

DEEP = b"[" * 5000 + b"]" * 5000
LONG_NUMBER = b'{"actions": [[' + b"1" * 5000 + b",0,0,0,0,0,0,0]]}"


def _pack(**changes) -> bytes:
    meta = json.loads(world_json()[0])
    meta.update(changes)
    return json.dumps(meta).encode()


FINDINGS = [
    ("actions_json", b'{"actions": [[99999999999999999999,0,0,0,0,0,0,0]]}', "0/1 integers"),
    ("actions_json", b'{"buttons": 5, "actions": []}', "buttons must be"),
    ("actions_json", b'{"buttons": "a\\nb", "actions": []}', "buttons must be"),
    ("actions_json", DEEP, "not valid JSON"),
    ("actions_json", LONG_NUMBER, "not valid JSON"),
    ("session_json", LONG_NUMBER, "not a valid session file"),
    ("world_json", DEEP, "not valid JSON"),
    ("world_json", LONG_NUMBER, "not valid JSON"),
    ("world_json", _pack(sampler={"ctx_noise": "0.1"}), "'sampler'"),
    ("world_json", _pack(sampler=[1, 2]), "'sampler'"),
    ("world_json", _pack(fps="25"), "'fps'"),
    ("world_json", _pack(fps=0), "'fps'"),
    ("world_json", _pack(title=5), "'title'"),
    ("world_json", _pack(models={"enc\noder": 1}), "needs 'file'"),
]


@pytest.mark.parametrize("name, data, expect", FINDINGS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_finding_is_now_one_clear_line(name, data, expect, tmp_path):
    target = TARGETS[name]
    path = tmp_path / target.filename
    path.write_bytes(data)
    with pytest.raises(UserError, match=expect) as refused:
        target.load(path)
    assert "\n" not in str(refused.value)
    run_target(name, data, tmp_path)            # and the fuzzer's own rule holds


def test_a_seed_that_unpacks_to_a_huge_frame_is_refused_before_resizing(tmp_path, monkeypatch):
    """187 KB that unpacked to one 8000x8000 frame took 9 s and 800 MB to resize: an .npz
    frame is now held to the image pixel limit (lowered here, to keep the test small)."""
    monkeypatch.setattr(seeds, "MAX_IMAGE_PIXELS", 100 * 100)
    path = tmp_path / "big.npz"
    np.savez_compressed(path, frames=np.zeros((1, 96, 128, 3), np.uint8))
    with pytest.raises(UserError, match="out of range"):
        seeds.load_seed(path, (96, 128))
    np.savez_compressed(path, frames=np.zeros((1, 75, 100, 3), np.uint8))
    assert seeds.load_seed(path, (96, 128)).frames.shape == (1, 96, 128, 3)
