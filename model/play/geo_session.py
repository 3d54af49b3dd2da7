"""The geometry-aware world at play time: one session step per 40 ms frame.

    prior, valid, weapon, motion, depth = observe(frame_t, actions, motions)  # depth, motion, warp
    anchor, anchor_valid = recall(anchor frame, its depth, motion anchor -> new camera)
    memory, memory_valid = recall(keyframe, its depth, motion keyframe -> new camera)
    x0 = paint(x_tau, tau, prior, valid, frame_t, weapon, action, ctx, memory, memory_valid)
    frame_t+1 = the anchor where it covers, the memory where it is trusted more, x0 elsewhere

Geometry moves the camera and learning fills in the rest, literally: what the camera saw
is carried into the new view by copying pixels whole (a nearest-pixel warp), from one
anchor frame over many steps instead of frame to frame, so that neither resampling nor the
painter's regression to the mean blurs it step after step (measured: the painter's own
output fell to 0.3x real sharpness in one step, and to 0.02x in 25). The painter paints
what no kept frame covers: disocclusions, the view's edges and the weapon sprite. Every
pixel carries a trust, 1 when it came from a seen frame and 0 when it was painted; a
keyframe of trusted pixels replaces painted ones when the camera looks at them again.

The context is fixed-size: the newest frame, rings of the last K actions and camera
motions (the motion net's inputs), the camera's pose (the sum of its predicted motions)
and the keyframe memory (model.play.memory). Every frame is quantized to uint8 before it becomes
the next context, as the training frames were, so a replay from the same inputs rebuilds the
same frames bit for bit. What the player shows is that frame with its carried pixels read
between pixels from the frames they were kept in (bicubic, once), where the context keeps
them whole: whole pixels put each up to half a pixel off, a view read between pixels again
at every re-anchor would blur.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from model.play.atlas import Atlas, load_atlas
from model.play.errors import UserError
from model.play.filters import box_mean
from model.play.memory import (KeyframeMemory, MemorySnapshot, advance_pose, relative_motion, view_distance,
                               view_gap)
from model.play.pack import WorldPack
from model.play.runtime import SessionControls, relative_change
from model.play.sampler import SamplerSettings
from model.play.seeds import SceneSeed
from model.play.world import N_BUTTONS
from model.play.worldmap import Located, WorldMap, load_map

GEO_MODELS = ("observe", "recall", "painter")   # the ONNX files a geometry pack needs
MEMORY_KEYFRAMES = 64                          # 64 x 147 KB: 9.4 MB of keyframes at most
ANCHOR_COVER = 0.9     # re-anchor once the anchor covers less of the view (weapon aside) than this
ANCHOR_AGE = 32        # frames: re-anchor at least this often, so the anchor's depth stays fresh
ANCHOR_MOVE = 64.0     # map units: or once the camera has moved this far from it
ANCHOR_TURN = 30.0     # degrees: or turned this far
TRUST_MARGIN = 0.5     # a keyframe replaces the anchor's pixels only if it is trusted this much more
HERE_GAP = 0.15        # a keyframe this near the view (view_gap: 7.5 degrees, or 29 units) shows it wherever it covers
COME_BACK = 1.0        # if the camera has been this far from it since (view_gap: come back to, not stood at)
WARM_UP = 16           # seed frames the motion net runs over at reset
REST_TICS = 4          # tics of (almost) no motion: the camera rests (model.play.memory)
SHADE_RADIUS = 3       # the painter's change to carried pixels, kept below this scale (7x7 box)
SHADE_SEEN = 0.0       # and the share of it that seen (trusted) pixels take; painted ones take all
IMAGINE_BAND = 0.25    # the outer quarter of the view's columns on each side...
IMAGINE_AT = 0.08      # ...painted on this share of it: the next step places an atlas view there
MAP_MARGIN = 0.15      # a map view replaces the seed frame's pixels only if this much nearer the view
MAP_VIEWS = 3          # map views warped into each new view, nearest on top (measured: 1 -> 3, +0.9 dB at 1 s)
SHOWN_NEAR_WEAPON = 0.5   # a shown pixel read between pixels this much toward the weapon's mark shows the whole pixel
LAYER = 8              # channels of a warped layer: colour, trust, seen depth, colour as shown (5 without)
SHOWN = [0, 1, 2, 5, 6, 7]    # a layer's colours carried on and as shown


@dataclass
class GeoTimings:
    dynamics_ms: float = 0.0         # the painter's Euler steps
    geometry_ms: float = 0.0         # depth, camera motion and the warp
    other_ms: float = 0.0
    decode_ms: float = 0.0           # no decoder: frames are made in pixel space
    passes: int = 0
    pass_ms: list[float] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.dynamics_ms + self.geometry_ms + self.other_ms


@dataclass(frozen=True)
class Kept:
    """A frame kept to warp from (never written in place): colours, trust, depth, camera pose."""
    frame: np.ndarray          # (H, W, 3) uint8
    trust: np.ndarray          # (H, W) uint8, 0 or 1
    depth: np.ndarray          # (H, W) float32 map units
    pose: np.ndarray           # (4,) session coordinates
    born: int                  # frame index
    seen: np.ndarray           # (H, W) float32: the depth each colour was seen at, 0 if painted (the light)
    hide: np.ndarray | None = None   # (H, W) float32, 1 where it shows no world (its weapon); None: the session's


@dataclass(frozen=True)
class GeoSnapshot:
    frame_index: int
    frame: np.ndarray
    shown: np.ndarray
    actions: np.ndarray
    motions: np.ndarray
    rng_state: dict
    pose: np.ndarray
    memory: MemorySnapshot
    trust: np.ndarray
    anchor: Kept | None
    sprite: tuple | None
    seen: np.ndarray | None
    imagined: Kept | None
    want: int
    located: Located | None


def pack_atlas(pack: WorldPack) -> Atlas:
    """The pack's atlas, checked against its sha256 each time and read once per content: its
    arrays are never written, so sessions share it (a new session, on a backend switch, would
    otherwise rebuild its matching features: 0.9 s)."""
    path = pack.verified_model("atlas")
    return _read_atlas(str(path), pack.meta["models"]["atlas"]["sha256"])


@lru_cache(maxsize=2)
def _read_atlas(path: str, sha256: str) -> Atlas:
    del sha256                  # the cache key: a changed file is read again
    return load_atlas(Path(path))


def pack_map(pack: WorldPack) -> WorldMap:
    """The pack's map, checked against its sha256 and read once per content (as `pack_atlas`)."""
    path = pack.verified_model("map")
    return _read_map(str(path), pack.meta["models"]["map"]["sha256"])


