"""The daemon end to end: real PyAudio on paced PulseAudio devices, the real simulator
over loopback, and buttons on gpiozero's MockFactory.

The GPIO pins are the one thing mocked (no GPIO exists on this machine): the test
drives them with ``drive_low``/``drive_high`` as a finger would. The daemon runs
in this process, on its own thread and event loop, so the test can hold the mock
pins; ``test_run_process`` covers the ``edged run`` process itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.audio.port import AudioCallbacks
from edged.config import (
    AudioConfig,
    Config,
    ControlConfig,
    ControlsConfig,
    RealtimeConfig,
    TurnDetectionConfig,
)
from edged.daemon import Daemon, Timeline
from edged.demo.scenario import utterance
from edged.simulator import Fault, SimulatorThread
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

PTT, WAKE = 17, 27


@dataclass
class Speaker:
    daemon: Daemon
    sim: SimulatorThread
    rig: PulseRig
    factory: Any
    loop: asyncio.AbstractEventLoop

    def pin(self, n: int) -> Any:
        return self.factory.pin(n)

    def call(self, fn: Callable[[], Any]) -> Any:
        done = threading.Event()
        box: list[Any] = []
        self.loop.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
        assert done.wait(10)
        return box[0]

    def entries(self, name: str, after: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        return self.call(lambda: [(t, f) for t, n, f in self.daemon.timeline.entries
                                  if n == name and t >= after])

    def wait(self, name: str, after: float = 0.0, timeout: float = 30.0, **match: Any) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [t for t, f in self.entries(name, after)
                   if all(f.get(k) == v for k, v in match.items())]
            if got:
                return got[0]
            time.sleep(0.02)
        raise AssertionError(f"no {name} within {timeout} s")

    def client_types(self, start: int = 0) -> list[str]:
        return [str(e["type"]) for _, e in self.sim.events()[start:]]


@pytest.fixture
def speaker(pulse: PulseRig, tmp_path: Path) -> Iterator[Speaker]:
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    with SimulatorThread(answer="echo", pace=2.0) as sim:
        cfg = Config(
            audio=AudioConfig(input_device="edged_mic", output_device="edged_spk"),
            controls=ControlsConfig(ptt_pin=PTT, wake_pin=WAKE),
            control=ControlConfig(socket=str(tmp_path / "control.sock")),
            realtime=RealtimeConfig(provider="custom", url=sim.url,
                                    turn_detection=TurnDetectionConfig(type="server_vad")),
        )
        daemon = Daemon(cfg, audio_factory=_engine, key_source=lambda: "sk-test-not-real",
                        pin_factory=factory, timeline=Timeline(keep=True))
        ready = threading.Event()
        box: dict[str, Any] = {}

        def main() -> None:
            async def go() -> int:
                box["loop"] = asyncio.get_running_loop()
                ready.set()
                return await daemon.run(install_signals=False)

            box["code"] = asyncio.run(go())

        thread = threading.Thread(target=main, name="daemon", daemon=True)
        thread.start()
        assert ready.wait(10)
        sp = Speaker(daemon, sim, pulse, factory, box["loop"])
        sp.wait("link_up", timeout=30)
        try:
            yield sp
        finally:
            sp.loop.call_soon_threadsafe(daemon.stop)
            thread.join(15)
            assert not thread.is_alive(), "the daemon did not stop"
            assert box.get("code") == 0
            factory.reset()


def _engine(cfg: Config, loop: asyncio.AbstractEventLoop, callbacks: AudioCallbacks) -> Any:
    from edged.audio.port import pyaudio_engine

    return pyaudio_engine(cfg, loop, callbacks)


def speak_with_ptt(sp: Speaker, words: str = "weather") -> float:
    """Hold the PTT button while the microphone hears ``words``; returns the release time."""
    pcm = utterance(words)
    sp.pin(PTT).drive_low()
    sp.rig.feed_mic(pcm, rate=24000)
    sp.rig.wait_fed()
    time.sleep(0.3)
    released = time.monotonic()
    sp.pin(PTT).drive_high()
    return released


def test_ptt_turn_sends_events_in_order_and_plays_the_answer(speaker: Speaker) -> None:
    sp = speaker
    time.sleep(1.0)  # the pulse plugin's first buffers are slow; let the pre-roll fill
    start = len(sp.sim.events())
    recorder = sp.rig.record_speaker()
    released = speak_with_ptt(sp)
    done = sp.wait("response_done", released)
    sp.wait("transition", done, to="idle")
    out = np.frombuffer(recorder.stop(), dtype="<i2").astype(np.float64)
    types = sp.client_types(start)
    turn = [t for t in types if t != "session.update"]
    assert turn[0] == "input_audio_buffer.clear"
    appends = turn[1:-2]
    assert appends and set(appends) == {"input_audio_buffer.append"}
    assert turn[-2:] == ["input_audio_buffer.commit", "response.create"]
    # what was sent is the utterance plus its pre-roll: at least the spoken length
    sent = sum(len(e.get("audio", "")) * 3 // 4 for _, e in sp.sim.events()[start:]
               if e["type"] == "input_audio_buffer.append")
    assert sent / 48000 >= len(utterance("weather")) / 48000
    # the echoed answer reached the speaker: loud 100 ms blocks in the recording
    blocks = out[: len(out) // 9600 * 9600].reshape(-1, 9600)
    assert (np.sqrt((blocks ** 2).mean(axis=1)) > 300).sum() >= 5


def test_barge_in_stops_output_and_truncates_at_what_was_heard(speaker: Speaker) -> None:
    sp = speaker
    time.sleep(1.0)
    released = speak_with_ptt(sp, "joke")
    first = sp.wait("answer_audio", released)
    time.sleep(0.8)
    start = len(sp.sim.events())
    pressed = time.monotonic()
    sp.pin(PTT).drive_low()
    flushed = sp.wait("flushed", pressed)
    sp.wait("sent", pressed)
    time.sleep(0.5)
    sp.pin(PTT).drive_high()  # a short press after a barge-in
    truncates = [e for _, e in sp.sim.events()[start:]
                 if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    heard = truncates[0]["audio_end_ms"]
    # some of the answer was heard before the press, and never more than was received
    item = truncates[0]["item_id"]
    received_ms = sp.sim.read(lambda sim: next(a.sent for a in sim.answers
                                               if a.item_id == item)) // 48
    assert 0 < heard <= received_ms, (heard, received_ms)
    assert first < pressed <= flushed  # how fast the flush was is the bench's figure


def test_utterance_spoken_during_link_drop_is_delivered(speaker: Speaker) -> None:
    sp = speaker
    time.sleep(1.0)
    before = sp.sim.connections()
    pcm = utterance("lights")
    sp.pin(PTT).drive_low()
    sp.rig.feed_mic(pcm, rate=24000)
    time.sleep(0.5)
    sp.sim.inject(Fault.refuse(503, retry_after=6.0))  # back well after the release
    dropped = time.monotonic()
    sp.sim.drop_all()
    sp.rig.wait_fed()
    time.sleep(0.2)
    sp.pin(PTT).drive_high()
    released = time.monotonic()
    up = sp.wait("link_up", dropped)
    assert up > released, "the link came back before the release: nothing was held"
    sp.wait("utterance_delivered", dropped)
    sp.wait("response_done", up)
    after = [e for c, e in sp.sim.events() if c > before]
    types = [e["type"] for e in after if e["type"] != "session.update"]
    assert types[0] == "input_audio_buffer.clear"
    assert types[-2:] == ["input_audio_buffer.commit", "response.create"]
    held = sum(len(e["audio"]) * 3 // 4 for e in after if e["type"] == "input_audio_buffer.append")
    # the whole utterance was kept, not just what followed the reconnect
    assert held / 48000 >= len(pcm) / 48000 * 0.9
