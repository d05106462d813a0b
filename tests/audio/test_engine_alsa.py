"""The engine over real PortAudio streams on ALSA file PCMs: the data path, exactly.

These devices have no clock (see tests/rigs/alsa.py): the streams run as fast as
the machine allows, which is what a data-path test wants and useless for timing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np
import pytest

from edged.audio import AudioEngine, AudioStatus, DeviceNotFound
from edged.config import AudioConfig
from tests.audio.helpers import (
    aio,
    db,
    max_step,
    pcm,
    peak_frequency,
    rms,
    samples,
    sine,
    stereo,
)
from tests.rigs.alsa import MIC, SPEAKER, AlsaFileRig

pytestmark = pytest.mark.timeout(60)


def config(**kw: object) -> AudioConfig:
    base: dict[str, object] = {"input_device": MIC, "output_device": SPEAKER,
                               "input_rate": 24000, "input_channels": 1,
                               "output_rate": 24000, "output_channels": 1}
    return AudioConfig(**{**base, **kw})  # type: ignore[arg-type]


class Collector:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, float]] = []
        self.statuses: list[AudioStatus] = []
        self.idle = asyncio.Event()

    def audio(self) -> np.ndarray:
        return samples(b"".join(p for p, _ in self.frames))

    def engine(self, cfg: AudioConfig) -> AudioEngine:
        return AudioEngine(cfg, asyncio.get_running_loop(),
                           lambda p, t: self.frames.append((p, t)), self.statuses.append,
                           on_idle=self.idle.set)


async def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def capture(cfg: AudioConfig, want: int) -> Collector:
    """Capture from the first sample the device gives until ``want`` samples arrived."""
    got = Collector()
    engine = got.engine(cfg)
    engine.open_uplink(preroll=False)  # before the stream starts: nothing is missed
    await engine.start(strict=True)
    try:
        await until(lambda: len(got.audio()) >= want)
    finally:
        await engine.stop()
    return got


@aio
async def test_known_pcm_in_gives_exactly_these_frames_out(alsa_files: AlsaFileRig) -> None:
    x = (np.arange(48000) % 20000 + 1).astype(np.int16)  # 2 s, never silent
    alsa_files.write_mic(pcm(x))
    cfg = config()
    got = await capture(cfg, len(x))
    assert np.array_equal(got.audio()[: len(x)], x)
    frame_bytes = cfg.frame_ms * 24 * 2  # whole frames (50 ms: 1,200 samples)
    assert all(len(p) % frame_bytes == 0 for p, _ in got.frames)
    assert [s.kind for s in got.statuses] == ["opened", "stopped"]
    opened = got.statuses[0]
    assert opened.input is not None and opened.input.device.name == MIC
    assert (opened.input.rate, opened.input.channels) == (24000, 1)


@aio
async def test_48k_stereo_mic_becomes_24k_mono_with_its_tone_intact(
        alsa_files: AlsaFileRig) -> None:
    tone = sine(2.0, 1000, 48000, 8000.0)
    alsa_files.write_mic(pcm(stereo(tone, tone)))
    got = await capture(config(input_rate=48000, input_channels=2), 48000)
    audio = got.audio()[:48000]  # 2 s of device audio = 48000 samples at 24 kHz
    body = audio[2400:-2400]
    assert abs(peak_frequency(body, 24000) - 1000) < 0.5  # Hz
    assert abs(db(rms(body) / (8000 / np.sqrt(2)))) < 0.1  # dB
    assert max_step(body) <= 8000 * 2 * np.pi * 1000 / 24000 * 1.01  # no edge clicks


@aio
async def test_answer_audio_reaches_the_speaker_byte_for_byte(alsa_files: AlsaFileRig) -> None:
    x = (np.arange(12000) % 20000 + 1).astype(np.int16)
    got = Collector()
    # This file device is unpaced: its callbacks can take the first delta's 208 ms in well
    # under a millisecond, before the second delta is queued, and play an underrun's
    # silence between them. A prebuffer longer than the answer (which the end of the
    # answer releases) keeps this about the data path; a paced device never races so.
    engine = got.engine(config(playback_prebuffer_ms=1000))
    await engine.start(strict=True)
    try:
        engine.play("item_1", pcm(x[:5000]))
        engine.play("item_1", pcm(x[5000:]))
        engine.end_of_answer("item_1")
        await asyncio.wait_for(got.idle.wait(), 20)
        await asyncio.sleep(0.2)  # until the last buffers' speaker time has passed
        played = engine.played_ms("item_1")
    finally:
        await engine.stop()
    out = samples(alsa_files.speaker_bytes())
    start = int(np.flatnonzero(out)[0])  # after PortAudio's priming silence
    assert np.array_equal(out[start:start + len(x)], x)
    assert not out[start + len(x):].any()  # then silence, never the audio again
    assert played == 500


@aio
async def test_answer_on_a_48k_stereo_speaker(alsa_files: AlsaFileRig) -> None:
    got = Collector()
    engine = got.engine(config(output_rate=48000, output_channels=2))
    await engine.start(strict=True)
    try:
        engine.play("item_1", pcm(sine(1.0, 440, 24000, 8000.0)))
        engine.end_of_answer("item_1")
        await asyncio.wait_for(got.idle.wait(), 20)
    finally:
        await engine.stop()
    frames = samples(alsa_files.speaker_bytes()).reshape(-1, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])
    tone = frames[np.flatnonzero(frames[:, 0])[0]:, 0][:48000]
    body = tone[4800:-4800]
    assert abs(peak_frequency(body, 48000) - 440) < 0.5
    assert abs(db(rms(body) / (8000 / np.sqrt(2)))) < 0.1


@aio
async def test_a_missing_device_is_one_clear_message(alsa_files: AlsaFileRig) -> None:
    got = Collector()
    engine = got.engine(config(input_device="ReSpeaker 4-Mic"))
    with pytest.raises(DeviceNotFound) as err:
        await engine.start(strict=True)
    msg = str(err.value)
    assert "audio.input_device: no microphone (input) device matches 'ReSpeaker 4-Mic'" in msg
    assert f"'{MIC}'" in msg and f"'{SPEAKER}'" in msg
    assert engine.state == "stopped"


@aio
async def test_without_strict_the_speaker_runs_while_the_mic_is_missing(
        alsa_files: AlsaFileRig) -> None:
    got = Collector()
    engine = got.engine(config(input_device="ReSpeaker 4-Mic"))
    await engine.start()
    try:
        assert engine.state == "degraded" and engine.alive()
        kinds = [s.kind for s in got.statuses]
        assert kinds == ["opened", "unavailable"]
        assert got.statuses[0].direction == "output"
        assert "ReSpeaker 4-Mic" in got.statuses[1].message
        assert got.statuses[1].retry_in_s == 0.5
        engine.play("a", pcm(sine(0.1, 440, 24000)))
        engine.end_of_answer("a")
        await asyncio.wait_for(got.idle.wait(), 20)
        await asyncio.sleep(0.2)
        # (the speaker file itself is no witness here: each retry for the microphone
        # re-initialises PortAudio, which reopens, and so truncates, every ALSA device)
        assert engine.output_started("a") is not None
        assert engine.played_ms("a") == 100
    finally:
        await engine.stop()


def test_the_log_says_which_devices_opened_at_what_rates(
        alsa_files: AlsaFileRig, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        engine = Collector().engine(config(input_rate=48000, input_channels=2,
                                           output_rate=44100))
        await engine.start(strict=True)
        await engine.stop()

    with caplog.at_level(logging.INFO, logger="edged.audio"):
        asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if r.name == "edged.audio"]
    assert f"microphone: '{MIC}' (#0) at 48000 Hz, 2 ch -> 24000 Hz mono, 50 ms frames" \
        in lines
    assert any(line.startswith(f"speaker: '{SPEAKER}' (#1) at 44100 Hz, 1 ch <- 24000 Hz mono")
               for line in lines)


@aio
async def test_reconfigure_takes_volume_and_sounds_in_place_and_refuses_a_new_rate(
        alsa_files: AlsaFileRig) -> None:
    got = Collector()
    engine = got.engine(config())
    await engine.start(strict=True)
    try:
        opened = [s for s in got.statuses if s.kind == "opened"]
        assert engine.reconfigure(config(volume=0.25, sounds_volume=0.1, half_duplex=True,
                                         uplink_batch_ms=150))
        assert engine.volume == 0.25
        assert engine.batch_ms == 150  # three 50 ms frames
        assert engine.cfg.half_duplex
        assert [s for s in got.statuses if s.kind == "opened"] == opened  # not reopened
        assert not engine.reconfigure(config(volume=0.25, output_rate=48000))
        assert engine.volume == 0.25  # a refused change leaves the engine as it was
        assert engine.cfg.output_rate == 24000
    finally:
        await engine.stop()
