"""`python main.py capture`: engine trajectories for training, sharded, resumable, reproducible.

The engine settings are the contract of docs/design.md, "The first world", and live in one place,
`make_game`, which the tests also use to re-render frames and check them against shards.
Each shard holds whole episodes and depends only on (--seed, --maps, --policy, its index),
so workers can make any subset, a rerun skips shards already on disk, and the same
arguments give byte-identical files. The shard format is in `model/dataset.py`.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import queue
import signal
import struct
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import vizdoom as vzd

from model.play.errors import UserError, os_error_line
from model.play.progress import Progress
from model.play.world import BUTTONS, ENGINE_H, ENGINE_W, N_BUTTONS
from model.train.dataset import (
    SHARD_NAME,
    contact_sheet,
    dataset_report,
    format_report,
    write_npz,
    write_png,
)
from model.train.explorer import MapKnowledge, Observation, make_policy

MAPS = tuple(f"MAP{i:02d}" for i in range(1, 33))
SHARD_FRAMES = 2000
EPISODE_FRAMES = (400, 2000)     # 11-57 s of play at 35 tics/s
SETTLE_TICS = 16                 # idle tics that start every episode (see start_episode)
_IDLE = [0] * N_BUTTONS
FORMAT_VERSION = 3               # 2: vars[:, 0] and `map` hold the map index, 0 = MAP01
                                 # 3: geometry per frame (pose, velocity, camera_z, depth, sprites)
WEAPON_LABEL = 255               # the labels buffer's value for the player's own weapon sprite


# What state.game_variables holds. SECRETCOUNT because finding a secret prints "A secret is
# revealed!", and with the HUD off its timer never runs: it stays until the episode ends.
# The rest is geometry, training supervision only: the pose, the velocity, and the eye's
# height (CAMERA_POSITION_Z: the floor plus the view height, with the walking bob in it).
GAME_VARIABLES = [vzd.GameVariable.POSITION_X, vzd.GameVariable.POSITION_Y,
                  vzd.GameVariable.ANGLE, vzd.GameVariable.SECRETCOUNT,
                  vzd.GameVariable.POSITION_Z, vzd.GameVariable.VELOCITY_X,
                  vzd.GameVariable.VELOCITY_Y, vzd.GameVariable.CAMERA_POSITION_Z]


def wad_path() -> Path:
    """The freedoom2.wad that ships inside the vizdoom package."""
    return Path(vzd.__file__).parent / "freedoom2.wad"


def make_game(map_name: str, seed: int, depth: bool = True) -> vzd.DoomGame:
    """The one engine set-up (docs/design.md, "The first world"), started on `map_name` with `seed`.

    The depth and labels buffers are separate outputs (geometry for training, and the
    explorer steers by depth); the RGB frame is the same with them on or off. Episodes
    never time out: they end when capture says so.
    """
    game = vzd.DoomGame()
    game.set_doom_game_path(str(wad_path()))
    game.set_doom_map(map_name)
    game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_render_hud(False)
    game.set_render_crosshair(False)
    game.set_render_weapon(True)
    game.add_game_args("-nomonsters")
    game.set_available_buttons([getattr(vzd.Button, name) for name in BUTTONS])
    game.set_available_game_variables(GAME_VARIABLES)
    game.set_depth_buffer_enabled(depth)
    game.set_labels_buffer_enabled(depth)
    game.set_episode_timeout(0)
    game.set_window_visible(False)
    game.set_mode(vzd.Mode.PLAYER)
    game.set_doom_config_path(str(_fresh_config_path()))
    game.init()
    start_episode(game, map_name, seed)
    return game


def _fresh_config_path() -> Path:
    """A private, empty engine .ini: nothing saved by an earlier run can change the frames,
    and concurrent workers do not race on one file in the current directory."""
    folder = Path(tempfile.gettempdir()) / "reverie-vizdoom"
    folder.mkdir(exist_ok=True)
    path = folder / f"{os.getpid()}.ini"
    path.unlink(missing_ok=True)
    return path


def start_episode(game: vzd.DoomGame, map_name: str, seed: int) -> None:
    """A new episode that does not depend on the episodes this engine played before.

    Reseeding fixes the game's randomness. The renderer eases the weapon's bob toward its
    target a little every frame, in a static variable that survives new_episode, so the
    first frames of an episode could show the last episode's bob; SETTLE_TICS frames
    standing still bring it to rest (the bob is at most 16 units and eases at least 1 unit
    a frame). The engine ignores input for ~7 tics after a map loads anyway.
    """
    game.set_seed(seed)
    game.set_doom_map(map_name)
    game.new_episode()
    for _ in range(SETTLE_TICS):
        game.make_action(_IDLE, 1)


# Linedef specials a player triggers with USE in Doom II, less the exits (11, 51: they end the
# episode) and the locked doors, which the explorer must not touch (see map_knowledge).
USABLE_SPECIALS = frozenset({
    1, 31, 117, 118,                                              # doors
    7, 9, 18, 20, 21, 23, 29, 41, 49, 50, 55, 71, 101, 102, 103,  # S1 switches
    111, 112, 113, 122, 127, 131, 140,
    42, 43, 45, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70,       # SR switches
    114, 115, 116, 123, 132, 138, 139,
})
LOCKED_SPECIALS = frozenset({26, 27, 28, 32, 33, 34, 99, 133, 134, 135, 136, 137})


@lru_cache(maxsize=64)
def map_knowledge(map_name: str) -> MapKnowledge:
    """Where the map's doors, switches and locked doors are, read from the WAD.

    A person who has played a map knows where its doors are; the explorer gets that from
    the map's LINEDEFS and VERTEXES lumps (Doom format) instead.
    """
    with open(wad_path(), "rb") as f:
        _, count, offset = struct.unpack("<4sii", f.read(12))
        f.seek(offset)
        directory = [struct.unpack("<ii8s", f.read(16)) for _ in range(count)]
        names = [d[2].rstrip(b"\0").decode("ascii", "replace") for d in directory]
        start = names.index(map_name)

        def lump(name: str) -> bytes:
            pos, size, _ = directory[names.index(name, start)]
            f.seek(pos)
            return f.read(size)

        lines = np.frombuffer(lump("LINEDEFS"), dtype="<i2").reshape(-1, 7)   # v1 v2 flags special tag right left
        vertices = np.frombuffer(lump("VERTEXES"), dtype="<i2").reshape(-1, 2).astype(np.float64)

    def segments(specials: frozenset) -> np.ndarray:
        chosen = lines[np.isin(lines[:, 3], list(specials))]
        return np.concatenate([vertices[chosen[:, 0].astype(np.uint16)],
                               vertices[chosen[:, 1].astype(np.uint16)]], axis=1)

    return MapKnowledge(segments(USABLE_SPECIALS), segments(LOCKED_SPECIALS))


@dataclass(frozen=True)
class ShardSpec:
    index: int
    frames: int
    map_name: str
    seed: int
    policy: str


@dataclass(frozen=True)
class CapturePlan:
    out: Path
    frames: int
    maps: tuple[str, ...]
    seed: int
    policy: str
    workers: int

    def shards(self) -> list[ShardSpec]:
        """Fixed-size shards (the last one shorter), maps dealt round-robin in a seeded order."""
        order = np.random.default_rng(self.seed).permutation(len(self.maps))
        count = -(-self.frames // SHARD_FRAMES)
        return [ShardSpec(k, min(SHARD_FRAMES, self.frames - k * SHARD_FRAMES),
                          self.maps[order[k % len(self.maps)]], self.seed, self.policy)
                for k in range(count)]

    def manifest(self) -> dict:
        fields = asdict(self)
        del fields["out"], fields["workers"]   # neither changes what is captured
        return {"format": FORMAT_VERSION, "shard_frames": SHARD_FRAMES, **fields, "maps": list(self.maps)}

    def shard_path(self, spec: ShardSpec) -> Path:
        return self.out / SHARD_NAME.format(spec.index)


# ---- one shard ----------------------------------------------------------------------------

def capture_shard(game: vzd.DoomGame, spec: ShardSpec, on_frames=lambda n: None) -> dict[str, np.ndarray]:
    """Play whole episodes on the shard's map until the shard is full."""
    rng = np.random.default_rng([spec.seed, spec.index])
    arrays = empty_shard(spec.frames)
    map_index = MAPS.index(spec.map_name)
    knowledge = map_knowledge(spec.map_name)
    t = 0
    while t < spec.frames:
        length = _episode_length(rng, spec.frames - t)
        episode_seed = int(rng.integers(2**31 - 1))
        policy = make_policy(spec.policy, np.random.default_rng(rng.integers(2**63)), knowledge)
        start_episode(game, spec.map_name, episode_seed)
        played = play_episode(game, policy, arrays, t, length, map_index)
        arrays["episode_start"][t] = True
        arrays["episode_seed"][t:t + played] = episode_seed
        arrays["map"][t:t + played] = map_index
        t += played
        on_frames(played)
    return arrays


