"""The dynamics network and the flow objective on tiny configs (CPU)."""
import numpy as np
import pytest
import torch

from model.nets.dynamics import DYNAMICS_PRESETS, GATHER_BELOW, MASKED_AGE, Dynamics, DynamicsConfig
from model.nets.flow import (
    action_vectors,
    flow_loss,
    rollout,
    shift_prev,
    teacher_forced_samples,
    two_stream_ages,
)
from model.nets.tokenizer import TOKENIZER_PRESETS, Tokenizer


@pytest.fixture
def dyn():
    torch.manual_seed(0)
    model = Dynamics(DYNAMICS_PRESETS["tiny"]).eval()
    with torch.no_grad():                     # adaLN-Zero starts as identity: wake it up
        for p in model.parameters():
            if p.ndim > 1 and p.abs().sum() == 0:
                p.normal_(0, 0.05)
    return model


def _two_stream_forward(model, z, actions):
    t = z.shape[1]
    cond = action_vectors(actions)
    inputs = torch.cat([z, z[:, 1:] * 0.5], 1)
    prevs = torch.cat([shift_prev(z), z[:, :-1]], 1)
    taus = torch.cat([torch.zeros(1, t), torch.full((1, t - 1), 0.5)], 1)
    ctx = model.empty_cache(1)
    x0, _, _ = model.frame_pass(inputs, prevs, taus, torch.cat([cond, cond[:, 1:]], 1), *ctx,
                                two_stream_ages(t, model.cfg.window))
    return x0


