"""Reverie's entry point: `python main.py [command]` (also the `reverie` console script).

Thin on purpose: argparse here, the work in `app/` and `model/`. Nothing runs at import.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

# Missing one of these means the command needs the `train` extra, not that something is broken.
TRAIN_EXTRA = ("torch", "vizdoom", "onnx", "safetensors")

# command -> "module:function" that takes the parsed args and returns an exit code
HANDLERS = {
    "play": "app.player:run",
    "render": "model.play.render:run_render",
    "replay": "model.play.render:run_replay",
    "bench": "model.play.bench:run",
    "seeds": "model.play.seeds:run_list_seeds",
    "demo": "model.play.demo:run",
    "capture": "model.train.capture:run",
    "train": "model.train.trainer:run",
    "eval": "model.train.evaluate:run",
    "export": "model.train.export:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reverie", description="Interactive video you can walk into.")
    sub = parser.add_subparsers(dest="command")

    play = sub.add_parser("play", help="the player (the default)")
    _world_args(play)
    play.add_argument("--record", metavar="OUT.mp4", help="start recording at once")

    render = sub.add_parser("render", help="render frames offline from a scene seed and actions")
    _world_args(render)
    render.add_argument("--actions", required=True, help="actions .npz or .json")
    render.add_argument("--out", required=True, help="OUT.npz or OUT.mp4")
    render.add_argument("--steps", type=int, help="number of frames (default: all actions)")
    render.add_argument("--rng-seed", type=int, default=0)
    _denoise_arg(render)
    _look_args(render)

    replay = sub.add_parser("replay", help="rebuild a recorded session's frames")
    replay.add_argument("session", help="SESSION.json written beside a recording")
    replay.add_argument("--out", required=True, help="OUT.npz or OUT.mp4")
    _look_args(replay)

    demo = sub.add_parser("demo", help="render a guided tour of the world's scenes to one MP4")
    demo.add_argument("--world", default=None, help="world id or pack folder (default: freedoom)")
    demo.add_argument("--seed", default="all", help="scene seed name, a .npz/.png path, or 'all' (default)")
    _backend_arg(demo)
    demo.add_argument("--out", required=True, help="OUT.mp4")
    demo.add_argument("--rng-seed", type=int, default=0)
    demo.add_argument("--frames", type=int, help="at most this many tour frames per scene")
    _look_args(demo, scale=4)

    bench = sub.add_parser("bench", help="measure frames per second and the per-stage split")
    bench.add_argument("--world", default=None)
    bench.add_argument("--frames", type=int, default=1000)
    _backend_arg(bench)
    _denoise_arg(bench)
    bench.add_argument("--json", action="store_true", help="print one JSON object")

    seeds = sub.add_parser("seeds", help="list scene seeds")
    seeds.add_argument("--world", default=None)

    capture = sub.add_parser("capture", help="capture engine trajectories (needs the train extra)")
    capture.add_argument("--out", required=True)
    capture.add_argument("--frames", type=int, required=True)
    capture.add_argument("--maps", default=None, help="comma-separated, e.g. MAP01,MAP02 (default all 32)")
    capture.add_argument("--seed", type=int, default=0)
    capture.add_argument("--workers", type=int, default=1)
    capture.add_argument("--policy", choices=("explorer", "revisit", "random"), default="explorer")
    capture.add_argument("--report", action="store_true", help="also save a contact sheet PNG")

    # These parse their own options (model/train/trainer.py, evaluate.py, export.py).
    for name, text in (("train", "train the tokenizer, the dynamics, then the decoder"),
                       ("eval", "fidelity against the engine"),
                       ("export", "ONNX files and a world pack")):
        sub.add_parser(name, help=text, add_help=False)
    return parser


SELF_PARSING = ("train", "eval", "export")


def _look_args(p: argparse.ArgumentParser, scale: int = 1) -> None:
    p.add_argument("--scale", type=int, default=scale, help=f"MP4 upscale factor 1-8 (default {scale})")
    p.add_argument("--smooth", action="store_true", help="smooth (bilinear) upscaling instead of pixel blocks")
    p.add_argument("--overlay", action="store_true", help="draw the held buttons into the MP4")


def _world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", default=None, help="world id or pack folder (default: freedoom)")
    p.add_argument("--seed", default=None, help="scene seed name, or a .npz/.png/.jpg path")
    _backend_arg(p)


def _backend_arg(p: argparse.ArgumentParser) -> None:
    from model.play.backends import BACKEND_CHOICES
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="auto")


def _denoise_arg(p: argparse.ArgumentParser) -> None:
    from model.play.sampler import STEPS_TEXT
    p.add_argument("--denoise-steps", type=int, help=f"denoising steps per frame ({STEPS_TEXT})")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SELF_PARSING:
        args = argparse.Namespace(command=argv[0], rest=argv[1:])
    else:
        args = build_parser().parse_args(argv or ["play"])
    # The player closes its window on SIGTERM itself (app/signals.py); every other command
    # stops as on Ctrl+C, so its partial files are finalized or removed.
    restore = _interrupt_on_sigterm() if args.command != "play" else None
    try:
        return _run(args)
    finally:
        if restore is not None:
            restore()


def _run(args) -> int:
    command = args.command
    module_name, func_name = HANDLERS[command].split(":")
    from model.play.errors import UserError, os_error_line
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"reverie {command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # The packaged player leaves model.nets and model.train (and torch with them) out.
        name = exc.name or ""
        if name.split(".")[0] in TRAIN_EXTRA or name.startswith(("model.nets", "model.train")):
            print(f"reverie {command}: needs the 'train' extra ({name} is not installed): "
                  "pip install -e '.[train]'", file=sys.stderr)
            return 2
        raise
    except OSError as exc:
        # A disk that fills up or a folder that turns read-only mid-job: one line. Each
        # writer has already removed its half-written file or kept a valid partial one.
        print(f"reverie {command}: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        from model.play.progress import close_all
        close_all()             # end an open progress line, so this message starts a line of its own
        kept = getattr(exc, "kept", None)
        print(f"reverie {command}: interrupted" + (f"; {kept}" if kept else ""), file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)       # 130 for Ctrl+C, 143 for SIGTERM


def _interrupt_on_sigterm():
    """SIGTERM raises Interrupted in this process (not in forked workers); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return None
    from model.play.errors import Interrupted
    pid = os.getpid()

    def handler(signum, _frame):
        if os.getpid() != pid:          # a forked worker inherited this: end as SIGTERM would
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(signum)
    old = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if old is None else old)


if __name__ == "__main__":
    sys.exit(main())