def empty_shard(frames: int) -> dict[str, np.ndarray]:
    return {
        "frames": np.zeros((frames, ENGINE_H, ENGINE_W, 3), np.uint8),
        "actions": np.zeros((frames, N_BUTTONS), np.uint8),
        "vars": np.zeros((frames, 4), np.float32),
        "episode_start": np.zeros(frames, bool),
        "map": np.zeros(frames, np.uint8),
        "episode_seed": np.zeros(frames, np.int64),
        "pose": np.zeros((frames, 4), np.float32),
        "velocity": np.zeros((frames, 2), np.float32),
        "camera_z": np.zeros(frames, np.float32),
        "depth": np.zeros((frames, ENGINE_H, ENGINE_W), np.uint8),
        "sprites": np.zeros((frames, ENGINE_H, ENGINE_W), np.uint8),
    }


def sprite_mask(state) -> np.ndarray:
    """uint8 [120,160]: 1 on the weapon sprite, 2 on other sprites (things), 0 elsewhere.

    Sprites are what depth and pose cannot move: the weapon stays put on screen, things
    are flat cards that turn to face the camera."""
    labels = state.labels_buffer
    things = [obj.value for obj in state.labels if obj.value != WEAPON_LABEL]
    mask = np.where(np.isin(labels, things), 2, 0).astype(np.uint8)
    mask[labels == WEAPON_LABEL] = 1
    return mask


