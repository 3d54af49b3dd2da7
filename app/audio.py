"""Sound: a numpy synth that answers the player's actions, and a small output interface.

The live synth runs in the audio device's callback and reads the input state itself,
every 256-sample block (5.3 ms at 48 kHz), so a sound starts within one block plus the
device's latency of the key press: it never waits for the next 40 ms frame. Recordings
use a second synth fed the recorded frames' actions, so their audio matches the video.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from model.play.world import BUTTONS, FPS

RATE = 48_000
BLOCK = 256
FRAME_SAMPLES = RATE // FPS
STEP_PERIOD_S = 0.36            # footfalls while moving
FIRE_PERIOD_S = 0.50            # refire while attack is held
MOVES = [BUTTONS.index(b) for b in ("MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT")]
ATTACK, USE = BUTTONS.index("ATTACK"), BUTTONS.index("USE")


def _env(n: int, rate: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * rate)).astype(np.float32)


def _lowpass(x: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return np.fft.irfft(spec / np.sqrt(1 + (f / cutoff) ** 4), len(x)).astype(np.float32)


def make_sounds(rate: int = RATE, seed: int = 0) -> dict[str, np.ndarray]:
    """Footfall, weapon, use: synthesized once (deterministic), mixed by slicing."""
    rng = np.random.default_rng(seed)
    t = lambda s: np.arange(int(s * rate)) / rate                       # noqa: E731
    ts = t(0.09)
    sweep = np.sin(2 * np.pi * np.cumsum(np.linspace(140, 55, len(ts))) / rate)
    click = _lowpass(rng.standard_normal(len(ts)), rate, 1800) * _env(len(ts), rate, 0.006)
    step = 0.45 * sweep * _env(len(ts), rate, 0.025) + 0.25 * click
    tf = t(0.35)
    blast = _lowpass(rng.standard_normal(len(tf)), rate, 2500) * _env(len(tf), rate, 0.06)
    thump = np.sin(2 * np.pi * 70 * tf) * _env(len(tf), rate, 0.08)
    fire = 0.55 * blast / (np.abs(blast).max() + 1e-9) + 0.45 * thump
    tu = t(0.14)
    tone = np.where(tu < 0.065, np.sign(np.sin(2 * np.pi * 520 * tu)), np.sign(np.sin(2 * np.pi * 780 * tu)))
    gate = ((tu < 0.06) | ((tu > 0.07) & (tu < 0.13))).astype(np.float32)
    use = 0.18 * _lowpass(tone * gate, rate, 3000)
    return {k: v.astype(np.float32) for k, v in (("step", step), ("fire", fire), ("use", use))}


def make_ambient(rate: int = RATE, seconds: float = 6.0, seed: int = 1) -> np.ndarray:
    """A quiet, seamless loop: 1/f noise below 400 Hz and a slow low hum (periodic by construction)."""
    n = int(rate * seconds)
    rng = np.random.default_rng(seed)
    f = np.fft.rfftfreq(n, 1 / rate)
    mag = np.where((f > 25) & (f < 400), 1 / np.maximum(f, 1), 0.0)
    noise = np.fft.irfft(mag * np.exp(2j * np.pi * rng.random(len(f))), n)
    noise /= np.abs(noise).max() + 1e-9
    k = np.arange(n) / n
    hum = np.sin(2 * np.pi * 330 * k) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * k))   # 55 Hz, 2 swells per loop
    return (0.035 * noise + 0.015 * hum).astype(np.float32)


class Synth:
    """Mono float32 blocks that follow an 8-button action (held buttons start sounds)."""

    def __init__(self, rate: int = RATE):
        self.rate = rate
        self.sounds = make_sounds(rate)
        self.ambient = make_ambient(rate)
        self._amb_pos = 0
        self._voices: list[list] = []            # [samples, position]
        self._prev = np.zeros(len(BUTTONS), np.uint8)
        self._step_wait = 0                      # samples until the next footfall
        self._fire_wait = 0

    def render(self, n: int, action: np.ndarray | None) -> np.ndarray:
        action = self._prev * 0 if action is None else np.asarray(action, np.uint8)
        self._trigger(action, n)
        out = np.take(self.ambient, np.arange(self._amb_pos, self._amb_pos + n), mode="wrap").copy()
        self._amb_pos = (self._amb_pos + n) % len(self.ambient)
        for voice in self._voices:
            samples, pos = voice
            chunk = samples[pos:pos + n]
            out[:len(chunk)] += chunk
            voice[1] = pos + n
        self._voices = [v for v in self._voices if v[1] < len(v[0])]
        return np.clip(out, -1.0, 1.0)

    def _trigger(self, action: np.ndarray, n: int) -> None:
        moving = bool(action[MOVES].any())
        if moving:
            if not self._prev[MOVES].any() or self._step_wait <= 0:
                self._play("step")
                self._step_wait = int(STEP_PERIOD_S * self.rate)
            self._step_wait -= n
        if action[ATTACK]:
            if not self._prev[ATTACK] or self._fire_wait <= 0:
                self._play("fire")
                self._fire_wait = int(FIRE_PERIOD_S * self.rate)
            self._fire_wait -= n
        if action[USE] and not self._prev[USE]:
            self._play("use")
        self._prev = action.copy()

    def _play(self, name: str) -> None:
        self._voices.append([self.sounds[name], 0])


class AudioOutput(Protocol):
    """A device that pulls blocks: start(render) with render(n) -> float32 (n,).

    check() raises once the device has gone (unplugged, driver error)."""

    def start(self, render: Callable[[int], np.ndarray]) -> None: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


class SoundDeviceOutput:
    def __init__(self, rate: int = RATE, blocksize: int = BLOCK):
        import sounddevice  # OSError when PortAudio is missing
        self._sd, self.rate, self.blocksize, self._stream = sounddevice, rate, blocksize, None
        self._ended = False

    def start(self, render: Callable[[int], np.ndarray]) -> None:
        def callback(outdata, frames, _time, _status):
            outdata[:, 0] = render(frames)

        def finished():                               # PortAudio's thread: only set a flag
            self._ended = True
        self._stream = self._sd.OutputStream(samplerate=self.rate, blocksize=self.blocksize, channels=1,
                                             dtype="float32", latency="low", callback=callback,
                                             finished_callback=finished)
        self._stream.start()

    def check(self) -> None:
        """A stream stops by itself only when its device fails or goes away."""
        if self._stream is not None and (self._ended or not self._stream.active):
            raise OSError("the audio stream stopped")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class LiveAudio:
    """The player's sound: the synth driven by the live input state, behind an output."""

    def __init__(self, input_state, output_factory: Callable[[], AudioOutput] = SoundDeviceOutput):
        self.input_state = input_state
        self.synth = Synth()
        self.muted = False
        self.paused = True                      # silent until frames flow
        self._factory = output_factory
        self.output: AudioOutput | None = None

    def start(self) -> str | None:
        """Open the device; on failure the app runs silent and this returns why (one line)."""
        try:
            output = self._factory()
            output.start(self.render)
        except Exception as exc:  # PortAudio reports a missing device in many ways
            return f"No audio device ({type(exc).__name__}): playing silent"
        self.output = output
        return None

    def check(self) -> str | None:
        """Called by the window as frames arrive: if the device has gone, go silent and say why."""
        if self.output is None:
            return None
        try:
            self.output.check()
            return None
        except Exception as exc:  # PortAudio and its host APIs fail in many ways
            output, self.output = self.output, None
            try:
                output.close()
            except Exception:  # closing a vanished device can fail too; it is gone either way
                pass
            return f"Audio device lost ({exc}): playing silent"

    def render(self, n: int) -> np.ndarray:
        action = None if self.paused else self.input_state.current_action()
        block = self.synth.render(n, action)
        return block * 0.0 if self.muted else block

    def close(self) -> None:
        if self.output is not None:
            self.output.close()
            self.output = None
