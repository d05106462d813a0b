"""``edged demo``: the real daemon against the built-in simulator, scripted.

Nothing here is faked except the hardware: the daemon, its conversation
machine, its realtime link and the simulator are the ones ``edged run`` uses,
talking WebSocket over loopback. The microphone and speaker are the paced
virtual ones in ``wav_audio``, and the buttons are pressed by this script
through the same entry point gpiozero's callbacks use.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from edged import pcm
from edged.audio.port import AudioCallbacks
from edged.config import (
    Config,
    ControlConfig,
    ControlsConfig,
    ConversationConfig,
    RealtimeConfig,
    TurnDetectionConfig,
)
from edged.conversation import PttDown, PttUp, WakePress
from edged.daemon import Daemon, Timeline
from edged.demo.wav_audio import WavAudio
from edged.simulator import Fault, Simulator

STEP_TIMEOUT_S = 20.0


def utterance(name: str) -> bytes:
    """One of the recorded demo utterances (24 kHz mono PCM16)."""
    data = resources.files("edged.demo").joinpath(f"{name}.wav").read_bytes()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (
            pcm.RATE, 1, pcm.SAMPLE_BYTES)
        return bytes(w.readframes(w.getnframes()))


def demo_config(url: str) -> Config:
    return Config(
        realtime=RealtimeConfig(
            provider="custom", url=url,
            turn_detection=TurnDetectionConfig(type="server_vad", silence_duration_ms=500),
        ),
        controls=ControlsConfig(enabled=False),
        control=ControlConfig(enabled=False),  # the demo is driven by its script
        conversation=ConversationConfig(follow_up_s=2.0),
        source="<demo>",
    )


class Demo:
    def __init__(self, *, pace: float, out: Path | None, say: Callable[[str], None]) -> None:
        self.pace = pace
        self.out = out
        self.say = say
        self.timeline = Timeline(keep=True)
        self.steps: list[dict[str, Any]] = []
        self.t0 = 0.0

    # -- helpers

    async def until(self, what: str, after: float, timeout: float = STEP_TIMEOUT_S,
                    **match: Any) -> float:
        """Wait for a timeline entry ``what`` (with matching fields) after time ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, name, fields in self.timeline.entries:
                if t >= after and name == what and all(fields.get(k) == v
                                                       for k, v in match.items()):
                    return t
            await asyncio.sleep(0.01)
        raise TimeoutError(f"the demo waited {timeout:g} s for {what} {match or ''}")

    def ms(self, a: float, b: float) -> float:
        return round((b - a) * 1000.0, 1)

    def log(self, t: float, text: str) -> None:
        self.say(f"{t - self.t0:7.3f}s  {text}")

    # -- the script

    async def run(self) -> dict[str, Any]:
        async with Simulator(host="127.0.0.1", port=0, answer="echo", pace=self.pace) as sim:
            loop = asyncio.get_running_loop()
            audio: WavAudio | None = None

            def played(item: str, now: float) -> None:
                self.timeline.add(now, "first_audio_played", item=item)

            def factory(cfg: Config, lp: asyncio.AbstractEventLoop,
                        callbacks: AudioCallbacks) -> WavAudio:
                nonlocal audio
                audio = WavAudio(cfg, lp, callbacks, on_first_played=played)
                return audio

            daemon = Daemon(demo_config(sim.url), audio_factory=factory,
                            key_source=lambda: "demo-key-not-secret",
                            timeline=self.timeline)
            self.t0 = loop.time()
            runner = asyncio.create_task(daemon.run(install_signals=False))
            try:
                up = await self.until("link_up", self.t0)
                self.log(up, f"link up to the simulator at {sim.url}")
                assert audio is not None
                await self.push_to_talk(daemon, audio, loop)
                await self.barge_in(daemon, audio, loop)
                await self.hands_free(daemon, audio, loop)
                await self.link_drop(daemon, audio, loop, sim)
            finally:
                daemon.stop()
                await runner
            result = self.result(daemon, audio)
        if self.out is not None and audio is not None:
            with wave.open(str(self.out), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(pcm.SAMPLE_BYTES)
                w.setframerate(pcm.RATE)
                w.writeframes(bytes(audio.recording))
            result["answer_wav"] = str(self.out)
        return result

    async def turn_ends(self, after: float) -> float:
        return await self.until("transition", after, to="idle")

    async def push_to_talk(self, daemon: Daemon, audio: WavAudio,
                           loop: asyncio.AbstractEventLoop) -> None:
        self.say("— push-to-talk: hold, speak, release")
        await asyncio.sleep(0.4)  # let the pre-roll fill with room tone
        pressed = loop.time()
        daemon.button(PttDown())
        self.log(pressed, "PTT pressed")
        audio.speak(utterance("weather"))
        await audio.speaking_done.wait()
        released = loop.time()
        daemon.button(PttUp())
        self.log(released, "PTT released (\"What is the weather like today?\")")
        created = await self.until("response_created", released)
        self.log(created, f"answer started (+{self.ms(released, created)} ms)")
        played = await self.until("first_audio_played", released)
        self.log(played, f"first answer audio played (+{self.ms(released, played)} ms "
                 "after release)")
        done = await self.turn_ends(played)
        self.log(done, "answer finished, idle")
        self.steps.append({"step": "push_to_talk", "release_to_response_ms":
                           self.ms(released, created), "release_to_first_audio_ms":
                           self.ms(released, played), "answer_ms": self.ms(played, done)})

    async def barge_in(self, daemon: Daemon, audio: WavAudio,
                       loop: asyncio.AbstractEventLoop) -> None:
        self.say("— barge-in: press again while the answer plays")
        daemon.button(PttDown())
        audio.speak(utterance("joke"))
        await audio.speaking_done.wait()
        released = loop.time()
        daemon.button(PttUp())
        played = await self.until("first_audio_played", released)
        self.log(played, "answer playing")
        await asyncio.sleep(0.6)
        pressed = loop.time()
        daemon.button(PttDown())
        flushed = await self.until("flushed", pressed)
        truncated = await self.until("sent", pressed, type="ItemTruncate")
        heard = next(f["audio_end_ms"] for t, n, f in self.timeline.entries
                     if t >= pressed and n == "sent" and f["type"] == "ItemTruncate")
        self.log(pressed, f"PTT pressed during the answer → speaker silent after "
                 f"{self.ms(pressed, flushed)} ms, truncate sent (heard {heard} ms)")
        audio.speak(utterance("lights"))
        await audio.speaking_done.wait()
        released2 = loop.time()
        daemon.button(PttUp())
        self.log(released2, "PTT released (\"Turn off the kitchen lights.\")")
        played2 = await self.until("first_audio_played", released2)
        done = await self.turn_ends(played2)
        self.log(done, "second answer finished, idle")
        self.steps.append({"step": "barge_in", "press_to_silent_ms": self.ms(pressed, flushed),
                           "press_to_truncate_ms": self.ms(pressed, truncated),
                           "heard_ms": heard,
                           "release_to_first_audio_ms": self.ms(released2, played2)})

    async def hands_free(self, daemon: Daemon, audio: WavAudio,
                         loop: asyncio.AbstractEventLoop) -> None:
        self.say("— hands-free: press wake, just talk")
        pressed = loop.time()
        daemon.button(WakePress(held_ms=200))
        self.log(pressed, "wake pressed: hands-free conversation, server turn detection")
        await asyncio.sleep(0.3)
        audio.speak(utterance("joke"))
        await audio.speaking_done.wait()
        spoke = loop.time()
        created = await self.until("response_created", spoke)
        self.log(created, f"server heard the end of the turn and answered "
                 f"(+{self.ms(spoke, created)} ms after speech ended)")
        ended = await self.until("handsfree_ended", created)
        self.log(ended, "quiet for follow_up_s: conversation ended by itself")
        self.steps.append({"step": "hands_free", "speech_end_to_response_ms":
                           self.ms(spoke, created)})

    async def link_drop(self, daemon: Daemon, audio: WavAudio,
                        loop: asyncio.AbstractEventLoop, sim: Simulator) -> None:
        self.say("— link drop: the network fails mid-utterance")
        await self.turn_ends(loop.time() - 5)
        daemon.button(PttDown())
        audio.speak(utterance("weather"))
        await asyncio.sleep(0.5)
        # The next handshake is refused with Retry-After: 2, so the link stays down
        # past the release and the utterance must be held, then delivered.
        sim.inject(Fault.refuse(503, retry_after=2.0))
        dropped = loop.time()
        await sim.drop_all()
        self.log(dropped, "link dropped by the simulator (TCP cut; next handshake: 503, "
                 "Retry-After 2 s)")
        await audio.speaking_done.wait()
        released = loop.time()
        daemon.button(PttUp())
        self.log(released, "PTT released while offline: utterance held")
        up = await self.until("link_up", dropped)
        self.log(up, f"link back after {self.ms(dropped, up)} ms")
        delivered = await self.until("utterance_delivered", dropped)
        self.log(delivered, "held utterance delivered")
        played = await self.until("first_audio_played", delivered)
        done = await self.turn_ends(played)
        self.log(done, "answered after the reconnect, idle")
        self.steps.append({"step": "link_drop", "reconnect_ms": self.ms(dropped, up),
                           "release_to_first_audio_ms": self.ms(released, played)})

    def result(self, daemon: Daemon, audio: WavAudio | None) -> dict[str, Any]:
        m = daemon.metrics
        status = daemon.link.status if daemon.link is not None else None
        return {
            "ok": True,
            "steps": self.steps,
            "answers": m.answers,
            "barge_ins": m.barge_ins,
            "utterances": {"held": m.utterances_held, "delivered": m.utterances_delivered,
                           "dropped": m.utterances_dropped},
            "link": {"connects": status.connects if status else 0,
                     "reconnects": status.reconnects if status else 0},
            "latency_ms": {
                "uplink_p50": m.uplink.percentile(50), "uplink_p95": m.uplink.percentile(95),
                "downlink_p50": m.downlink.percentile(50),
                "downlink_p95": m.downlink.percentile(95),
            },
            "answer_audio_s": round(len(audio.recording) / 48000, 2) if audio else 0,
            "timeline": [{"t": round(t - self.t0, 3), "event": n,
                          **{k: v for k, v in f.items() if k != "played"}}
                         for t, n, f in self.timeline.entries],
        }