@lru_cache(maxsize=2)
def _read_map(path: str, sha256: str) -> WorldMap:
    del sha256
    return load_map(Path(path))


def on_map(origin: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """A session pose (its camera at reset is the origin, yaw 0) as a pose on the map, given
    where on the map that origin is."""
    a = np.radians(origin[3])
    x, y = pose[0], pose[1]
    return np.array([origin[0] + x * np.cos(a) - y * np.sin(a), origin[1] + x * np.sin(a) + y * np.cos(a),
                     origin[2] + pose[2], (origin[3] + pose[3]) % 360.0])


def to_float(frame_u8: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    return (frame_u8.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)


def to_u8(x: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return np.clip(np.rint((x[0].transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def shows(recall_session) -> bool:
    """Whether a recall graph (an ONNX Runtime session) gives the view read between pixels:
    its "shown" output (packs before it show the carried frame)."""
    return any(o.name == "shown" for o in recall_session.get_outputs())


class OrtGeoBackend:
    """ONNX Runtime sessions for the two graphs."""

    def __init__(self, pack: WorldPack, provider: str = "CPUExecutionProvider"):
        from model.play.backends import ort_session, session_options    # backends imports this module
        self.name = "cpu" if provider == "CPUExecutionProvider" else "cuda-onnx"
        opts = session_options()
        self._sessions = {role: ort_session(pack.verified_model(role), opts, provider) for role in GEO_MODELS}
        # 5 channels: colour, trust and the depth each colour was seen at (a pack with the light)
        self.recall_channels = int(self._sessions["recall"].get_inputs()[0].shape[1])
        self.shows = shows(self._sessions["recall"])

    def observe(self, frame, actions, motions):
        return self._sessions["observe"].run(None, {"frame": frame, "actions": actions, "motions": motions})

    def paint(self, **inputs) -> np.ndarray:
        return self._sessions["painter"].run(None, inputs)[0]

    def recall(self, frame, depth, motion):
        """frame (1, C, H, W): colour, trust and, with the light, the depth each colour was seen at."""
        return self._sessions["recall"].run(None, {"frame": frame, "depth": depth, "motion": motion})


class GeoSession(SessionControls):
    """reset / step / snapshot / restore, as `runtime.WorldSession`."""

    def __init__(self, pack: WorldPack, backend, settings: SamplerSettings):
        self.pack, self.backend, self.settings = pack, backend, settings
        self.history = int(pack.config["geometry"]["history"])
        self.timings = GeoTimings()
        self.frame_index = -1
        self.last_steps_used = settings.steps
        self._rng = np.random.Generator(np.random.PCG64(0))
        self._frame = None                         # the frame carried on: whole pixels (the next step's context)
        self._shown = None                         # the frame shown: the anchor's pixels read between pixels
        self._actions = np.zeros((self.history, N_BUTTONS), np.float32)   # applied before now, oldest first
        self._motions = np.zeros((self.history, 4), np.float32)
        self._pose = np.zeros(4)                   # x, y, eye z, yaw: the session's own coordinates
        self.memory = KeyframeMemory(MEMORY_KEYFRAMES, pack.frame_hw)
        self.memory_share = 0.0                    # of the last frame: pixels that came from the memory
        self.painted_share = 0.0                   # of the last frame: pixels the painter made
        self._trust = np.ones(pack.frame_hw, np.uint8)
        self._anchor: Kept | None = None
        self._sprite: tuple[np.ndarray, np.ndarray] | None = None   # the weapon: mask (1,1,H,W), colours
        self._seen: np.ndarray | None = None       # the frame's: where None, each colour was seen at its depth
        self._lit = getattr(backend, "recall_channels", 5) == 5
        self._shows = bool(getattr(backend, "shows", False))     # the view read between pixels (SHOWN)
        self._layer = LAYER if self._shows else 5
        self.atlas: Atlas | None = pack_atlas(pack) if "atlas" in pack.meta["models"] else None
        self.imagined_share = 0.0                  # of the last frame: pixels from an atlas view
        self._imagined: Kept | None = None         # the atlas view placed beside the camera
        self._want = 0                             # the side (1 left, -1 right) the last frame left unseen
        self._painted: np.ndarray | None = None    # the last frame's painted pixels (H, W)
        self.worldmap: WorldMap | None = pack_map(pack) if "map" in pack.meta["models"] else None
        self.located: Located | None = None        # where on the map the seed's last frame was seen
        self._seed_index = -1
        self.map_share = 0.0                       # of the last frame: pixels from map views

    @property
    def pose(self) -> np.ndarray:
        """The camera (x, y, eye z, yaw degrees) in the session's own coordinates: the sum of
        the model's predicted motions since reset (nothing comes from an engine)."""
        return self._pose.copy()

    def reset(self, seed: SceneSeed, rng_seed: int = 0) -> np.ndarray:
        """Start from the seed's last frame. The camera's motion there follows from the seed's
        own frames and actions: the motion net runs over the last WARM_UP of them (from rest),
        so a seed taken mid-stride starts mid-stride (measured: started from rest, the first
        steps of a walk or turn were too short by most of the engine's momentum)."""
        self._rng = np.random.Generator(np.random.PCG64(int(rng_seed)))
        self._actions = np.zeros((self.history, N_BUTTONS), np.float32)
        self._motions = np.zeros((self.history, 4), np.float32)
        actions = np.zeros((0, N_BUTTONS)) if seed.actions is None else np.asarray(seed.actions, np.float32)
        actions = actions[len(actions) - min(len(actions), len(seed.frames) - 1, WARM_UP):]
        for frame, action in zip(seed.frames[len(seed.frames) - 1 - len(actions):-1], actions):
            self._actions = np.concatenate([self._actions[1:], action[None]])
            motion = self.backend.observe(to_float(frame), self._actions[None], self._motions[None])[3]
            self._motions = np.concatenate([self._motions[1:], np.asarray(motion, np.float32).reshape(1, 4)])
        self._pose = np.zeros(4)
        self.memory.clear()
        self.memory_share = self.painted_share = 0.0
        self.frame_index = self._seed_index = len(seed.frames) - 1
        self._frame = self._shown = np.ascontiguousarray(seed.frames[-1]).copy()
        self._trust = np.ones(self.pack.frame_hw, np.uint8)        # a seed frame is a seen frame
        self._anchor = self._sprite = self._seen = self._imagined = None
        self._want, self.imagined_share, self.map_share = 0, 0.0, 0.0
        self.located = None
        if self.worldmap is not None and self.settings.map:
            depth = np.asarray(self.backend.observe(to_float(self._frame), self._actions[None], self._motions[None])[4])
            self.located = self.worldmap.locate(self._frame, depth.reshape(self.pack.frame_hw))
        return self._shown

    def step(self, action: np.ndarray) -> np.ndarray:
        if self._frame is None:
            raise RuntimeError("reset() the session before step()")
        t0 = time.perf_counter()
        a = np.asarray(action, np.float32).reshape(N_BUTTONS)
        actions = np.concatenate([self._actions[1:], a[None]])          # K actions, the current last
        prev = to_float(self._frame)
        prior, valid, weapon, motion, depth = (np.asarray(x, np.float32) for x in
                                               self.backend.observe(prev, actions[None], self._motions[None]))
        motion = motion.reshape(4)
        pose = advance_pose(self._pose, motion)
        if self._sprite is None:         # the weapon as the seed frame shows it, held for the session
            self._sprite = (weapon, prev)
        weapon = self._sprite[0]
        if self._anchor is None:
            self._anchor = Kept(self._frame, self._trust, depth[0], self._pose.copy(), self.frame_index,
                                self._seen_now(depth[0]))
        kept = self._anchor
        to_anchor = relative_motion(kept.pose, pose)
        anchor, anchor_valid, anchor_world = self._warp(kept.frame, kept.trust, kept.depth, to_anchor, kept.seen)
        memory, memory_valid, to_memory = self._recall(depth, pose)
        imagined, imagined_keep = self._imagine(depth[0], pose, weapon)
        # A keyframe that saw the view from closer than the anchor did, or from about here (a
        # place come back to: the anchor is then the end of a chain of warps walked out and back).
        come_back = to_memory is not None and self.memory.recalled_strayed >= COME_BACK
        closer = to_memory is not None and (view_gap(to_memory) < view_gap(to_anchor)
                                            or (come_back and view_gap(to_memory) < HERE_GAP))
        mapped = self._mapped(pose)
        from_map = None
        if mapped is not None:           # the map's views, where they cover, over the memory's
            layer, map_valid, map_gap = mapped
            from_map = map_valid > 0.5
            margin = MAP_MARGIN if kept.born == self._seed_index else 0.0    # a real frame beats a map view
            closer = np.where(from_map, map_gap + margin < view_gap(to_anchor), closer)
            memory, memory_valid = np.where(from_map, layer, memory), np.maximum(map_valid, memory_valid)
        world = 1.0 - weapon
        keep = anchor_valid * world
        prior = keep * anchor[:, :3] + (1 - keep) * prior                # the sharpest prior there is
        t1 = time.perf_counter()
        x0, pass_ms = self._paint(prior, np.maximum(valid, keep), prev, weapon, a, memory[:, :3], memory_valid)
        t2 = time.perf_counter()
        if self.settings.carry:
            frame, shown, self._trust, self._seen = self._composite(x0, anchor, keep, memory, memory_valid * world,
                                                                    closer, anchor_world, imagined, imagined_keep,
                                                                    from_map)
            frame = np.where(weapon > 0.5, self._sprite[1], frame)
            if self._shows:
                shown = np.where(weapon > 0.5, self._sprite[1], shown)
            self._want = self._wanted_side(self._painted & (weapon[0, 0] < 0.5))
        else:                            # the ablation: the painter's own frame
            frame, self._trust, self._seen = x0, np.zeros_like(self._trust), np.zeros(self.pack.frame_hw, np.float32)
        self._frame = to_u8(frame)
        self._shown = to_u8(shown) if self._shows and self.settings.carry else self._frame
        self._actions, self._pose = actions, pose
        self._motions = np.concatenate([self._motions[1:], motion[None]])
        self.frame_index += 1
        if self._anchor_spent(keep.sum() / world.sum()):
            self._anchor = None                                          # the next step anchors on this frame
        self.timings = GeoTimings(dynamics_ms=(t2 - t1) * 1e3, geometry_ms=(t1 - t0) * 1e3,
                                  other_ms=(time.perf_counter() - t2) * 1e3, passes=len(pass_ms), pass_ms=pass_ms)
        return self._shown

    def _anchor_spent(self, cover: float) -> bool:
        turn, dist = view_distance(self._anchor.pose[None], self._pose)
        return (cover < ANCHOR_COVER or self.frame_index - self._anchor.born >= ANCHOR_AGE
                or dist[0] > ANCHOR_MOVE or turn[0] > ANCHOR_TURN)

    def _seen_now(self, depth: np.ndarray) -> np.ndarray:
        """The current frame's seen depths (a seed frame's colours were all seen at their depth)."""
        return depth.astype(np.float32) if self._seen is None else self._seen

    def _warp(self, frame, trust, depth, motion, seen, hide=None):
        """A kept frame moved by `motion`: (1, 5, H, W) colour, trust and seen depth (relit, with
        the light), and where the recall graph gives it (LAYER channels) the colours as shown,
        its cover (1, 1, H, W) and where it shows the world. The colours shown are read between
        pixels where the frame covers, and are the whole pixels where that reading reaches into
        the weapon.
        Kept frames show the weapon where the session holds it (or where `hide` says); its
        pixels go with trust -1, so that nothing takes the sprite for the world (measured:
        copies of the weapon spread along the floor over a long walk)."""
        mark = trust.astype(np.float32) - 2.0 * (self._sprite[0][0, 0] if hide is None else hide)
        channels = [to_float(frame), mark[None, None]] + ([seen[None, None]] if self._lit else [])
        warped, ok, *between = self.backend.recall(np.concatenate(channels, axis=1), depth[None],
                                                   np.asarray(motion, np.float32)[None])
        warped, ok = np.asarray(warped, np.float32), np.asarray(ok, np.float32)
        world = warped[:, 3:4] > -0.5
        seen = warped[:, 4:5] if self._lit else np.zeros_like(ok)
        layer = [warped[:, :3], np.maximum(warped[:, 3:4], 0), seen]
        if self._shows:
            between = np.asarray(between[0], np.float32)
            read = (ok > 0.5) & (np.abs(between[:, 3:4] - warped[:, 3:4]) < SHOWN_NEAR_WEAPON)
            layer.append(np.where(read, between[:, :3], warped[:, :3]))
        return np.concatenate(layer, axis=1), ok * world, world

    def _recall(self, depth, pose: np.ndarray):
        """Keep the current frame if it shows something new; recall what saw the next view."""
        hw = tuple(self.pack.frame_hw)
        nothing = np.zeros((1, self._layer) + hw, np.float32), np.zeros((1, 1) + hw, np.float32), None
        if not self.settings.memory:
            return nothing
        self.memory.consider(self._frame, self._trust, depth[0], self._pose, self.frame_index, self._resting(),
                             self._seen_now(depth[0]))
        found = self.memory.recall(pose, self.frame_index + 1)
        if found is None:
            return nothing
        # Recalled at the current eye height: the motion net predicts the view bob's mean, so
        # eye height summed over a walk drifts (measured: 20 units over the revisit test's 4 s),
        # and a keyframe warped by that drift lands rows off.
        motion = found[-1] * np.array([1, 1, 1, 0], np.float32)
        frame, trust, depth, seen = found[:-1]
        memory, memory_valid, *_ = self._warp(frame, trust, depth, motion, seen)
        return memory, memory_valid, motion

    def _mapped(self, pose: np.ndarray):
        """The MAP_VIEWS map views nearest the camera's place on the map, warped into the new view
        (nearest on top): (1, LAYER, H, W), where they cover (1, 1, H, W) and the nearest's view gap;
        None unless the session is located."""
        if self.located is None or not self.settings.map:
            return None
        here = on_map(self.located.pose, pose)
        views, gaps = self.worldmap.nearest(here, self.located.map, MAP_VIEWS)
        layer = valid = None
        seen = np.ones(self.pack.frame_hw, np.uint8)                   # a map view is all seen
        for k in map(int, views[::-1]):
            # at the current eye height, as _recall: the summed eye height drifts
            motion = relative_motion(self.worldmap.pose[k], here) * np.array([1, 1, 1, 0], np.float32)
            depth = self.worldmap.depth(k)
            warped, ok, *_ = self._warp(self.worldmap.frame(k), seen, depth, motion, depth,
                                       (~self.worldmap.world(k)).astype(np.float32))
            layer = warped if layer is None else np.where(ok > 0.5, warped, layer)
            valid = ok if valid is None else np.maximum(ok, valid)
        return layer, valid, float(gaps[0])

    def _imagine(self, depth: np.ndarray, pose: np.ndarray, weapon: np.ndarray):
        """The atlas view beside the camera, seen from `pose`: placed anew on the side the last
        frame left unseen (model.play.atlas), else the one placed before; (1, LAYER, H, W) and where
        it shows the world off the weapon (1, 1, H, W), or (None, None) without one."""
        if self.atlas is None or not self.settings.imagine:
            return None, None
        if self._want:
            pick = self.atlas.pick(self._frame, depth, weapon[0, 0] < 0.5, self._want)
            if pick is not None:
                self._imagined = self._placed(pick, tuple(self.pack.frame_hw))
        if self._imagined is None:
            return None, None
        kept = self._imagined
        motion = relative_motion(kept.pose, pose) * np.array([1, 1, 1, 0], np.float32)   # eye height: as _recall
        imagined, valid, *_ = self._warp(kept.frame, kept.trust, kept.depth, motion, kept.seen, kept.hide)
        return imagined, valid * (1.0 - weapon)

    def _placed(self, pick, hw) -> Kept:
        """An atlas view as a kept frame beside the current camera (turned by the pick's angle)."""
        at = self._pose.copy()
        at[3] = (at[3] + pick.theta) % 360.0
        a, depth = self.atlas, self.atlas.depth[pick.index].astype(np.float32)
        return Kept(a.frames[pick.index], np.ones(hw, np.uint8), depth, at, self.frame_index, depth,
                    (~a.world[pick.index]).astype(np.float32))

    def _wanted_side(self, painted: np.ndarray) -> int:
        """1 (left) or -1 (right) if that outer band of the view is painted enough to imagine, else 0."""
        band = max(1, int(painted.shape[1] * IMAGINE_BAND))
        left, right = painted[:, :band].mean(), painted[:, -band:].mean()
        if max(left, right) < IMAGINE_AT:
            return 0
        return 1 if left >= right else -1

    def _resting(self) -> bool:
        """The camera has all but stopped over the last few tics (by its own motions)."""
        recent = np.abs(self._motions[-REST_TICS:])
        return bool((recent[:, 0] < 0.2).all() and (recent[:, 1:3] < 0.5).all())

    def _composite(self, x0, anchor, keep, memory, memory_keep, memory_closer=False, detail=None,
                   imagined=None, imagined_keep=None, from_map=None):
        """Each pixel from the anchor where it covers, from the memory where only it covers,
        where it is trusted more, or everywhere it covers if its keyframe saw the view from
        closer than the anchor did (walk out and back: the anchor's view is a magnified copy,
        the keyframe's the original); returns the frame and its trust.

        Carried pixels keep their detail and take the painter's shading (light falling off with
        distance, doors, flashes): its change, smoothed, so that its blur never lands. Pixels
        nothing covers are the painter's at coarse scale, with detail borrowed from the anchor's
        mirrored texture (a regression painter's own detail is the mean: flat), and trust 0,
        so that the memory replaces them once the camera sees them again; but where an atlas
        view placed beside the camera covers them, they are its, carried from then on as seen.
        The frame shown is the same but that its carried pixels are read between pixels (each
        layer's last three channels): the frame carried on keeps them whole, so re-anchoring
        never resamples a pixel twice, and the view shows each one resampled once from a kept
        frame (measured: whole pixels put each up to half a pixel off, 0.5 dB at horizon 1).
        Returns the frame, the frame shown, its trust and its seen depths (0 where painted: the
        light leaves those alone)."""
        anchor_trust, memory_trust = anchor[:, 3:4] * keep, memory[:, 3:4] * memory_keep
        use_memory = (memory_keep > 0.5) & ((keep < 0.5) | memory_closer | (memory_trust > anchor_trust + TRUST_MARGIN))
        colours = SHOWN if self._shows else slice(0, 3)                           # carried on (and as shown)
        carried = np.where(use_memory, memory[:, colours], anchor[:, colours])
        if detail is not None:           # uncovered pixels whose mirrored source is the weapon: the painter's
            carried = np.where(use_memory | (keep > 0.5) | detail, carried,
                               np.concatenate([x0, x0], axis=1) if self._shows else x0)
        trust = np.where(use_memory, memory_trust, anchor_trust)
        seen = np.where(use_memory, memory[:, 4:5], anchor[:, 4:5])
        uncovered = (keep < 0.5) & ~use_memory
        use_imagined = uncovered & (imagined_keep > 0.5) if imagined is not None else np.zeros_like(uncovered)
        if use_imagined.any():
            carried = np.where(use_imagined, imagined[:, colours], carried)
            trust = np.where(use_imagined, imagined[:, 3:4], trust)
            seen = np.where(use_imagined, imagined[:, 4:5], seen)
        gain = np.where(trust > 0.5, SHADE_SEEN, 1.0).astype(np.float32)
        shade = gain * box_mean(x0 - carried[:, :3], SHADE_RADIUS, axes=(2, 3))
        frame = carried[:, :3] + shade
        shown = carried[:, 3:] + shade if self._shows else frame
        painted = uncovered & ~use_imagined
        seen = np.where(painted, 0.0, seen)
        self.memory_share = float((use_memory if from_map is None else use_memory & ~from_map).mean())
        self.painted_share = float(painted.mean())
        self.imagined_share = float(use_imagined.mean())
        self.map_share = float((use_memory & from_map).mean()) if from_map is not None else 0.0
        self._painted = painted[0, 0]
        return frame, shown, (trust[0, 0] > 0.5).astype(np.uint8), seen[0, 0].astype(np.float32)

    def _paint(self, prior, valid, prev, weapon, action, memory, memory_valid):
        """Euler steps of the straight path x_tau = (1 - tau) x0 + tau noise, tau 1 -> 0.
        Returns the clean frame and the milliseconds of each pass."""
        taus = np.linspace(1.0, 0.0, self.settings.steps + 1, dtype=np.float32)
        x = self._rng.standard_normal(prev.shape, dtype=np.float32)
        fixed = {"prior": prior, "valid": valid, "prev": prev, "weapon": weapon, "action": action[None],
                 "ctx_noise": np.array([self.settings.ctx_noise], np.float32), "memory": memory,
                 "memory_valid": memory_valid}
        last, pass_ms = None, []
        for k in range(self.settings.steps):
            tic = time.perf_counter()
            x0 = np.asarray(self.backend.paint(x_tau=x, tau=taus[k:k + 1], **fixed))
            pass_ms.append((time.perf_counter() - tic) * 1e3)
            # DISK-style skip: stop once the prediction has settled.
            if self.settings.adaptive and last is not None and relative_change(x0, last) < self.settings.adaptive_threshold:
                break
            x, last = x0 + (taus[k + 1] / taus[k]) * (x - x0), x0
        self.last_steps_used = len(pass_ms)
        return x0, pass_ms

    def snapshot(self) -> GeoSnapshot:
        return GeoSnapshot(self.frame_index, self._frame, self._shown, self._actions.copy(), self._motions.copy(),
                           self._rng.bit_generator.state, self._pose.copy(), self.memory.snapshot(),
                           self._trust, self._anchor, self._sprite, self._seen, self._imagined, self._want,
                           self.located)

    def restore(self, snap: GeoSnapshot) -> np.ndarray:
        if not isinstance(snap, GeoSnapshot):
            raise UserError("snapshot is not of a geometry world session")
        self.frame_index, self._frame, self._shown = snap.frame_index, snap.frame, snap.shown
        self._actions, self._motions = snap.actions.copy(), snap.motions.copy()
        self._rng.bit_generator.state = snap.rng_state
        self._pose = snap.pose.copy()
        self.memory.restore(snap.memory)
        self._trust, self._anchor, self._sprite, self._seen = snap.trust, snap.anchor, snap.sprite, snap.seen
        self._imagined, self._want, self.located = snap.imagined, snap.want, snap.located
        return self._shown

