"""The control server inside the REAL daemon, in-process: a socket turn equals a GPIO turn.

Real: the ``Daemon``, its conversation machine and realtime link, the simulator
over loopback WebSocket, the control server started with ``start_control`` as
``Daemon._run`` does, and the ``edged ctl`` CLI as a separate process. Stand-ins:
the GPIO pins (gpiozero's MockFactory; this machine has none) and the audio
devices (the demo's paced virtual microphone and speaker, ``WavAudio``, which offer
the daemon exactly what the PyAudio engine does). The e2e tests in
``test_e2e_run.py`` repeat this with the ``edged run`` process and PyAudio.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edged.config import Config, ControlConfig, ControlsConfig
from edged.control.client import ControlClient
from edged.control.server import ControlServer, start_control
from edged.daemon import Daemon, Timeline
from edged.demo.scenario import demo_config, utterance
from edged.demo.wav_audio import WavAudio
from edged.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
PTT_PIN = 17
TURN = ["input_audio_buffer.clear", "input_audio_buffer.append", "input_audio_buffer.commit",
        "response.create"]


def collapse(types: list[str]) -> list[str]:
    """Client event types with runs of appends counted once (their number depends on
    the utterance's length, not on who pressed)."""
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t or t != "input_audio_buffer.append":
            out.append(t)
    return out


async def until(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_ctl_talk_turn_sends_what_a_gpio_press_sends(tmp_path: Path) -> None:
    asyncio.run(scenario(tmp_path))


async def scenario(tmp_path: Path) -> None:
    factory = MockFactory()
    async with Simulator(host="127.0.0.1", port=0, answer="tone", pace=4.0,
                         tone_s=0.5) as sim:
        base = demo_config(sim.url)
        config: Config = replace(
            base, controls=ControlsConfig(enabled=True, ptt_pin=PTT_PIN, wake_pin=None),
            control=replace(ControlConfig(), socket=str(tmp_path / "control.sock")))
        audio: list[WavAudio] = []

        def make_audio(cfg: Config, loop: asyncio.AbstractEventLoop, d: Daemon) -> WavAudio:
            audio.append(WavAudio(cfg, loop, d))
            return audio[-1]

        timeline = Timeline(keep=True)
        daemon = Daemon(config, audio_factory=make_audio, pin_factory=factory,
                        key_source=lambda: "not-a-real-key", timeline=timeline)
        runner = asyncio.create_task(daemon.run(install_signals=False))
        server: ControlServer | None = None
        try:
            await until(lambda: daemon.metrics.link == "up", "the link")
            # Once Daemon._run starts it, the daemon owns the server; until then, start it
            # here exactly as _run will.
            owned: ControlServer | None = getattr(daemon, "control", None)
            if owned is None:
                server = await start_control(config.control, daemon)
                assert server is not None
            mic = audio[0]
            speech = utterance("weather")[: 24000 * 2]  # one second of speech

            def idle_after(mark: int) -> Callable[[], bool]:
                return lambda: any(name == "transition" and f.get("to") == "idle"
                                   for _, name, f in timeline.entries[mark:])

            # 1. the GPIO button (mock pin; the daemon's real Controls and gestures)
            mark, first = len(timeline.entries), len(sim.events)
            await asyncio.sleep(0.4)  # pre-roll fills with room tone
            factory.pin(PTT_PIN).drive_low()
            mic.speak(speech)
            await asyncio.sleep(1.2)
            factory.pin(PTT_PIN).drive_high()
            await until(idle_after(mark), "the GPIO turn to end")
            gpio_types = collapse([e["type"] for _, e in sim.events[first:]])

            # 2. the same turn from `edged ctl talk`, watched by a subscriber
            watched: list[dict[str, Any]] = []
            watcher = ControlClient(config.control.socket).connect()
            stream = watcher.events()
            watched.append(await asyncio.to_thread(next, stream))

            async def watch() -> None:
                while True:
                    ev = await asyncio.to_thread(next, stream)
                    watched.append(ev)
                    if ev["event"] == "transition" and ev["phase"] == "idle":
                        return

            watching = asyncio.create_task(watch())
            mark, first = len(timeline.entries), len(sim.events)
            talk = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edged", "ctl", "--socket", config.control.socket,
                "talk", "--seconds", "1.2", env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            await until(lambda: str(daemon.conversation.phase) == "listening", "the ctl press")
            mic.speak(speech)
            out, err = await asyncio.wait_for(talk.communicate(), 60)
            assert talk.returncode == 0, err.decode()
            assert out.decode() == "listening\nthinking\n"
            await until(idle_after(mark), "the ctl turn to end")
            await asyncio.wait_for(watching, 30)
            ctl_types = collapse([e["type"] for _, e in sim.events[first:]])
            watcher.close()

            assert gpio_types[: len(TURN)] == TURN
            assert ctl_types == gpio_types
            assert watched[0]["event"] == "state" and watched[0]["phase"] == "idle"
            phases = [e["phase"] for e in watched if e["event"] == "transition"]
            assert phases == ["listening", "thinking", "speaking", "idle"]
            assert daemon.metrics.answers == 2
        finally:
            if server is not None:
                await server.close()
            daemon.stop()
            await runner
            factory.reset()
        assert not Path(config.control.socket).exists()
