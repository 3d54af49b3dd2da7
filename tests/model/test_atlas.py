"""The atlas (model.play.atlas): picking the real view that continues the visible one, and its file."""
from __future__ import annotations

import numpy as np
import pytest

from model.play.atlas import THETAS, Atlas, load_atlas, save_atlas, yaw_source
from model.play.errors import UserError

H, W = 96, 128


def panorama_view(yaw_deg: float, texture: np.ndarray, radius: float = 200.0):
    """A camera at the centre of a textured cylinder, turned left by yaw: (frame, depth).
    `texture` (rows, 360 columns, 3) is read at the ray's heading and height."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    phi = np.arctan((u - W / 2) / (W / 2))               # to the right of the view's axis
    heading = (yaw_deg - np.degrees(phi)) % 360.0        # a left turn raises the heading
    forward = radius * np.cos(phi)                       # depth along the view's axis
    height = (H / 2 - v) * forward / (1.2 * W / 2)       # the pinhole: v = cy - fy h / f
    rows = np.clip(((height + 150.0) / 300.0 * texture.shape[0]).astype(int), 0, texture.shape[0] - 1)
    return texture[rows, heading.astype(int) % 360], forward.astype(np.float32)


@pytest.fixture(scope="module")
def texture():
    """Smooth random colour over 360 degrees (matching runs at 4x coarser resolution)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (8, 48, 3)).astype(np.float32)
    fine = np.kron(coarse, np.ones((8, 8, 1)))[:, :360]
    return np.clip(fine, 0, 255).astype(np.uint8)


def test_yaw_source_is_the_closed_form_of_a_turn():
    """The view's centre column lands where tan says; rows stay put on the centre line."""
    u, v = np.array([64.0, 0.5]), np.array([48.0, 48.0])
    u2, v2, inside = yaw_source(20.0, u, v, (H, W))
    assert u2[0] == pytest.approx(64 + 64 * np.tan(np.radians(20.0)))
    assert v2[0] == pytest.approx(48.0) and inside[0]
    assert not inside[1] or u2[1] > 0                     # the left edge moves right, into the turned view


@pytest.mark.parametrize("side", [1, -1])
def test_pick_finds_the_view_beside_the_camera(texture, side):
    """Among views of the same place at many headings, the one turned THETAS[-1] to the given side
    continues the view, and is placed there."""
    theta = THETAS[-1]
    headings = [side * theta, -side * theta, 90.0, 180.0, 135.0, 250.0]
    views = [panorama_view(h, texture) for h in headings]
    atlas = Atlas(np.stack([f for f, _ in views]), np.stack([d for _, d in views]), np.ones((len(views), H, W), bool))
    frame, depth = panorama_view(0.0, texture)
    pick = atlas.pick(frame, depth, np.ones((H, W), bool), side)
    assert pick.index == 0 and pick.theta == side * theta
    others = Atlas(atlas.frames[1:], atlas.depth[1:], atlas.world[1:]).pick(frame, depth, np.ones((H, W), bool), side)
    assert pick.error < 0.5 * others.error           # the match stands out (coarse cells keep it above 0)


def test_pick_passes_over_views_that_show_their_weapon(texture):
    """A view whose overlap is mostly not the world is never placed."""
    frame, depth = panorama_view(0.0, texture)
    good, good_depth = panorama_view(THETAS[-1], texture)
    world = np.ones((2, H, W), bool)
    world[0] = False
    atlas = Atlas(np.stack([good, good]), np.stack([good_depth, good_depth]), world)
    assert atlas.pick(frame, depth, np.ones((H, W), bool), 1).index == 1


def test_atlas_file_round_trip_and_refusals(tmp_path, texture):
    frame, depth = panorama_view(0.0, texture)
    path = tmp_path / "atlas.npz"
    save_atlas(path, frame[None], depth[None], np.ones((1, H, W), bool))
    atlas = load_atlas(path)
    np.testing.assert_array_equal(atlas.frames[0], frame)
    np.testing.assert_allclose(atlas.depth[0], depth, rtol=1e-3)
    assert not (tmp_path / "atlas.npz.tmp").exists()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz"):
        load_atlas(tmp_path / "bad.npz")
    np.savez(tmp_path / "shapes.npz", frames=frame[None], depth=depth, world=np.ones((1, H, W), bool))
    with pytest.raises(UserError, match="shapes.npz: atlas arrays"):
        load_atlas(tmp_path / "shapes.npz")
    np.savez(tmp_path / "neg.npz", frames=frame[None], depth=-depth[None], world=np.ones((1, H, W), bool))
    with pytest.raises(UserError, match="neg.npz: atlas depth"):
        load_atlas(tmp_path / "neg.npz")


# ---- in the session --------------------------------------------------------------------------
TURN = np.array([3.516, 0.0, 0.0, 0.0], np.float32)        # the engine's fast turn left, one tic


def turning_session(pack, imagine: bool = True, seed: str = "alpha", **settings):
    """A session of the tiny pack whose camera turns left every tic and holds no weapon (its
    nets are untrained)."""
    from model.play.runtime import open_world
    world = open_world(str(pack))
    session = world.session(backend="cpu", imagine=imagine, **settings)
    observe = session.backend.observe

    def turn_left(frame, actions, motions):
        out = list(observe(frame, actions, motions))
        out[2], out[3] = np.zeros_like(out[2]), TURN[None]
        return out

    session.backend.observe = turn_left
    session.reset(world.load_seed(seed), rng_seed=1)
    return session


def test_a_turn_into_the_unseen_is_filled_from_the_atlas(geo_pack):
    """The side a turn uncovers comes from a placed atlas view (trusted, so carried on), not the painter."""
    on, off = turning_session(geo_pack), turning_session(geo_pack, imagine=False)
    painted_on, painted_off, imagined = [], [], []
    for _ in range(10):
        on.step(np.zeros(8, np.uint8))
        off.step(np.zeros(8, np.uint8))
        painted_on.append(on.painted_share)
        painted_off.append(off.painted_share)
        imagined.append(on.imagined_share)
    assert off.imagined_share == 0 and off._imagined is None
    assert on._imagined is not None and on._imagined.pose[3] == pytest.approx((on.pose[3] + 40.0) % 360, abs=45)
    assert sum(imagined) > 0.1 and sum(painted_on) < sum(painted_off) - 0.1
    assert on._trust[24:72, :8].mean() > 0.9             # the left edge (the rows a turn keeps in view): trusted, carried as seen


def test_rewind_is_exact_with_an_atlas_view_placed(geo_pack):
    session = turning_session(geo_pack)
    for _ in range(6):
        session.step(np.zeros(8, np.uint8))
    assert session._imagined is not None
    snap = session.snapshot()
    later = [session.step(np.zeros(8, np.uint8)) for _ in range(6)]
    session.restore(snap)
    np.testing.assert_array_equal(np.stack([session.step(np.zeros(8, np.uint8)) for _ in range(6)]), np.stack(later))


def refused_when_tampered(pack, name: str, tmp_path) -> None:
    """A copy of `pack` with bytes of its file `name` changed is refused by that file's name."""
    import shutil

    from model.play.runtime import open_world
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    with open(copy / name, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(UserError, match=f"{name}: sha256"):
        open_world(str(copy)).session(backend="cpu")


def test_a_tampered_atlas_is_refused_by_name(geo_pack, tmp_path):
    refused_when_tampered(geo_pack, "atlas.npz", tmp_path)
