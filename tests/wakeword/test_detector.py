"""edged's own streaming loop over the library's TensorFlow Lite handle gives the
library's own probabilities, wherever the audio is cut."""

from __future__ import annotations

import random

import pytest
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

from edged.wakeword.detector import Detector
from edged.wakeword.models import resolve
from tests.wakeword.conftest import silence, speech

PHRASES = {"okay_nabu": "okay nabu", "hey_jarvis": "hey jarvis", "alexa": "alexa",
           "hey_mycroft": "hey mycroft"}


def library_probabilities(name: str, audio: bytes) -> list[float]:
    """pymicro-wakeword's own streaming path, one value per 10 ms feature."""
    model = MicroWakeWord.from_config(resolve(name).manifest)
    features = MicroWakeWordFeatures()
    try:
        return [float(model.process_streaming_prob(f) or 0.0)
                for f in features.process_streaming(audio)]
    finally:
        model.close()


@pytest.mark.parametrize("name", sorted(PHRASES))
def test_the_loop_gives_the_librarys_values_in_any_cut(name: str) -> None:
    phrase = speech(PHRASES[name])
    audio = silence(0.5) + phrase + silence(0.3) + speech("what time is it") + phrase
    expected = library_probabilities(name, audio)
    detector = Detector(resolve(name))
    cut = random.Random(name)
    got: list[float] = []
    i = 0
    while i < len(audio):  # pieces of any size, odd byte counts included
        n = cut.randrange(1, 9000)
        got += detector.process(audio[i:i + n])
        i += n
    detector.close()
    assert len(got) == len(expected)
    assert got == pytest.approx(expected, abs=1e-9)
    if name != "hey_jarvis":  # espeak-ng's "hey jarvis" is one the model never hears
        assert max(got) > resolve(name).cutoff  # the comparison covers detections


def test_reset_starts_the_stream_afresh() -> None:
    audio = speech("okay nabu") + silence(0.5)
    detector = Detector(resolve("okay_nabu"))
    first = detector.process(audio)
    detector.process(audio[:12345])  # half a phrase, an odd byte left over
    detector.reset()
    assert detector.process(audio) == first
    detector.close()
