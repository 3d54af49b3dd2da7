"""The held buttons drawn into a demo frame: a bar of 8 boxes, lit while held (numpy only).

    F B L R ◄ ► ⚡ U   (forward, back, strafe left/right, turn left/right, attack, use)

Glyphs are 5x7 bitmaps drawn in "units" of `unit` pixels, so the bar stays crisp at any
`--scale`: the caller upscales the frame first and passes the scale as the unit.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from model.play.world import N_BUTTONS

_GLYPHS = {      # one per button, in model.play.world.BUTTONS order
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "◄": ("....#", "...##", "..###", ".####", "..###", "...##", "....#"),
    "►": ("#....", "##...", "###..", "####.", "###..", "##...", "#...."),
    "⚡": ("..##.", ".##..", "##...", "#####", "...##", "..##.", ".##.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
}
LABELS = tuple(_GLYPHS)
BOX_W, BOX_H, GAP, PAD, MARGIN = 9, 11, 2, 2, 2      # in units
BAR_W = N_BUTTONS * BOX_W + (N_BUTTONS - 1) * GAP

# (colour, opacity): dim boxes keep the picture readable behind them; lit ones must pop.
BOX_OFF, BOX_ON = ((0, 0, 0), 0.55), ((255, 176, 32), 0.9)
GLYPH_OFF, GLYPH_ON = ((210, 210, 210), 0.7), ((20, 20, 20), 1.0)


@lru_cache(maxsize=1)
def _masks() -> tuple[np.ndarray, np.ndarray]:
    """At unit resolution: which box each bar pixel belongs to (-1: gap), and the glyph pixels."""
    owner = np.full((BOX_H, BAR_W), -1, np.int8)
    glyph = np.zeros((BOX_H, BAR_W), bool)
    for i, label in enumerate(LABELS):
        x = i * (BOX_W + GAP)
        owner[:, x:x + BOX_W] = i
        bitmap = np.array([[c == "#" for c in row] for row in _GLYPHS[label]])
        glyph[PAD:PAD + 7, x + PAD:x + PAD + 5] = bitmap
    return owner, glyph


def draw_buttons(frame: np.ndarray, action: np.ndarray, unit: int = 1) -> np.ndarray:
    """A copy of `frame` (H, W, 3) uint8 with the button bar at the bottom centre."""
    h, w = frame.shape[:2]
    unit = min(int(unit), w // (BAR_W + 2 * MARGIN), h // (BOX_H + 2 * MARGIN))
    if unit < 1:
        return frame.copy()                     # a frame too small for the bar stays as it is
    owner, glyph = _masks()
    held = np.asarray(action, bool)[:N_BUTTONS]
    lit = np.where(owner >= 0, held[np.maximum(owner, 0)], False)
    layers = [(owner >= 0) & ~lit, lit, glyph & ~lit, glyph & lit]
    styles = [BOX_OFF, BOX_ON, GLYPH_OFF, GLYPH_ON]
    out = frame.copy()
    top, left = h - (BOX_H + MARGIN) * unit, (w - BAR_W * unit) // 2
    region = out[top:top + BOX_H * unit, left:left + BAR_W * unit].astype(np.float32)
    for mask, (colour, alpha) in zip(layers, styles):
        m = mask.repeat(unit, axis=0).repeat(unit, axis=1)[..., None] * alpha
        region = region * (1 - m) + np.array(colour, np.float32) * m
    out[top:top + BOX_H * unit, left:left + BAR_W * unit] = np.rint(region).astype(np.uint8)
    return out
