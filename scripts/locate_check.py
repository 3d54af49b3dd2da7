"""Where the session locates its seed on the map, against where the engine's camera really is
(a diagnostic of `WorldMap.locate`, not a figure of the world).

    python scripts/locate_check.py --data data/cal-seen --starts 24 --seeds 0 1 2
    python scripts/locate_check.py --data data/eval-seen --windows 24       # the eval's PSNR windows

Starts are random frames of the held-out episodes (`held_out_starts`), replayed in the engine
for its pose; `--windows` takes the eval's own windows instead (their poses are captured). A
locate is counted right when it names the start's map and lands within RIGHT_UNITS of the
engine's camera.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from model.play.runtime import open_world
from model.play.seeds import SceneSeed
from model.train.capture import MAPS
from model.train.eval_engine import CONTEXT, Engine, held_out_starts
from model.train.evaluate import HORIZONS, spread_windows
from model.train.geodata import load_geo

RIGHT_UNITS = 48.0


def verdict(located, map_name: str, pose: np.ndarray) -> dict | None:
    if located is None:
        return None
    off = float(np.hypot(*(located.pose[:2] - pose[:2])))
    return {"map": MAPS[located.map], "start_map": map_name, "units_off": round(off, 1),
            "right": MAPS[located.map] == map_name and off <= RIGHT_UNITS}


def engine_starts(session, data, count: int, seed: int) -> list:
    engine = Engine()
    out = []
    try:
        for n, start in enumerate(held_out_starts(data, count, seed)):
            frames = engine.goto(start)
            session.reset(SceneSeed("start", frames, start.actions[-(CONTEXT - 1):]), n)
            out.append(verdict(session.located, start.map_name, engine.pose()))
    finally:
        engine.close()
    return out


def eval_windows(session, data, count: int) -> list:
    geo = load_geo(data)
    out = []
    for n, s in enumerate(spread_windows(geo.base, count, CONTEXT + max(HORIZONS), 0)):
        last = s + CONTEXT - 1
        session.reset(SceneSeed("window", geo.base.frames[s:last + 1], geo.base.actions[s:last]), n)
        out.append(verdict(session.located, MAPS[int(geo.base.map_index[last])], geo.pose[last]))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--world", default=None)
    p.add_argument("--starts", type=int, default=24)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--windows", type=int, default=0, help="the eval's windows instead of engine starts")
    a = p.parse_args()
    session = open_world(a.world).session(backend="cpu")
    runs = ([eval_windows(session, a.data, a.windows)] if a.windows
            else [engine_starts(session, a.data, a.starts, seed) for seed in a.seeds])
    found = [v for run in runs for v in run if v is not None]
    print(json.dumps({"starts": sum(map(len, runs)), "located": len(found),
                      "right": sum(v["right"] for v in found), "wrong_map": sum(v["map"] != v["start_map"] for v in found),
                      "located_runs": [[i, v] for run in runs for i, v in enumerate(run) if v is not None]}))


if __name__ == "__main__":
    main()
