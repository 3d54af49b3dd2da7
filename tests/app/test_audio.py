"""Sound: answers within 50 ms, quiet ambient bed, mute, and a silent fallback."""
from __future__ import annotations

import numpy as np

from app.audio import BLOCK, RATE, LiveAudio, Synth
from app.input_state import InputState
from model.play.world import action_from_names

WITHIN_50_MS = int(0.050 * RATE)


def peak(x) -> float:
    return float(np.abs(x).max())


def test_ambient_is_quiet_and_actions_are_heard_at_once():
    synth = Synth()
    idle = np.concatenate([synth.render(BLOCK, None) for _ in range(40)])
    assert 0.005 < peak(idle) < 0.1
    for names in ({"ATTACK"}, {"USE"}, {"MOVE_FORWARD"}):
        s = Synth()
        s.render(BLOCK * 4, action_from_names(set()))
        heard = np.concatenate([s.render(BLOCK, action_from_names(names)) for _ in range(WITHIN_50_MS // BLOCK)])
        assert peak(heard[:BLOCK]) > 2 * peak(idle), names      # in the very first block


def test_footfalls_repeat_while_moving():
    s = Synth()
    forward = action_from_names({"MOVE_FORWARD"})
    energy = [peak(s.render(BLOCK, forward)) for _ in range(int(1.0 * RATE / BLOCK))]
    onsets = sum(1 for a, b in zip(energy, energy[1:]) if b > 0.2 and a < 0.1)
    assert onsets >= 2


def test_live_audio_reads_the_input_state_and_mutes(fake_output):
    state = InputState()
    output = fake_output
    audio = LiveAudio(state, lambda: output)
    assert audio.start() is None
    audio.paused = False
    quiet = output.pull(BLOCK * 8)
    state.press("Ctrl")
    loud = output.pull(WITHIN_50_MS)
    assert peak(loud[:BLOCK * 2]) > 3 * peak(quiet)
    audio.muted = True
    assert peak(output.pull(BLOCK * 4)) == 0.0
    audio.close()
    assert output.closed


def test_no_device_means_silent_with_a_note():
    def no_device():
        raise OSError("PortAudio library not found")
    audio = LiveAudio(InputState(), no_device)
    note = audio.start()
    assert "silent" in note and audio.output is None
    audio.close()
