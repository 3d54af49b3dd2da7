"""The motion net's walking physics (MotionNet.set_walk): fitted friction and thrust."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.nets.geonets import GEO_PRESETS, MOTION_SCALE, MotionNet
from model.play.world import BUTTONS, action_from_names

FRICTION, THRUST = 0.90625, 0.78125          # the engine's, per tic (a walk tops out at 8.33 units a tic)


def engine_tics(n: int, seed: int = 0):
    """Random held keys and the velocities the engine's rule gives, with a tenth of the tics
    stopped by a wall (which the fit must leave out)."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, (n, len(BUTTONS))).astype(np.float64)
    push = np.stack([actions[:, BUTTONS.index("MOVE_FORWARD")] - actions[:, BUTTONS.index("MOVE_BACKWARD")],
                     actions[:, BUTTONS.index("MOVE_RIGHT")] - actions[:, BUTTONS.index("MOVE_LEFT")],
                     np.zeros(n)], axis=1)
    last = rng.uniform(-8, 8, (n, 3)) * np.array([1, 1, 0.1])
    target = FRICTION * last + THRUST * push
    wall = rng.random(n) < 0.1
    target[wall, 0] = 0.3 * target[wall, 0]
    return actions, last, target


def test_the_fit_recovers_the_engine_rule_past_walls():
    net = MotionNet(GEO_PRESETS["tiny"])
    report = net.set_walk(*engine_tics(4000))
    assert report["friction"][:2] == pytest.approx([FRICTION - 1] * 2, abs=1e-3)
    thrust = net.walk_thrust.numpy() * np.array(MOTION_SCALE[1:])
    assert thrust[BUTTONS.index("MOVE_FORWARD"), 0] == pytest.approx(THRUST, abs=1e-2)
    assert thrust[BUTTONS.index("MOVE_BACKWARD"), 0] == -thrust[BUTTONS.index("MOVE_FORWARD"), 0]   # equal, opposite
    assert thrust[BUTTONS.index("MOVE_LEFT"), 1] == pytest.approx(-THRUST, abs=1e-2)
    assert np.abs(thrust[BUTTONS.index("ATTACK")]).max() == 0                                         # no thrust


@torch.no_grad()
def test_an_untrained_net_walks_out_and_back_to_where_it_started():
    """With the fitted rule and nothing learnt on top, 2 s out, 2 s back and a coast end at the start."""
    cfg = GEO_PRESETS["tiny"]
    net = MotionNet(cfg).eval()
    net.set_walk(*engine_tics(4000))
    depth = torch.full((1, 96, 128), 300.0)
    actions, motions = torch.zeros(1, cfg.history, 8), torch.zeros(1, cfg.history, 4)
    travelled, peak = 0.0, 0.0
    for keys in [{"MOVE_FORWARD"}] * 50 + [{"MOVE_BACKWARD"}] * 50 + [set()] * 150:
        a = torch.from_numpy(np.asarray(action_from_names(keys), np.float32))[None, None]
        actions = torch.cat([actions[:, 1:], a], dim=1)
        step = net(actions, motions, depth)
        motions = torch.cat([motions[:, 1:], step[:, None]], dim=1)
        travelled += float(step[0, 1])
        peak = max(peak, travelled)
    assert peak > 300 and abs(travelled) < 1.0


def test_weights_from_before_the_walk_load_and_run_as_they_did():
    net = MotionNet(GEO_PRESETS["tiny"])
    old = {k: v for k, v in net.state_dict().items() if not k.startswith("walk_")}
    fresh = MotionNet(GEO_PRESETS["tiny"])
    fresh.set_walk(*engine_tics(500))
    fresh.load_state_dict(old)                                   # strict: the walk comes back as zeros
    assert fresh.walk_friction.abs().sum() == 0 and fresh.walk_thrust.abs().sum() == 0


def test_weights_from_before_the_rest_speed_load_and_run_as_they_did():
    net = MotionNet(GEO_PRESETS["tiny"])
    old = {k: v for k, v in net.state_dict().items() if not k.startswith("rest_speed.")}
    fresh = MotionNet(GEO_PRESETS["tiny"])
    with torch.no_grad():
        fresh.rest_speed.weight.fill_(1.0)
    fresh.load_state_dict(old)                                   # strict: the rest's speed comes back as zeros
    assert fresh.rest_speed.weight.abs().sum() == 0 and fresh.rest_speed.bias.abs().sum() == 0


@torch.no_grad()
def test_the_rest_head_reads_the_walks_speed():
    """A rest head that would stop everything lets a fast slide go on once it weighs the speed,
    and still stops a body the physics has all but stopped."""
    cfg = GEO_PRESETS["tiny"]
    net = MotionNet(cfg).eval()
    net.set_walk(*engine_tics(4000))
    net.rest[2].bias.fill_(4.0)                                  # "exactly zero", whatever the input
    net.rest_speed.weight.copy_(-2.0 * torch.eye(3))
    net.rest_speed.bias.fill_(-10.0)                             # stop under about 0.9 units a tic
    depth, actions = torch.full((1, 96, 128), 300.0), torch.zeros(1, cfg.history, 8)
    def next_forward(speed):
        motions = torch.zeros(1, cfg.history, 4)
        motions[:, -1, 1] = speed
        return float(net(actions, motions, depth)[0, 1])
    assert next_forward(2.5) == pytest.approx(2.5 * FRICTION, rel=1e-2)
    assert next_forward(0.01) == 0.0
