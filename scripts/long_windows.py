"""Sharpness over a long rollout from several held-out starts, in 5-second windows.

    python scripts/long_windows.py --world freedoom --out reports/long-windows [--starts 3] [--steps 1500]

`eval --long` makes one 5-minute rollout from one start, and a closed loop moves that one
figure a lot. This runs the same explorer from `--starts` held-out starts of data/eval-seen
(the engine plays, the model gets its 16 frames and then the explorer's actions) and writes,
per start, the model's sharpness over the engine's in each 5-second window, the painted and
memory shares, and a contact sheet (engine above, model below, a frame every 2 s).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.play.runtime import open_world          # noqa: E402
from model.play.seeds import SceneSeed             # noqa: E402
from model.train.dataset import tile, write_png    # noqa: E402
from model.train.eval_engine import CONTEXT, held_out_starts   # noqa: E402
from model.train.eval_long import explore_in_engine              # noqa: E402
from model.train.metrics import sharpness          # noqa: E402

WINDOW = 125          # steps: 5 s
SHEET_EVERY = 50      # steps: 2 s


def one_start(session, start, steps: int, rng_seed: int, sheet_path: Path) -> dict:
    real = explore_in_engine(start, steps, rng_seed, SHEET_EVERY)
    session.reset(SceneSeed("long", real["seed"], start.actions[-(CONTEXT - 1):].reshape(-1, 8)), rng_seed)
    sharp, painted, memory, mapped, sheet = [], [], [], [], [session.frame]
    located_at = 0 if getattr(session, "located", None) is not None else None
    for i, action in enumerate(real["actions"]):
        frame = session.step(action)
        mapped.append(getattr(session, "map_share", 0.0))
        if located_at is None and getattr(session, "located", None) is not None:
            located_at = i + 1
        sharp.append(sharpness(frame))
        painted.append(session.painted_share)
        memory.append(session.memory_share)
        if (i + 1) % SHEET_EVERY == 0:
            sheet.append(frame)
    k = min(len(sheet), len(real["sheet"]), 24)
    write_png(sheet_path, tile(real["sheet"][:k] + sheet[:k], k))
    sharp, ends = np.array(sharp), range(WINDOW, steps + 1, WINDOW)
    return {"map": start.map_name,
            "ratio_5s": [round(float(sharp[e - WINDOW:e].mean() / real["sharp"][e - WINDOW:e].mean()), 3) for e in ends],
            "painted_5s": [round(float(np.mean(painted[e - WINDOW:e])), 3) for e in ends],
            "memory_5s": [round(float(np.mean(memory[e - WINDOW:e])), 3) for e in ends],
            "map_5s": [round(float(np.mean(mapped[e - WINDOW:e])), 3) for e in ends], "located_at": located_at}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", default=None)
    p.add_argument("--data", default="data/eval-seen")
    p.add_argument("--out", required=True)
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=2)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    session = open_world(a.world).session(backend="cpu")
    rows = [one_start(session, start, a.steps, n, out / f"sheet{n}.png")
            for n, start in enumerate(held_out_starts([Path(a.data)], a.starts, a.seed))]
    ratios = [r for row in rows for r in row["ratio_5s"]]
    summary = {"windows": len(ratios), "at_least_0.6": int(sum(r >= 0.6 for r in ratios)),
               "median": round(float(np.median(ratios)), 3), "starts": rows}
    (out / "windows.json").write_text(json.dumps(summary, indent=1))
    print(f"{summary['at_least_0.6']} of {summary['windows']} windows at >= 0.6 of the engine's sharpness "
          f"(median {summary['median']}): {out / 'windows.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
