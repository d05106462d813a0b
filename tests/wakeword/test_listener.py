"""The listener's own path: raw device buffers → 16 kHz → the real model → detections,
and the echo check against what the speaker played."""

from __future__ import annotations

import time

import numpy as np

from edged.wakeword.detector import load
from edged.wakeword.echo import EchoReference
from edged.wakeword.listener import Detection, WakeListener
from tests.wakeword.conftest import silence, speech, stereo

RATE = 48000
PERIOD = 960  # 20 ms device buffers


def run(listener: WakeListener, mono48k: bytes, t0: float = 100.0) -> None:
    """Feed stereo 48 kHz buffers as PortAudio would, with their capture times."""
    data = stereo(mono48k)
    step = PERIOD * 4
    listener.configure(RATE, 2)
    listener.start()
    try:
        for i in range(0, len(data), step):
            listener.feed(data[i:i + step], PERIOD, t0 + (i // step + 1) * PERIOD / RATE)
            if i % (step * 10) == 0:
                time.sleep(0.002)  # let the worker keep up, as real time would
        deadline = time.monotonic() + 10
        while listener.heard_s() < len(mono48k) / 2 / RATE - 0.2:
            assert time.monotonic() < deadline, "the worker did not finish"
            time.sleep(0.01)
    finally:
        listener.stop()


def phrase48k(words: str) -> bytes:
    return silence(1.0, RATE) + speech(words, RATE) + silence(1.0, RATE)


def test_the_phrase_in_48k_stereo_is_detected_once_with_its_time() -> None:
    heard: list[Detection] = []
    listener = WakeListener(load("okay_nabu"), heard.append)
    audio = phrase48k("okay nabu")
    run(listener, audio)
    assert len(heard) == 1 and heard[0].model == "okay_nabu"
    assert heard[0].probability > listener.threshold
    # the detection falls inside the phrase, not in the silence around it
    assert 101.0 < heard[0].at < 100.0 + len(audio) / 2 / RATE - 0.5
    assert heard[0].echo is None and not heard[0].own_voice  # nothing was playing


def test_other_speech_is_not_detected() -> None:
    heard: list[Detection] = []
    listener = WakeListener(load("okay_nabu"), heard.append)
    run(listener, phrase48k("what is the weather like in the kitchen today"))
    assert heard == [] and listener.peak() < listener.threshold


def test_a_muted_microphone_is_not_heard() -> None:
    heard: list[Detection] = []
    listener = WakeListener(load("okay_nabu"), heard.append)
    listener.configure(RATE, 2)
    listener.start()
    data = stereo(phrase48k("okay nabu"))
    for _ in range(0, len(data), PERIOD * 4):
        listener.feed(None, PERIOD, 1.0)  # what the capture callback passes when muted
    time.sleep(0.3)
    listener.stop()
    assert heard == [] and listener.steps == 0
    assert len(data)  # the audio existed; it was never handed over


def test_a_threshold_above_every_score_detects_nothing() -> None:
    heard: list[Detection] = []
    listener = WakeListener(load("okay_nabu"), heard.append, threshold=0.999)
    run(listener, phrase48k("okay nabu"))
    assert heard == []


def echo_of(audio48k: bytes, t0: float) -> EchoReference:
    """The speaker played ``audio48k`` (as 24 kHz answer audio) from ``t0``."""
    ref = EchoReference()
    x = np.frombuffer(audio48k, np.int16)[::2].copy()  # 48k → 24k is enough for a reference
    ref.add(t0, x.tobytes())
    return ref


def test_the_speakers_own_phrase_is_recognised_as_an_echo() -> None:
    heard: list[Detection] = []
    audio = phrase48k("okay nabu")
    listener = WakeListener(load("okay_nabu"), heard.append, echo=echo_of(audio, 100.0))
    run(listener, audio, t0=100.0)
    assert len(heard) == 1 and heard[0].own_voice
    assert heard[0].echo is not None and heard[0].echo > listener.threshold / 2
    assert listener.detections == 0  # an echo is not counted as heard


def test_a_person_saying_it_over_other_answer_audio_still_wakes() -> None:
    heard: list[Detection] = []
    answer = phrase48k("the weather today is sunny with a light breeze")
    listener = WakeListener(load("okay_nabu"), heard.append, echo=echo_of(answer, 100.0))
    run(listener, phrase48k("okay nabu"), t0=100.0)
    assert len(heard) == 1 and not heard[0].own_voice
    assert heard[0].echo is not None and heard[0].echo < listener.threshold / 2


def test_in_a_quiet_room_the_model_rests_then_hears_the_phrase_as_if_it_had_run() -> None:
    audio = silence(6.0, RATE) + speech("okay nabu", RATE) + silence(3.0, RATE)
    always: list[Detection] = []
    resting: list[Detection] = []
    run(WakeListener(load("okay_nabu"), always.append), audio)
    quiet = WakeListener(load("okay_nabu"), resting.append, rest_below_dbfs=-55)
    run(quiet, audio)
    assert len(always) == 1 and len(resting) == 1
    assert abs(resting[0].probability - always[0].probability) < 0.02
    assert abs(resting[0].at - always[0].at) < 0.05
    # the model ran on the phrase, the second before it and the two after it: not on
    # the rest of the silence
    ran = quiet.steps * quiet.detector.step_s
    assert quiet.rested_s > 4.0 and ran < len(audio) / 2 / RATE - 4.0


def noise48k(seconds: float, dbfs: float) -> bytes:
    """White noise peaking at ``dbfs``."""
    x = np.random.default_rng(7).uniform(-1, 1, round(seconds * RATE))
    return (x * 32767 * 10 ** (dbfs / 20)).astype(np.int16).tobytes()


def test_sound_below_the_level_never_reaches_the_model() -> None:
    hiss = noise48k(4.0, -70)
    resting = WakeListener(load("okay_nabu"), lambda _d: None, rest_below_dbfs=-55)
    run(resting, hiss)
    assert resting.steps == 0 and resting.rested_s > 2.5
    # the same hiss above the level: the model runs on all of it
    running = WakeListener(load("okay_nabu"), lambda _d: None, rest_below_dbfs=-80)
    run(running, hiss)
    assert running.rested_s == 0 and running.steps * running.detector.step_s > 3.5