def _episode_length(rng: np.random.Generator, left: int) -> int:
    """A realistic episode length; a remainder too short to be an episode joins this one."""
    length = int(rng.integers(EPISODE_FRAMES[0], EPISODE_FRAMES[1] + 1))
    return left if left - length < EPISODE_FRAMES[0] else length


def play_episode(game, policy, arrays: dict, t0: int, length: int, map_index: int, watch=None) -> int:
    """Record up to `length` frames of the running episode into `arrays` from `t0` on, and
    return how many: fewer when the level ends (an exit, a death in a hazard) or a secret
    is found, whose message would cover the rest of the episode (GAME_VARIABLES).
    `watch(t, state)`, if given, sees each recorded state (make_seeds scores the views)."""
    for i in range(length):
        state = game.get_state()
        x, y, angle, secrets, z, vx, vy, camera_z = state.game_variables
        if secrets > 0 and i > 0:
            return i
        if watch is not None:
            watch(t0 + i, state)
        arrays["frames"][t0 + i] = state.screen_buffer
        arrays["vars"][t0 + i] = (map_index, x, y, angle)
        arrays["pose"][t0 + i] = (x, y, z, angle)
        arrays["velocity"][t0 + i] = (vx, vy)
        arrays["camera_z"][t0 + i] = camera_z
        arrays["depth"][t0 + i] = state.depth_buffer
        arrays["sprites"][t0 + i] = sprite_mask(state)
        action = policy.act(Observation(float(x), float(y), float(angle), state.depth_buffer))
        arrays["actions"][t0 + i] = action
        game.make_action(action.tolist(), 1)
        if game.is_episode_finished():
            return i + 1
    return length


def _capture_shards(plan: CapturePlan, specs: list[ShardSpec], on_frames) -> None:
    """Capture and write shards one after another in this process."""
    game = make_game(specs[0].map_name, 0)
    try:
        for spec in specs:
            write_npz(plan.shard_path(spec), capture_shard(game, spec, on_frames))
    finally:
        game.close()


def _worker(plan: CapturePlan, specs: list[ShardSpec], messages) -> None:
    """A worker process: its shards, with progress and failures sent to the parent."""
    # The parent stops workers with SIGTERM; exiting through `finally` closes the engine,
    # a separate process that would otherwise live on.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        _capture_shards(plan, specs, lambda n: messages.put(("frames", n)))
        messages.put(("done", None))
    except (OSError, UserError) as exc:     # a full disk, say: one line for the user, as in one process
        messages.put(("refused", str(exc) if isinstance(exc, UserError) else os_error_line(exc)))
    except BaseException:  # the parent reports it; a silent dead worker would hang the bar
        messages.put(("error", traceback.format_exc()))



