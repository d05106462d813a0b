"""The energy VAD and the generated answer audio (pure numpy)."""

from __future__ import annotations

import numpy as np

from edged.simulator.audio import (
    BYTES_PER_MS,
    EnergyVad,
    VadEdge,
    rms_threshold,
    speech_like_tone,
    window_rms,
)
from tests.rigs.realtime_client import chunks, quiet, tone


def test_threshold_maps_to_a_level_between_minus_60_and_minus_20_dbfs() -> None:
    assert round(20 * np.log10(rms_threshold(0.0) / 32768)) == -60
    assert round(20 * np.log10(rms_threshold(0.5) / 32768)) == -40
    assert round(20 * np.log10(rms_threshold(1.0) / 32768)) == -20


def test_window_rms_measures_each_20ms_window() -> None:
    pcm = quiet(40) + tone(40, dbfs=-20.0) + b"\x01\x00" * 10  # a partial window is ignored
    rms = window_rms(pcm)
    assert len(rms) == 4
    assert rms[0] == rms[1] == 0
    # a sine's RMS is its amplitude / sqrt(2): -20 dBFS peak → about -23 dBFS RMS
    assert abs(20 * np.log10(rms[2] / 32768) - (-23.0)) < 0.5


def test_speech_then_silence_gives_start_and_stop_at_the_right_offsets() -> None:
    vad = EnergyVad(rms_threshold(0.5), silence_ms=300)
    audio = quiet(200) + tone(500) + quiet(600)
    edges = [e for c in chunks(audio, 100) for e in vad.feed(c)]
    assert edges == [VadEdge("start", 200 * BYTES_PER_MS), VadEdge("stop", 700 * BYTES_PER_MS)]
    assert not vad.in_speech


def test_pauses_shorter_than_the_silence_duration_do_not_end_the_turn() -> None:
    vad = EnergyVad(rms_threshold(0.5), silence_ms=500)
    audio = tone(300) + quiet(300) + tone(300) + quiet(400)
    edges = vad.feed(audio)
    assert edges == [VadEdge("start", 0)]
    assert vad.in_speech


def test_feeding_odd_sized_pieces_gives_the_same_edges_as_one_buffer() -> None:
    audio = quiet(130) + tone(410) + quiet(700) + tone(90) + quiet(520)
    whole = EnergyVad(rms_threshold(0.5), silence_ms=500).feed(audio)
    pieced = EnergyVad(rms_threshold(0.5), silence_ms=500)
    step = 7 * 2 * 37  # bytes, not aligned to windows
    edges = [e for i in range(0, len(audio), step) for e in pieced.feed(audio[i : i + step])]
    assert edges == whole
    assert [e.kind for e in whole] == ["start", "stop", "start", "stop"]


def test_quiet_noise_below_the_threshold_is_not_speech() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 60, 24000)).astype("<i2").tobytes()  # about -55 dBFS
    assert EnergyVad(rms_threshold(0.5), silence_ms=200).feed(noise) == []


def test_the_answer_tone_is_speech_to_the_vad_and_has_syllable_gaps() -> None:
    pcm = speech_like_tone(1.5)
    assert len(pcm) == 1500 * BYTES_PER_MS
    peak = np.max(np.abs(np.frombuffer(pcm, "<i2")))
    assert abs(20 * np.log10(peak / 32767) - (-16.0)) < 0.2
    loud = window_rms(pcm) > rms_threshold(0.5)
    assert loud.mean() > 0.5  # mostly voiced...
    assert not loud.all()  # ...with gaps between syllables
    assert EnergyVad(rms_threshold(0.5), silence_ms=500).feed(pcm)[0] == VadEdge("start", 0)
