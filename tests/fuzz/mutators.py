"""Structure-aware mutators, so the fuzzer gets past the parsers into the checks after them.

Byte flips rarely keep JSON valid, and never keep an .npz's CRCs right: these decode the
input, change one thing in its structure (a value, a key, a dtype, a shape), and encode
it again. Half the time, and for input that does not decode, libFuzzer's own byte
mutations run instead, so the parsers themselves are fuzzed too.
"""
from __future__ import annotations

import copy
import io
import json
import random
import tempfile

import numpy as np

from model.play.errors import UserError
from model.play.world import load_npz

ODD_VALUES = [0, 1, -1, 2, 4, 5, 255, 256, 2 ** 31, 2 ** 63, 2 ** 64, -2 ** 63, 1e308, -0.0, 0.5,
              float("nan"), float("inf"), True, False, None, "", "x", "\n", "\0", "\x1b[2J",
              "../x", "a/b", "C:x", "\ud800", "é" * 300, [], {}, [0] * 8, [1] * 8, [[0] * 8], [[[[[[]]]]]]]
KEYS = ["actions", "buttons", "format", "version", "world", "models", "seed", "name", "path",
        "sha256", "rng_seed", "sampler", "steps", "ctx_noise", "adaptive", "backend", "events",
        "at", "type", "to", "value", "record_from", "id", "title", "frame_size", "fps", "file",
        "config", "dynamics", "window", "heads", "depth", "encoder"]
NPZ_KEYS = ["frames", "actions", "name", "arr_0", "frames.npy", "x/y"]
DTYPES = [np.dtype(d) for d in ("|u1", "|b1", "<i8", ">u2", "<f4", "<c8", "<U4", "|S3", "|V8", "<m8[s]")]
DTYPES.append(np.dtype([("a", "|u1")]))


def _odd(rng: random.Random):
    return copy.deepcopy(rng.choice(ODD_VALUES))    # a fresh copy: the input is mutated in place later


def _nodes(value, path=()):
    """Every (path, node) in a JSON value, the root included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _nodes(child, (*path, key))


def _set(root, path, new):
    if not path:
        return new
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return root


def mutate_json(value, rng: random.Random):
    path, node = rng.choice(list(_nodes(value)))
    op = rng.randrange(5)
    if op == 0 and isinstance(node, dict) and node:
        del node[rng.choice(list(node))]
    elif op == 1 and isinstance(node, dict):
        node[rng.choice(KEYS)] = _odd(rng)
    elif op == 2 and isinstance(node, list) and node:
        node.insert(rng.randrange(len(node) + 1), copy.deepcopy(rng.choice(node)) if rng.random() < 0.7 else _odd(rng))
    elif op == 3 and isinstance(node, list) and node:
        del node[rng.randrange(len(node))]
    else:
        value = _set(value, path, _odd(rng) if rng.random() < 0.8 else [node])
    return value


def mutate_arrays(arrays: dict, rng: random.Random) -> dict:
    key = rng.choice(list(arrays) + NPZ_KEYS)
    a = arrays.get(key, np.zeros((1, 8), np.uint8))
    op = rng.randrange(5)
    if op == 0:
        arrays.pop(key, None)
    elif op == 1:
        try:
            arrays[key] = a.astype(rng.choice(DTYPES))
        except (TypeError, ValueError):
            arrays[key] = a
    elif op == 2:
        shape = [rng.choice([0, 1, 2, 3, 7, 8, 9, 12]) for _ in range(rng.randrange(6))]
        arrays[key] = np.resize(a, shape) if a.size else np.zeros(shape, a.dtype)
    elif op == 3 and a.size and a.dtype.kind in "biuf":
        flat = a.reshape(-1).copy()
        flat[rng.randrange(flat.size)] = np.array(rng.choice([0, 1, 2, 255, -1])).astype(flat.dtype)
        arrays[key] = flat.reshape(a.shape)
    else:
        arrays[rng.choice(NPZ_KEYS)] = a
    return arrays


def json_mutator(mutate_bytes):
    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            return mutate_bytes(data, max_size)
        if rng.random() < 0.5:
            return mutate_bytes(data, max_size)
        out = json.dumps(mutate_json(value, rng), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        return out if len(out) <= max_size else mutate_bytes(data, max_size)
    return mutator


def npz_mutator(mutate_bytes):
    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return mutate_bytes(data, max_size)
        with tempfile.NamedTemporaryFile(suffix=".npz") as f:
            f.write(data)
            f.flush()
            try:
                arrays = load_npz(f.name, max_bytes=1 << 26)     # the loader's own guard against bombs
            except UserError:          # not an .npz the loader reads: mutate its bytes
                return mutate_bytes(data, max_size)
        buf = io.BytesIO()
        (np.savez_compressed if rng.random() < 0.5 else np.savez)(buf, **mutate_arrays(arrays, rng))
        out = buf.getvalue()
        return out if len(out) <= max_size else mutate_bytes(data, max_size)
    return mutator
