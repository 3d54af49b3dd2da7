"""The light: carried pixels brighten as the camera nears them, by tables fitted to the engine."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.nets.geometry import CAMERA
from model.nets.geonets import LIGHT_BANDS, LIGHT_LEVELS, Light, lookup, recall
from model.train.light_fit import brightness_error, fit


def _light(falloff, response) -> Light:
    light = Light()
    light.falloff.copy_(torch.as_tensor(falloff, dtype=torch.float32))
    light.response.copy_(torch.as_tensor(response, dtype=torch.float32))
    return light


def test_lookup_interpolates_between_entries_and_clamps_at_the_ends():
    table = torch.tensor([0.0, 1.0, 4.0])
    got = lookup(table, torch.tensor([-3.0, 0.0, 0.25, 1.5, 2.0, 9.0]))
    torch.testing.assert_close(got, torch.tensor([0.0, 0.0, 0.25, 2.5, 4.0, 4.0]))


def test_an_unfitted_light_changes_nothing():
    frame = torch.rand(1, 5, 96, 128) * 2 - 1
    depth = torch.full((1, 96, 128), 200.0)
    frame[:, 4] = depth
    motion = torch.tensor([[5.0, 40.0, 3.0, 0.0]])
    plain, plain_valid = recall(frame, depth, motion)
    lit, lit_valid = recall(frame, depth, motion, Light())
    torch.testing.assert_close(lit[:, :4], plain[:, :4])
    torch.testing.assert_close(lit_valid, plain_valid)


def test_a_wall_walked_up_to_brightens_by_the_tables():
    """A flat, dark wall 200 units ahead; the camera walks 100 units towards it."""
    falloff = torch.linspace(1.0, 0.0, LIGHT_LEVELS)
    light = _light(falloff, torch.full((LIGHT_BANDS,), 2.0))
    grey = 40.0
    frame = torch.full((1, 5, 96, 128), grey / 127.5 - 1)
    frame[:, 3] = 1.0                                                     # trust rides along, unlit
    frame[:, 4] = 200.0                                                   # each colour seen at its depth
    out, _ = recall(frame, torch.full((1, 96, 128), 200.0), torch.tensor([[0.0, 100.0, 0.0, 0.0]]), light)
    gain = np.exp(2.0 * float(lookup(falloff, torch.tensor(100.0 / CAMERA.depth_unit))
                              - lookup(falloff, torch.tensor(200.0 / CAMERA.depth_unit))))
    centre = (out[0, :3, 40:56, 56:72] + 1) * 127.5
    assert gain > 1.2
    torch.testing.assert_close(centre, torch.full_like(centre, grey * gain), atol=0.01, rtol=1e-4)
    assert torch.equal(out[:, 3], frame[:, 3])


def _synthetic_rows(falloff, response, n, rng, noise=0.02):
    """Rows as `carried_pixels` makes them, from a known light."""
    z0 = rng.uniform(8, 480, n)
    z1 = np.clip(z0 - rng.uniform(-40, 160, n), 8, 480)
    local = rng.uniform(10, 150, n)
    l0 = np.clip(local * rng.uniform(0.7, 1.3, n), 7, 249)
    truth = _light(falloff, response)
    gain = torch.exp(truth.gain_log(*(torch.from_numpy(c).float() for c in (local, z0, z1)))).numpy()
    l1 = l0 * gain * np.exp(rng.normal(0, noise, n))
    return np.stack([z0, z1, l0, l1, local], 1).astype(np.float32)


def test_the_fit_recovers_a_known_light():
    rng = np.random.default_rng(0)
    falloff = 1.2 * (1 - np.linspace(0, 1, LIGHT_LEVELS)) ** 2
    response = np.maximum(1.5 - np.arange(LIGHT_BANDS) * 0.2, 0.0)
    rows = _synthetic_rows(falloff, response, 200_000, rng)
    got_falloff, got_response = fit(rows)
    fitted, test = _light(got_falloff, got_response), _synthetic_rows(falloff, response, 50_000, rng)
    assert brightness_error(test, fitted)["rms"] < 0.3 * brightness_error(test, None)["rms"]
    bands = slice(1, 9)                                                    # the brightness bands the rows cover
    got = got_response[bands] * (got_falloff[5] - got_falloff[40])        # the product is what is identifiable
    want = response[bands] * (falloff[5] - falloff[40])
    np.testing.assert_allclose(got, want, rtol=0.1, atol=0.02)
    assert np.all(np.diff(got_response) <= 1e-9)                          # never rises with brightness


@pytest.mark.parametrize("grey", [0.0, 255.0])
def test_light_keeps_colours_in_range(grey):
    light = _light(torch.linspace(3.0, 0.0, LIGHT_LEVELS), torch.full((LIGHT_BANDS,), 4.0))
    colour = torch.full((1, 3, 8, 8), grey / 127.5 - 1)
    out = light(colour, torch.full((1, 8, 8), 400.0), torch.full((1, 8, 8), 10.0))
    assert out.min() >= -1 and out.max() <= 1


def test_colours_are_lit_from_the_depth_they_were_seen_at_whatever_the_path():
    """Walking 100 units up to a wall in one warp or in two (re-anchored halfway on a depth the
    depth net guesses anew) lights it the same; a painted pixel (seen at 0) is never lit."""
    light = _light(torch.linspace(1.0, 0.0, LIGHT_LEVELS), torch.full((LIGHT_BANDS,), 1.5))
    frame = torch.full((1, 5, 96, 128), 30.0 / 127.5 - 1)
    frame[:, 3] = 1.0
    frame[:, 4] = 200.0                                                    # seen at its depth
    frame[:, 4, :, :20] = 0.0                                              # painted
    wall = lambda d: torch.full((1, 96, 128), d)                          # noqa: E731
    step = lambda m: torch.tensor([[0.0, m, 0.0, 0.0]])                   # noqa: E731
    once, _ = recall(frame, wall(200.0), step(100.0), light)
    half, _ = recall(frame, wall(200.0), step(50.0), light)
    twice, _ = recall(half, wall(150.0), step(50.0), light)
    centre = (slice(None), slice(None), slice(40, 56), slice(56, 72))
    torch.testing.assert_close(twice[centre], once[centre], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(once[0, 4, 40:56, 56:72], torch.full((16, 16), 100.0))
    assert once[0, 0, 40:56, 56:72].min() > frame[0, 0, 0, 0] + 0.05       # it brightened
    still, _ = recall(frame, wall(100.0), step(0.0), light)               # lit where seen, not where painted
    torch.testing.assert_close(still[0, :3, :, :20], frame[0, :3, :, :20])
    assert still[0, :3, :, 30:].min() > frame[0, 0, 0, 0] + 0.05
    # The depth net's guess alone, warped again without moving: the colour does not change.
    again, _ = recall(once, wall(100.0), step(0.0), light)
    torch.testing.assert_close(again[centre], once[centre], atol=1e-5, rtol=1e-5)
