"""What crosses the thread boundary: the worker's start-up config and what it emits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorldConfig:
    world: str | None = None
    seed: str | None = None              # asked for (command line): an error if it fails
    fallback_seed: str | None = None     # remembered (settings): quietly skipped if it fails
    backend: str = "auto"
    steps: int | None = None
    rng_seed: int | None = None
    record: str | None = None            # start recording to this file at once
    audio_in_recordings: bool = True


@dataclass(frozen=True)
class FramePacket:
    frame: object                        # (H, W, 3) uint8
    index: int                           # the session's frame number
    earliest: int                        # oldest frame rewind can reach
    latest: int                          # newest frame (differs from index while scrubbing)
    kind: str                            # "step", "reset", "scrub" or "rewind"
    action: object = None
    timings: object = None               # model.play.runtime.StepTimings of the step
    steps: int = 0
    steps_used: int = 0
    backend: str = ""
    event_t: float | None = None         # earliest input event this frame is the first to see
    tick_ms: float = 0.0
    geo: MapState | None = None          # a geometry world's pose and memory; None for a latent world


@dataclass(frozen=True)
class MapState:
    """What the map and the HUD show of a geometry session, read in the worker at each frame
    (the GUI never touches the session). While scrubbing it is the session's newest frame's."""
    pose: tuple[float, float, float]     # x, y, yaw in degrees: the sum of the model's own motions
    keyframes: object                    # (K, 2) float64 keyframe positions, in the pose's coordinates
    count: int                           # keyframes held
    capacity: int
    memory_share: float                  # of the frame: the fraction of pixels that came from the memory
    painted_share: float = 0.0           # and that nothing seen covered: the painter made them
    imagined_share: float = 0.0          # and that an atlas view filled in (model.play.atlas)
    map_share: float = 0.0               # and that the world's map supplied (model.play.worldmap)
    located: bool = False                # the session found its first frame on the map

    @classmethod
    def of(cls, session) -> MapState | None:
        """The state of a session that has a pose and a memory (a GeoSession); None otherwise."""
        memory = getattr(session, "memory", None)
        if memory is None or not hasattr(session, "pose"):
            return None
        x, y, _z, yaw = (float(v) for v in session.pose)
        return cls((x, y, yaw), memory.trail(), int(memory.count), int(memory.capacity),
                   float(session.memory_share), float(getattr(session, "painted_share", 0.0)),
                   float(getattr(session, "imagined_share", 0.0)), float(getattr(session, "map_share", 0.0)),
                   getattr(session, "located", None) is not None)


@dataclass(frozen=True)
class WorldInfo:
    id: str
    title: str
    root: Path
    seeds: tuple[tuple[str, Path], ...]  # (name, .npz path) of the pack's scene seeds


@dataclass(frozen=True)
class SessionInfo:
    world_id: str
    seed_name: str
    seed_path: Path | None
    pack_seed: bool                      # True: the pack's own (remembered by name)
    rng_seed: int
    backend: str
    steps: int
    geometry: bool = False               # the world has poses and a memory (the map can be shown)


@dataclass(frozen=True)
class RecordingStatus:
    path: Path
    seconds: float                       # recorded so far (sent once a second)
