"""A push-to-talk release waits for the microphone's period in flight, and start-up's
freed heap is given back once, in the REAL daemon.

Real: the ``Daemon``, its machine and link, the simulator over loopback WebSocket.
Stand-ins: the audio devices (the demo's ``WavAudio``, whose ``after_capture`` is
held here until the test lets it go, playing the part of a capture period that has
not arrived yet) and no GPIO at all (events go to ``Daemon.button``, as the control
socket's do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from edged.audio.port import AudioCallbacks
from edged.config import AudioConfig, Config
from edged.conversation import PttDown, PttUp
from edged.daemon import Daemon, Timeline
from edged.demo.scenario import demo_config, utterance
from edged.demo.wav_audio import WavAudio
from edged.simulator import Simulator

SPEECH = utterance("weather")[: 24000]  # half a second


class HeldAudio(WavAudio):
    """The demo's devices, with the period in flight arriving only when told to."""

    waiting: list[Callable[[], None]]

    def after_capture(self, fn: Callable[[], None]) -> None:
        self.waiting.append(fn)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def release_waits(tmp_path: Path) -> None:
    async with Simulator(host="127.0.0.1", port=0, answer="tone", pace=4.0,
                         tone_s=0.3) as sim:
        config: Config = demo_config(sim.url, AudioConfig(), tmp_path / "state")
        audio: list[HeldAudio] = []

        def make_audio(cfg: Config, loop: asyncio.AbstractEventLoop,
                       callbacks: AudioCallbacks) -> HeldAudio:
            audio.append(HeldAudio(cfg, loop, callbacks))
            audio[-1].waiting = []
            return audio[-1]

        daemon = Daemon(config, audio_factory=make_audio, key_source=lambda: "not-a-key",
                        timeline=Timeline(keep=True))
        runner = asyncio.create_task(daemon.run(install_signals=False))
        try:
            await until(lambda: daemon.metrics.link == "up", "the link")
            mic = audio[-1]
            first = len(sim.events)
            daemon.button(PttDown())
            await until(lambda: str(daemon.conversation.phase) == "listening", "the press")
            mic.speak(SPEECH)
            await asyncio.wait_for(mic.speaking_done.wait(), 30)
            daemon.button(PttUp())
            daemon.button(PttDown())  # a second press comes while the release waits
            await asyncio.sleep(0.3)
            # the release is held: still listening, nothing committed, the press queued
            assert str(daemon.conversation.phase) == "listening"
            types = [e["type"] for _, e in sim.events[first:]]
            assert "input_audio_buffer.commit" not in types
            assert len(mic.waiting) == 1
            mic.waiting.pop()()  # the period in flight has arrived
            await until(lambda: any(e["type"] == "response.create"
                                    for _, e in sim.events[first:]), "the commit")
            types = [e["type"] for _, e in sim.events[first:]]
            # the release went first (the whole utterance, then the commit)...
            assert types.index("input_audio_buffer.commit") < types.index("response.create")
            assert types[types.index("input_audio_buffer.commit") - 1] == \
                "input_audio_buffer.append"
            # ...then the press that waited behind it: a barge-in on the new turn
            await until(lambda: str(daemon.conversation.phase) == "listening",
                        "the queued press")
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 30)


def test_a_release_waits_for_the_period_in_flight_and_what_came_meanwhile_follows(
        tmp_path: Path) -> None:
    asyncio.run(release_waits(tmp_path))


async def heap_given_back(tmp_path: Path) -> None:
    async with Simulator(host="127.0.0.1", port=0) as sim:
        config: Config = demo_config(sim.url, AudioConfig(), tmp_path / "state")
        daemon = Daemon(config, audio_factory=WavAudio, key_source=lambda: "not-a-key")
        runner = asyncio.create_task(daemon.run(install_signals=False))
        try:
            await until(lambda: daemon.metrics.link == "up", "the link")
            assert not daemon.heap_trimmed  # not while the session is being set up
            await until(lambda: daemon.heap_trimmed, "start-up's heap given back", 10)
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 30)


def test_start_up_heap_is_given_back_once_the_link_is_up(tmp_path: Path) -> None:
    asyncio.run(heap_given_back(tmp_path))
