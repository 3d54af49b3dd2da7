"""The layer rule, enforced: `model.play` (what ships) imports and runs with torch, vizdoom,
onnx, safetensors and Qt made unimportable, and never loads `model.nets` or `model.train`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from model.play.world import BUTTONS, N_BUTTONS

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "vizdoom", "onnx", "safetensors", "PySide6")

PROBE = """
import importlib, pkgutil, sys

BLOCKED, ACTIONS, OUT = sys.argv[1].split(","), sys.argv[2], sys.argv[3]


class Refuse:
    # First on sys.meta_path: any import of a blocked package fails as if it were not installed.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, Refuse())
import model.play
for info in pkgutil.walk_packages(model.play.__path__, "model.play."):
    importlib.import_module(info.name)
import main
assert main.main(["render", "--world", "freedoom", "--backend", "cpu", "--actions", ACTIONS, "--steps", "3",
                  "--denoise-steps", "1", "--out", OUT + "/o.mp4", "--overlay"]) == 0
assert main.main(["bench", "--world", "freedoom", "--backend", "cpu", "--frames", "3", "--json"]) == 0
layers = ("model.nets", "model.train")
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED or m.startswith(layers)))
"""


def test_play_runs_the_shipped_pack_without_torch_vizdoom_or_qt(tmp_path):
    actions = tmp_path / "a.json"
    actions.write_text(json.dumps({"buttons": list(BUTTONS), "actions": [[1] + [0] * (N_BUTTONS - 1)] * 3}))
    out = subprocess.run([sys.executable, "-c", PROBE, ",".join(BLOCKED), str(actions), str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "o.mp4").stat().st_size > 0
