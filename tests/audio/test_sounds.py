"""Feedback sounds: short, at the asked level, faded in and out (no clicks); mixed safely."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edged.audio.sounds import (
    ALARM_MIN_LEVEL,
    SOUND_NAMES,
    SoundMixer,
    SoundName,
    render,
    sound_level,
)
from tests.audio.helpers import max_step


@pytest.mark.parametrize("name", SOUND_NAMES)
@pytest.mark.parametrize("rate", [24000, 44100, 48000])
def test_sounds_are_short_level_and_click_free(name: SoundName, rate: int) -> None:
    s = render(name, rate, level=0.5)
    # the alarm's pattern is repeated while it rings; the chimes must be over quickly
    assert 0.1 <= len(s) / rate <= (0.8 if name == "alarm" else 0.4)
    assert 0.45 * 32767 <= np.abs(s.astype(np.int32)).max() <= 0.5 * 32767 + 1
    # faded at both ends: the first and last samples are near silence
    assert abs(int(s[0])) < 200 and abs(int(s[-1])) < 200
    # no jump steeper than a 2 kHz full-level tone could make (the notes are ≤ 1 kHz
    # with an octave overtone at most, so anything steeper is a click)
    assert max_step(s) < 0.5 * 32767 * 2 * np.pi * 2000 / rate


def test_every_sound_differs_from_every_other() -> None:
    rendered = {n: render(n, 24000, 0.3) for n in SOUND_NAMES}
    for a, b in itertools.combinations(SOUND_NAMES, 2):
        x, y = rendered[a], rendered[b]
        assert len(x) != len(y) or not np.array_equal(x, y), (a, b)


def test_an_alarm_is_louder_than_the_chimes_and_never_silent() -> None:
    """A speaker turned all the way down must still wake its owner."""
    assert sound_level("alarm", 0.3, 1.0) == pytest.approx(0.6)
    assert sound_level("done", 0.3, 1.0) == pytest.approx(0.3)
    assert sound_level("done", 0.3, 0.0) == 0.0
    assert sound_level("alarm", 0.3, 0.0) == ALARM_MIN_LEVEL > 0


def test_mixer_adds_over_the_output_and_saturates() -> None:
    mixer = SoundMixer()
    mixer.start(np.full(6, 20000, np.int16))
    out = np.array([1, 2, 20000, -20000], np.int16)
    assert mixer.mix_into(out)
    assert out.tolist() == [20001, 20002, 32767, 0]
    tail = np.zeros(4, np.int16)
    assert mixer.mix_into(tail)
    assert tail.tolist() == [20000, 20000, 0, 0]
    assert not mixer.active and not mixer.mix_into(tail)


def test_mixer_fills_every_channel_of_interleaved_frames() -> None:
    mixer = SoundMixer()
    mixer.start(np.array([100, 200], np.int16))
    frames = np.zeros((3, 2), np.int16)
    mixer.mix_into(frames)
    assert frames.tolist() == [[100, 100], [200, 200], [0, 0]]
