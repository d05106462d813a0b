"""After the wake word, the audio sent to the model starts at the detection's capture
time, not when the detector got round to it: words said straight after the phrase
are not lost to the detector's batching. In the REAL daemon.

Real: the ``Daemon``, its machine and link, the simulator over loopback WebSocket,
the wake word's listener and model. Stand-in: the audio devices (the demo's
``WavAudio``, a virtual microphone on the loop's clock); no GPIO.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edged.config import AudioConfig, Config, WakeWordConfig
from edged.daemon import Daemon
from edged.demo.scenario import demo_config
from edged.demo.wav_audio import WavAudio
from edged.simulator import Simulator

pytest.importorskip("pymicro_wakeword", reason="the wake word's optional package is for "
                    "64-bit systems; scripts/setup installs it there")

from tests.wakeword.conftest import silence, speech

RATE = 24000
TONE_S = 0.5
TONE_HZ = 440


def tone() -> bytes:
    t = np.arange(round(TONE_S * RATE)) / RATE
    return (np.sin(2 * np.pi * TONE_HZ * t) * 8000).astype(np.int16).tobytes()


def tone_windows(pcm: bytes) -> list[int]:
    """The 10 ms windows of ``pcm`` whose energy is nearly all at 440 Hz."""
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    n = RATE // 100
    ref = np.exp(-2j * np.pi * TONE_HZ * np.arange(n) / RATE)
    found = []
    for i in range(0, len(x) - n + 1, n):
        w = x[i:i + n]
        energy = float(w @ w)
        if energy > 1e6 and abs(w @ ref) ** 2 * 2 / n > 0.9 * energy:
            found.append(i // n)
    return found


class Spied(WavAudio):
    """The demo's devices, noting the detection times the daemon hands them."""

    live: list[float]

    def live_from(self, t: float) -> None:
        self.live.append(t)
        super().live_from(t)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def wake_then_tone(tmp_path: Path) -> tuple[bytes, list[float]]:
    async with Simulator(host="127.0.0.1", port=0) as sim:
        config: Config = dataclasses.replace(
            demo_config(sim.url, AudioConfig(), tmp_path / "state"),
            wake_word=WakeWordConfig(enabled=True))
        audio: list[Spied] = []

        def make_audio(*args: object) -> Spied:
            audio.append(Spied(*args))  # type: ignore[arg-type]
            audio[-1].live = []
            return audio[-1]

        daemon = Daemon(config, audio_factory=make_audio, key_source=lambda: "not-a-key")
        runner = asyncio.create_task(daemon.run(install_signals=False))
        try:
            await until(lambda: daemon.metrics.link == "up", "the link")
            await until(lambda: daemon.wake is not None and daemon.wake.listener is not None,
                        "the wake word")
            # the words follow the phrase at once (espeak-ng's own 0.3 s after it)
            audio[-1].speak(silence(1.0, RATE) + speech("okay nabu", RATE) + tone()
                            + silence(1.0, RATE))
            await asyncio.wait_for(audio[-1].speaking_done.wait(), 30)
            await asyncio.sleep(0.5)
            sent = b"".join(base64.b64decode(e.get("audio", "")) for _, e in sim.events
                            if e.get("type") == "input_audio_buffer.append")
            return sent, audio[-1].live
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 30)


def test_words_straight_after_the_wake_word_reach_the_model_whole(tmp_path: Path) -> None:
    sent, detections = asyncio.run(wake_then_tone(tmp_path))
    assert len(detections) == 1  # the daemon handed the detection's time to the port
    whole = tone_windows(tone())
    assert len(whole) >= TONE_S * 100 - 2  # the measure finds the tone itself
    found = tone_windows(sent)
    assert len(found) >= len(whole) - 2, f"only {len(found)} of {len(whole)} tone windows"
    # and what was captured between the detection and the words came first: the
    # detection fell ~0.2 s before the tone, whatever the detector's batching added
    assert found[0] >= 10, f"the audio began {found[0] * 10} ms before the words"
