"""Coverage-guided fuzzing (atheris, libFuzzer) of every loader that takes a user's file.

    python tests/fuzz/fuzz_loaders.py TARGET [--keep-going] [libFuzzer flags]
    e.g. nice -n 10 python tests/fuzz/fuzz_loaders.py actions_json -atheris_runs=100000 -timeout=10

TARGET is one of loader_targets.TARGETS. The run starts from, and adds what it finds to,
tests/fuzz/corpus/TARGET (written with its seed inputs when empty). A finding (an error
that is not UserError, an invalid result, a hang past -timeout, memory past
-rss_limit_mb) stops the run with libFuzzer's crash file; --keep-going instead records
each new kind of Python exception under tests/fuzz/findings/TARGET/ and goes on.
See tests/fuzz/README.md.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys
import tempfile
import traceback
from pathlib import Path

import atheris

TARGET_ENV = "REVERIE_FUZZ_TARGET"      # how libFuzzer's child processes (-merge=1) learn the target


def _target(argv: list[str]) -> str:
    """The target named first on the command line, or, in a child libFuzzer started, the parent's."""
    given = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    return given or os.environ.get(TARGET_ENV, "")


def _instrumented() -> list[str]:
    """The modules coverage is taken from: numpy's Python code (the .npy header) for .npz
    targets, Pillow's (the image decoder) for images; only ours for JSON."""
    kind = _target(sys.argv).rsplit("_", 1)[-1]
    return ["model", "loader_targets", "json", *{"npz": ["numpy"], "png": ["PIL"], "jpg": ["PIL"]}.get(kind, [])]


with atheris.instrument_imports(include=_instrumented()):       # before these modules first load
    import loader_targets
    from seed_inputs import SEED_INPUTS
    if "PIL" in _instrumented():
        with contextlib.suppress(ImportError):                  # Pillow loads its plugins lazily
            import PIL.Image, PIL.ImageOps, PIL.JpegImagePlugin, PIL.PngImagePlugin, PIL.TiffImagePlugin  # noqa: E401
from mutators import json_mutator, npz_mutator                  # not instrumented: not under test

HERE = Path(__file__).resolve().parent
FINDINGS, DICTS = HERE / "findings", HERE / "dicts"
DICT_OF = {"json": "json.dict", "npz": "npz.dict", "png": "image.dict", "jpg": "image.dict"}
MUTATOR_OF = {"json": json_mutator, "npz": npz_mutator}          # images: libFuzzer's byte mutations


def make_input_fn(name: str, folder: Path, keep_going: bool):
    seen: set[str] = set()

    def one_input(data: bytes) -> None:
        try:
            loader_targets.run_target(name, data, folder)
        except Exception as exc:
            if not keep_going:
                raise
            _record(name, data, exc, seen)

    return one_input


def _record(name: str, data: bytes, exc: Exception, seen: set[str]) -> None:
    """One file per kind of finding (exception type and where it was raised)."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    kind = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
    if kind in seen:
        return
    seen.add(kind)
    out = FINDINGS / name
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (out / f"{digest}.input").write_bytes(data)
    (out / f"{digest}.txt").write_text(kind + "\n" + "".join(traceback.format_exception(exc)))
    print(f"FINDING {name}: {kind}: {str(exc)[:200]!r}", file=sys.stderr, flush=True)


def _mutate_bytes(data: bytes, max_size: int) -> bytes:
    return atheris.Mutate(data, max_size)       # looked up per call: Fuzz() swaps in libFuzzer's


def main(argv: list[str]) -> int:
    name, args = _target(argv), argv[1:]
    if args and args[0] == name:
        args = args[1:]
    if name not in loader_targets.TARGETS:
        print(f"usage: fuzz_loaders.py TARGET [--keep-going] [libFuzzer flags]; "
              f"TARGET is one of {', '.join(loader_targets.TARGETS)}", file=sys.stderr)
        return 2
    os.environ[TARGET_ENV] = name
    # libFuzzer runs its children as `argv[0] flags...` through the shell: make that this script.
    self_cmd = " ".join(shlex.quote(a) for a in (sys.executable, str(Path(__file__).resolve())))
    kind = name.rsplit("_", 1)[1]                                   # the file format: json, npz, png, jpg
    flags = [a for a in args if a != "--keep-going"]
    make_mutator = MUTATOR_OF.get(kind)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        atheris.Setup([self_cmd, *libfuzzer_args(name, kind, flags)],
                      make_input_fn(name, Path(tmp), keep_going="--keep-going" in args),
                      custom_mutator=make_mutator(_mutate_bytes) if make_mutator else None)
        atheris.Fuzz()
    return 0


def libfuzzer_args(name: str, kind: str, flags: list[str]) -> list[str]:
    """The flags given, plus this target's dictionary, findings folder and corpus."""
    flags = list(flags)
    if not any(f.startswith("-dict=") for f in flags):
        flags.append(f"-dict={DICTS / DICT_OF[kind]}")
    if not any(f.startswith("-artifact_prefix=") for f in flags):      # crash-*, timeout-*, oom-*
        (FINDINGS / name).mkdir(parents=True, exist_ok=True)
        flags.append(f"-artifact_prefix={FINDINGS / name}/")
    if any(not f.startswith("-") for f in flags):                   # folders given (-merge=1): theirs
        return flags
    corpus = loader_targets.CORPUS / name
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for i, data in enumerate(SEED_INPUTS[name]()):
            (corpus / f"seed-{i}").write_bytes(data)
    return [*flags, str(corpus)]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
