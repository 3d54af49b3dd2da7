"""The sampler's settings: Euler steps per frame, context noise and the adaptive skip.

The one owner of the settings' names and of the range of denoising steps: the runtime,
session files, world packs' defaults, the command line and the player read them here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from model.play.errors import UserError

DENOISE_STEPS = range(1, 5)         # Euler steps per frame: more is sharper, fewer is faster
STEPS_TEXT = f"{DENOISE_STEPS.start}..{DENOISE_STEPS.stop - 1}"
# A setting's annotation -> the JSON values a file may give it (bool is an int in Python: kept apart).
_JSON_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,)}


@dataclass(frozen=True)
class SamplerSettings:
    steps: int = 2                  # Euler steps per frame, in DENOISE_STEPS
    ctx_noise: float = 0.0          # noise level the context frames are written at
    adaptive: bool = False          # DISK-style: skip later steps when the latent settles
    adaptive_threshold: float = 0.02
    memory: bool = True             # geometry worlds: recall keyframes into new views (model.play.memory)
    carry: bool = True              # geometry worlds: carry seen pixels whole (off: the painter's frame as is)
    imagine: bool = True            # geometry worlds with an atlas: unseen sides from its views (model.play.atlas)
    map: bool = True                # geometry worlds with a map: its views of where the camera is (model.play.worldmap)

    def checked(self) -> "SamplerSettings":
        if self.steps not in DENOISE_STEPS:
            raise UserError(f"denoising steps must be {STEPS_TEXT}, got {self.steps}")
        if not 0.0 <= self.ctx_noise < 1.0:
            raise UserError(f"context noise must be in [0, 1), got {self.ctx_noise}")
        return self

    @staticmethod
    def check_file(values: dict, path) -> None:
        """Refuse a file's (`path`) sampler settings that are out of range, naming the file."""
        try:
            SamplerSettings(**SamplerSettings.known(values)).checked()
        except UserError as exc:
            raise UserError(f"{path}: sampler: {exc}") from None

    @staticmethod
    def known(values: dict) -> dict:
        """The entries of `values` that are sampler settings (packs and session files may hold more)."""
        names = {f.name for f in fields(SamplerSettings)}
        return {k: v for k, v in values.items() if k in names}


def denoise_option(steps: int | None) -> dict:
    """`--denoise-steps N` as sampler settings: {} when not given; a 0 is refused, never ignored."""
    if steps is None:
        return {}
    if steps not in DENOISE_STEPS:
        raise UserError(f"--denoise-steps must be {STEPS_TEXT}, got {steps}")
    return {"steps": steps}


RNG_SEEDS = range(2 ** 63)          # what a session file can hold (a signed 64-bit integer, never negative)


def check_rng_seed(value: int, what: str = "--rng-seed") -> int:
    if value not in RNG_SEEDS:
        raise UserError(f"{what} must be a whole number 0..2**63-1, got {value}")
    return value


def wrong_type(name: str, value: object) -> bool:
    """True if a file's `value` cannot be the setting `name` (an unknown name is never wrong)."""
    kinds = {f.name: _JSON_TYPES[f.type] for f in fields(SamplerSettings)}.get(name)
    if kinds is None:
        return False
    return not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