# ---- many shards: workers and progress --------------------------------------------------------

def _run_parallel(plan: CapturePlan, todo: list[ShardSpec], on_frames) -> None:
    """Worker w makes todo[w::K]: a fixed subset, and shards do not depend on who makes them."""
    ctx = multiprocessing.get_context("spawn")     # no forked engine or thread state
    messages = ctx.Queue()
    count = min(plan.workers, len(todo))
    procs = [ctx.Process(target=_worker, args=(plan, todo[w::count], messages), daemon=True)
             for w in range(count)]
    try:
        for p in procs:
            p.start()
        running = count
        while running:
            try:
                kind, value = messages.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("capture workers exited without finishing") from None
                continue
            if kind == "frames":
                on_frames(value)
            elif kind == "done":
                running -= 1
            elif kind == "refused":
                raise UserError(value)
            else:
                raise RuntimeError(f"a capture worker failed:\n{value}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def run(args) -> int:
    """`capture --out DIR --frames N [--maps ...] [--seed S] [--workers K] [--policy P] [--report]`."""
    plan = _plan_from_args(args)
    _claim_out(plan)
    specs = plan.shards()
    todo = [s for s in specs if not plan.shard_path(s).exists()]
    if len(todo) < len(specs):
        print(f"capture: resuming, {len(specs) - len(todo)} of {len(specs)} shards already in {plan.out}",
              file=sys.stderr)
    if todo:
        progress = Progress(sum(s.frames for s in todo), "capture")

        def advance(frames: int) -> None:
            progress(progress.done + frames)

        if plan.workers == 1 or len(todo) == 1:
            _capture_shards(plan, todo, advance)
        else:
            _run_parallel(plan, todo, advance)
        progress.close()
    _write_report(plan, [plan.shard_path(s) for s in specs], sheet=args.report)
    return 0


def _write_report(plan: CapturePlan, paths: list[Path], sheet: bool) -> None:
    report = {"policy": plan.policy, "seed": plan.seed, **dataset_report(paths)}
    tmp = plan.out / "report.tmp.json"
    try:
        tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, plan.out / "report.json")
    except BaseException:          # a full disk: no half-written report stays
        tmp.unlink(missing_ok=True)
        raise
    print(format_report(report))
    if sheet:
        write_png(plan.out / "contact_sheet.png", contact_sheet(paths))
        print(f"contact sheet: {plan.out / 'contact_sheet.png'}")


# ---- input checks ---------------------------------------------------------------------------

def parse_maps(text: str | None) -> tuple[str, ...]:
    """`MAP01,map07` -> ('MAP01', 'MAP07'); `MAP01-MAP03` is a range; None means all 32."""
    if text is None:
        return MAPS
    names = []
    for part in (n.strip().upper() for n in text.split(",") if n.strip()):
        first, _, last = part.partition("-")
        if last and first in MAPS and last in MAPS and MAPS.index(first) <= MAPS.index(last):
            names += MAPS[MAPS.index(first):MAPS.index(last) + 1]
        else:
            names.append(part)
    if not names:
        raise UserError("--maps: no map named (expected e.g. MAP01,MAP02)")
    for name in names:
        if name not in MAPS:
            raise UserError(f"--maps: unknown map '{name}' (freedoom2.wad has MAP01..MAP32)")
    return tuple(dict.fromkeys(names))


def _plan_from_args(args) -> CapturePlan:
    if args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    return CapturePlan(Path(args.out), args.frames, parse_maps(args.maps), args.seed,
                       args.policy, args.workers)


def _claim_out(plan: CapturePlan) -> None:
    """Make --out, check it is writable, and refuse to mix two different captures in it."""
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=plan.out):
            pass
    except OSError as exc:
        raise UserError(f"--out {plan.out}: not a writable folder ({exc.strerror or exc})") from None
    path = plan.out / "capture.json"
    manifest = plan.manifest()
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable ({exc})") from None
        if old != manifest:
            changed = sorted(k for k in manifest if old.get(k) != manifest[k])
            raise UserError(f"--out {plan.out}: holds a capture with other settings "
                            f"({', '.join(changed)}); resume with the same arguments or use another folder")
        return
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