def test_shapes(dyn):
    cfg = dyn.cfg
    z = torch.randn(2, 3, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    ctx_k = torch.randn(cfg.depth, 2, cfg.heads, 5 * cfg.tokens_per_frame, cfg.head_dim)
    ages = torch.randint(0, cfg.window, (3, 5 + 3))
    x0, k, v = dyn.frame_pass(z, torch.randn_like(z), torch.rand(2, 3), torch.rand(2, 3, 9), ctx_k, ctx_k.clone(), ages)
    assert x0.shape == z.shape
    assert k.shape == v.shape == (cfg.depth, 2, cfg.heads, 3 * cfg.tokens_per_frame, cfg.head_dim)
    tok = Tokenizer(TOKENIZER_PRESETS["tiny"])
    frames = torch.randint(0, 256, (2, 96, 128, 3), dtype=torch.uint8)
    latents = tok.encode(frames)
    assert latents.shape == (2, 8, 12, 16)
    assert tok.decode(latents).shape == (2, 96, 128, 3) and tok.decode(latents).dtype == torch.uint8


def test_block_causal_frames_and_actions(dyn):
    """Changing frame k or the action into frame k never changes predictions before k."""
    torch.manual_seed(1)
    t, k = 6, 3
    cfg = dyn.cfg
    z = torch.randn(1, t, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    actions = torch.randint(0, 2, (1, t - 1, 8))
    with torch.no_grad():
        base = _two_stream_forward(dyn, z, actions)
        z2 = z.clone()
        z2[:, k] += 3.0
        a2 = actions.clone()
        a2[:, k - 1] = 1 - a2[:, k - 1]                  # the action that leads into frame k
        for zz, aa in ((z2, actions), (z, a2)):
            out = _two_stream_forward(dyn, zz, aa)
            # noisy stream rows t.. predict frames 1..t-1; frame j sits at row t + j - 1
            assert torch.allclose(out[:, t:t + k - 1], base[:, t:t + k - 1], atol=1e-6)
            assert not torch.allclose(out[:, t + k - 1:], base[:, t + k - 1:], atol=1e-4)


def test_window_limits_what_a_frame_sees():
    """A frame more than W frames back is invisible (one layer: no indirect path)."""
    torch.manual_seed(2)
    model = Dynamics(DynamicsConfig(width=32, depth=1, heads=2, window=3)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1 and p.abs().sum() == 0:
                p.normal_(0, 0.05)
    w, cfg = model.cfg.window, model.cfg
    t = w + 3
    z = torch.randn(1, t, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    actions = torch.zeros(1, t - 1, 8, dtype=torch.long)
    with torch.no_grad():
        base = _two_stream_forward(model, z, actions)
        z2 = z.clone()
        z2[:, 0] += 5.0
        out = _two_stream_forward(model, z2, actions)
    # noisy frame j (row t + j - 1) sees clean frames j-W..j-1, and each clean frame
    # carries its previous frame as input: frame 0 reaches noisy frames j <= W + 1 only.
    for j in range(1, t):
        same = torch.allclose(out[:, t + j - 1], base[:, t + j - 1], atol=1e-6)
        assert same == (j > w + 1), f"noisy frame {j}"


@pytest.mark.parametrize("gather", [False, True])
def test_frame_block_bias_equals_the_dense_token_mask(dyn, gather):
    """Training adds the age bias per frame block; inference (and the ONNX graph) adds it
    as the dense per-token mask through SDPA. Same predictions, keys/values and gradients,
    against a cache, with hidden and out-of-window frames; with most key frames visible
    (all scored) and with few (only the visible ones gathered and scored)."""
    torch.manual_seed(3)
    cfg, b, f, m = dyn.cfg, 2, 3, 4                  # 3 new frames against 4 cached ones
    z = torch.randn(b, f, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    ctx = torch.randn(2, cfg.depth, b, cfg.heads, m * cfg.tokens_per_frame, cfg.head_dim)
    tau, action = torch.rand(b, f), torch.rand(b, f, 9)
    if gather:                       # each frame sees one cached frame and itself: 2 of 7
        ages = torch.full((f, m + f), MASKED_AGE)
        ages[torch.arange(f), m - 1 - torch.arange(f)] = torch.arange(1, f + 1)
    else:                            # most frames visible, one hidden, one out of the window
        ages = torch.randint(0, cfg.window + 1, (f, m + f))
        ages[0, :2] = torch.tensor([MASKED_AGE, cfg.window + 1])
    ages[:, m:] = torch.where(torch.eye(f, dtype=torch.bool), 0, MASKED_AGE)
    visible = ((ages >= 0) & (ages <= cfg.window)).sum(1).max()
    assert (visible < GATHER_BELOW * (m + f)) == gather
    got = []
    for training in (True, False):
        dyn.train(training)
        dyn.zero_grad()
        x0, k, v = dyn.frame_pass(z, z.roll(1, 1), tau, action, *ctx, ages)
        (x0.square().sum() + k.sum() + v.sum()).backward()
        got.append([x0, k, v, dyn.age_bias.grad.clone(), dyn.blocks[0].qkv.weight.grad.clone()])
    assert got[1][3].abs().sum() > 0                 # the age bias learns through both forms
    for block, dense in zip(*got):
        torch.testing.assert_close(block, dense, rtol=1e-5, atol=1e-5)


def test_flow_loss_falls(dyn):
    torch.manual_seed(0)
    cfg = dyn.cfg
    z = torch.randn(4, 5, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    z[:, 1:] = z[:, :1]                                  # a static world: easy to learn
    actions = torch.zeros(4, 4, 8)
    model = Dynamics(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = flow_loss(model, z, actions)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_teacher_forced_samples_are_what_play_generates_at_horizon_one(dyn, steps):
    """The decoder fine-tune's latents: each frame sampled from the real frames before it,
    all in parallel, must equal generating it frame by frame with the same noise."""
    cfg = dyn.cfg
    z = torch.randn(2, 4, cfg.latent_channels, cfg.latent_h, cfg.latent_w)
    actions = torch.randint(0, 2, (2, 3, 8))
    torch.manual_seed(7)
    parallel = teacher_forced_samples(dyn, z, actions, steps)
    torch.manual_seed(7)
    noise = torch.randn_like(z[:, 1:])
    cond = action_vectors(actions)
    for i in range(1, 4):
        one = rollout(dyn, z[:, :i], cond[:, :i], noise[:, i - 1:i], actions[:, i - 1:i], steps=steps)
        torch.testing.assert_close(parallel[:, i - 1], one[:, 0], atol=1e-5, rtol=1e-5)
