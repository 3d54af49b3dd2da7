"""The map (model.play.worldmap): locating a frame among posed views, its file, and the session with it."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from model.nets.geometry import reproject
from model.play.errors import UserError
from model.play.memory import advance_pose, gap
from model.play.worldmap import WorldMap, load_map, save_map
from model.train.map_build import cover

H, W = 96, 128
STILL = np.zeros(8, np.uint8)


def blocks(seed: int) -> np.ndarray:
    """Random colour in 8x8 blocks: structure to match on at every scale the search uses."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (H // 8, W // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)


def room_depth() -> np.ndarray:
    """Depth (map units) of a camera facing pillars and walls 64 to 300 units off (a flat wall
    alone would leave a sideways step and a turn apart ambiguous), the floor below them."""
    v = np.arange(H)[:, None] + 0.5
    walls = np.repeat(np.random.default_rng(7).uniform(64, 300, W // 16), 16)[None]
    floor = 41.0 * (1.2 * W / 2) / np.maximum(v - H / 2, 1e-3)        # eye 41 units above the floor
    return np.where(v > H / 2, np.minimum(floor, walls), walls).astype(np.float32)


def moved(frame: np.ndarray, depth: np.ndarray, motion) -> tuple[np.ndarray, np.ndarray]:
    """The view from a camera moved by `motion` (dyaw, df, dr, dz): colours and depth."""
    image = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    out, _, _, t = reproject(image, torch.from_numpy(depth)[None], torch.tensor([motion], dtype=torch.float32),
                             mode="nearest", depths=True)
    return out[0].permute(1, 2, 0).numpy().round().astype(np.uint8), t[0].numpy()


def a_map(tmp_path, frames, levels, poses, maps=None):
    path = tmp_path / "map.npz"
    save_map(path, np.stack(frames), np.stack(levels), np.array(poses, np.float32),
             np.zeros(len(frames), np.int64) if maps is None else np.array(maps))
    return load_map(path)


def levels_of(depth: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(depth / 8.0), 1, 63).astype(np.uint8)


def test_cover_keeps_views_apart_and_follows_the_captures():
    rng = np.random.default_rng(0)
    poses = np.stack([rng.uniform(0, 2000, 3000), rng.uniform(0, 2000, 3000), np.full(3000, 41.0),
                      rng.uniform(0, 360, 3000)], 1)
    chosen = cover(poses, 0.5)
    c = poses[chosen]
    for i in range(len(c)):
        turn = np.abs((c[:, 3] - c[i, 3] + 180) % 360 - 180)
        g = gap(turn, np.hypot(c[:, 0] - c[i, 0], c[:, 1] - c[i, 1]))
        assert (np.delete(g, i) >= 0.5).all()
    assert len(cover(poses, 0.5, most=10)) == 10 and (cover(poses, 0.5, most=10) == chosen[:10]).all()


def place_views(tmp_path, second: bool):
    """Map views of one place (a view, and with `second` a view of it from a camera moved
    beside it) among views of other places; the frame a camera moved from the first sees."""
    depth = levels_of(room_depth())
    here, to_frame, to_second = np.array([300.0, -120.0, 41.0, 30.0]), (4.0, 10.0, -6.0, 0.0), (2.0, 4.0, -2.0, 0.0)
    frames, levels, poses = [blocks(1)], [depth], [here]
    if second:
        view, view_depth = moved(blocks(1), depth.astype(np.float32) * 8, to_second)
        frames, levels, poses = frames + [view], levels + [levels_of(view_depth)], poses + [advance_pose(here, np.array(to_second))]
    folder = tmp_path / ("two" if second else "one")
    folder.mkdir(parents=True)
    world = a_map(folder, frames + [blocks(2), blocks(3)], levels + [depth] * 2,
                  poses + [[900, 40, 41, 200], [-500, 700, 41, 90]])
    frame, frame_depth = moved(blocks(1), depth.astype(np.float32) * 8, to_frame)
    return world, frame, frame_depth, advance_pose(here, np.array(to_frame))


def test_locate_finds_the_camera_from_a_view_and_its_depth(tmp_path):
    """A frame seen from a camera moved from a map view is located at that camera, among views of
    other places; a frame no view shows is refused."""
    world, frame, frame_depth, truth = place_views(tmp_path, second=True)
    found = world.locate(frame, frame_depth)
    assert found is not None and found.index in (0, 1) and found.map == 0
    assert np.hypot(*(found.pose[:2] - truth[:2])) < 4.0 and abs(found.pose[3] - truth[3]) < 1.5
    assert world.locate(blocks(9), room_depth()) is None


def test_a_place_one_view_explains_roughly_needs_a_second(tmp_path):
    """Unless a view explains the frame all but exactly (SURE), a second view near the place
    must explain it too: a like-looking room elsewhere seldom has two."""
    noise = np.random.default_rng(0).integers(-12, 13, (H, W, 3))
    located = []
    for second in (False, True):
        world, frame, frame_depth, truth = place_views(tmp_path, second)
        rough = np.clip(frame.astype(np.int64) + noise, 0, 255).astype(np.uint8)   # colour error ~6 > SURE
        located.append(world.locate(rough, frame_depth))
    assert located[0] is None
    assert located[1] is not None and np.hypot(*(located[1].pose[:2] - truth[:2])) < 6.0
    world, frame, frame_depth, _ = place_views(tmp_path / "unconfirmed", second=False)
    world._confirmed = lambda *place: True             # the lone view alone is within ACCEPT: refused for want of a second
    assert world.locate(np.clip(frame.astype(np.int64) + noise, 0, 255).astype(np.uint8), frame_depth) is not None


def test_nearest_ranks_one_maps_views_by_view_gap(tmp_path):
    depth = levels_of(room_depth())
    world = a_map(tmp_path, [blocks(i) for i in range(4)], [depth] * 4,
                  [[0, 0, 41, 0], [100, 0, 41, 0], [0, 0, 41, 0], [0, 0, 41, 90]], maps=[0, 0, 1, 0])
    views, gaps = world.nearest(np.array([90.0, 0, 41, 5]), 0, 2)
    assert list(views) == [1, 0] and gaps[0] < gaps[1]


def test_map_file_round_trip_and_refusals(tmp_path):
    depth = levels_of(room_depth())
    world = a_map(tmp_path, [blocks(1), blocks(2)], [depth, depth], [[0, 0, 41, 0], [5, 5, 41, 10]])
    assert len(world) == 2 and np.abs(world.frame(1).astype(int) - blocks(2)).mean() < 3     # JPEG, near-lossless
    assert (world.depth(0) == depth * 8.0).all() and world.world(0).all()
    good = dict(np.load(tmp_path / "map.npz", allow_pickle=False))
    broken = {
        "missing": {k: v for k, v in good.items() if k != "pose"},
        "shapes": {**good, "pose": good["pose"][:1]},
        "offsets": {**good, "offsets": good["offsets"][::-1].copy()},
        "image": {**good, "jpeg": np.zeros_like(good["jpeg"])},
    }
    for name, arrays in broken.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(UserError, match=f"{name}.npz"):
            load_map(path)


@pytest.fixture(scope="module")
def map_pack(geo_pack, tmp_path_factory):
    """The tiny geometry pack with a seed 'room' (blocks of colour) and a map: the seed's frame as
    one view (so the session locates it; its depth the untrained depth net's) and a second view
    40 degrees to its left."""
    from model.play.geo_session import to_float
    from model.play.runtime import open_world
    pack = tmp_path_factory.mktemp("mapped") / "pack"
    shutil.copytree(geo_pack, pack)
    frame = blocks(4)
    np.savez_compressed(pack / "seeds" / "room.npz", frames=np.stack([frame] * 3), actions=np.zeros((2, 8), np.uint8),
                        name=np.array("room"))
    world = open_world(str(pack))
    session = world.session(backend="cpu")
    zeros = np.zeros((1, session.history, 8), np.float32), np.zeros((1, session.history, 4), np.float32)
    depth = np.asarray(session.backend.observe(to_float(frame), *zeros)[4]).reshape(H, W)
    path = pack / "map.npz"
    save_map(path, np.stack([frame, blocks(5)]), np.stack([levels_of(depth), levels_of(room_depth())]),
             np.array([[0, 0, 41, 0], [0, 0, 41, 40]], np.float32), np.zeros(2, np.int64))
    meta = json.loads((pack / "world.json").read_text())
    meta["models"]["map"] = {"file": "map.npz", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (pack / "world.json").write_text(json.dumps(meta))
    return pack


def turning(pack, **settings):
    """A session of the map pack from the seed 'room', turning left every tic, the atlas off."""
    from tests.model.test_atlas import turning_session
    return turning_session(pack, imagine=False, seed="room", **settings)


def test_a_located_session_fills_a_turn_from_the_map(map_pack):
    on, off = turning(map_pack), turning(map_pack, map=False)
    assert on.located is not None and on.located.index == 0 and off.located is None
    np.testing.assert_allclose(on.located.pose, [0, 0, 41, 0], atol=1.0)
    shares, painted_on, painted_off = [], [], []
    for _ in range(12):
        on.step(STILL)
        off.step(STILL)
        shares.append(on.map_share)
        painted_on.append(on.painted_share)
        painted_off.append(off.painted_share)
    assert off.map_share == 0 and sum(shares) > 0.1
    assert sum(painted_on) < sum(painted_off) - 0.1          # what the turn uncovered came from the map's second view


def test_rewind_is_exact_with_the_map(map_pack):
    session = turning(map_pack)
    for _ in range(8):
        session.step(STILL)
    snap = session.snapshot()
    later = [session.step(STILL) for _ in range(6)]
    session.restore(snap)
    np.testing.assert_array_equal(np.stack([session.step(STILL) for _ in range(6)]), np.stack(later))
    assert session.located is not None


def test_a_seed_the_map_does_not_hold_plays_unlocated(map_pack):
    from model.play.runtime import open_world
    world = open_world(str(map_pack))
    session = world.session(backend="cpu")
    session.reset(world.load_seed("beta"), rng_seed=0)            # one random frame: no view shows it
    assert session.located is None
    frame = session.step(STILL)
    assert frame.shape == (H, W, 3) and session.map_share == 0


def test_a_tampered_map_is_refused_by_name(map_pack, tmp_path):
    from tests.model.test_atlas import refused_when_tampered
    refused_when_tampered(map_pack, "map.npz", tmp_path)
