"""``edged demo``: the real daemon against the built-in simulator, scripted.

Nothing here is faked except the hardware: the daemon, its conversation
machine, its realtime link and the simulator are the ones ``edged run`` uses,
talking WebSocket over loopback. The microphone and speaker are PortAudio's,
over a private PulseAudio server's null sinks (``pulse_audio``), where
PulseAudio is installed; else the paced in-memory ones (``wav_audio``). The
buttons are pressed by this script through the same entry point gpiozero's
callbacks use, and the one typed turn goes in as ``edged ctl say`` sends it.

Every figure is measured on the run: from the daemon's own timestamps (its
timeline) and the speaker's (``speaker.SpeakerLog``), never from the rig's
start-up, which is waited out before the first scene.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from edged import pcm
from edged.config import (
    AudioConfig,
    Config,
    ControlConfig,
    ControlsConfig,
    ConversationConfig,
    RealtimeConfig,
    ToolsConfig,
    TurnDetectionConfig,
)
from edged.conversation import PttDown, PttUp, Say, WakePress
from edged.daemon import Daemon, Timeline
from edged.demo.speaker import DemoDevices, silence
from edged.demo.wav_audio import MemoryDevices
from edged.simulator import Fault, ScriptedResponse, Simulator

STEP_TIMEOUT_S = 20.0
AudioChoice = Literal["auto", "pulse", "memory"]
TIMER_S = 5  # what the typed turn asks for
TIMER_PROMPT = "set a timer for five seconds"


def utterance(name: str) -> bytes:
    """One of the recorded demo utterances (24 kHz mono PCM16)."""
    data = resources.files("edged.demo").joinpath(f"{name}.wav").read_bytes()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (
            pcm.RATE, 1, pcm.SAMPLE_BYTES)
        return bytes(w.readframes(w.getnframes()))


def demo_config(url: str, audio: AudioConfig, state_dir: Path) -> Config:
    return Config(
        audio=audio,
        realtime=RealtimeConfig(
            provider="custom", url=url,
            turn_detection=TurnDetectionConfig(type="server_vad", silence_duration_ms=500),
        ),
        controls=ControlsConfig(enabled=False),
        control=ControlConfig(enabled=False),  # the demo is driven by its script
        conversation=ConversationConfig(follow_up_s=2.0),
        # the timer the demo sets lives and dies in a directory of its own, never in
        # the system's state directory
        tools=ToolsConfig(state_dir=str(state_dir)),
        source="<demo>",
    )


class AudioUnavailable(Exception):
    """``--audio pulse`` where PulseAudio cannot be had."""


class Demo:
    def __init__(self, *, pace: float, out: Path | None, say: Callable[[str], None],
                 audio: AudioChoice = "auto") -> None:
        self.pace = pace
        self.out = out
        self.say = say
        self.audio_choice = audio
        self.timeline = Timeline(keep=True)
        self.steps: list[dict[str, Any]] = []
        self.t0 = 0.0
        self.warmup_s: float | None = None

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

    def first_played(self, item: str, when: float) -> None:
        """An answer's first sample reached the speaker (the devices' clock)."""
        self.timeline.add(when, "first_audio_played", item=item)

    @contextlib.contextmanager
    def devices(self) -> Iterator[DemoDevices]:
        """The rig's PortAudio devices where PulseAudio works (``auto``/``pulse``), else
        the in-memory ones, saying why."""
        why = "--audio memory"
        with contextlib.ExitStack() as stack:
            chosen: DemoDevices | None = None
            if self.audio_choice != "memory":
                from edged.demo import pulse_audio

                reason = pulse_audio.unavailable()
                if reason is None:
                    try:
                        chosen = stack.enter_context(
                            pulse_audio.pulse_devices(self.first_played))
                    except Exception as exc:  # any cause: said in the first line
                        reason = f"the private server did not start: {exc}"
                if chosen is None:
                    if self.audio_choice == "pulse":
                        raise AudioUnavailable(f"PulseAudio not available: {reason}")
                    why = f"PulseAudio not available: {reason}"
            yield chosen if chosen is not None else MemoryDevices(why, self.first_played)

    async def run(self) -> dict[str, Any]:
        state_dir = Path(tempfile.mkdtemp(prefix="edged-demo-state-"))
        try:
            with self.devices() as devices:
                self.say(f"audio: {devices.label}")
                result = await self._run(devices, state_dir)
                recording = devices.recording()
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
        result["answer_audio_s"] = round(len(recording) / pcm.BYTES_PER_S, 2)
        if self.out is not None:
            with wave.open(str(self.out), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(pcm.SAMPLE_BYTES)
                w.setframerate(pcm.RATE)
                w.writeframes(recording)
            result["answer_wav"] = str(self.out)
        return result

    async def _run(self, devices: DemoDevices, state_dir: Path) -> dict[str, Any]:
        async with Simulator(host="127.0.0.1", port=0, answer="echo", pace=self.pace) as sim:
            loop = asyncio.get_running_loop()
            base = AudioConfig()
            config = demo_config(sim.url, devices.audio_config(base), state_dir)
            daemon = Daemon(config, audio_factory=devices.factory,
                            key_source=lambda: "demo-key-not-secret",
                            timeline=self.timeline)
            self.t0 = loop.time()
            runner = asyncio.create_task(daemon.run(install_signals=False))
            try:
                up = await self.until("link_up", self.t0)
                self.log(up, f"link up to the simulator at {sim.url}")
                self.warmup_s = await devices.warm()
                if self.warmup_s is not None:
                    self.log(loop.time(), f"both audio streams running after "
                             f"{self.warmup_s * 1000:.0f} ms (the idle null sink's first "
                             "block; waited out here, in no figure below)")
                await self.push_to_talk(daemon, devices, loop)
                await self.barge_in(daemon, devices, loop)
                await self.hands_free(daemon, devices, loop)
                await self.link_drop(daemon, devices, loop, sim)
                await self.timer(daemon, devices, loop, sim)
            finally:
                daemon.stop()
                await runner
            return self.result(daemon, devices, sim)

    async def turn_ends(self, after: float) -> float:
        return await self.until("transition", after, to="idle")

    async def push_to_talk(self, daemon: Daemon, audio: DemoDevices,
                           loop: asyncio.AbstractEventLoop) -> None:
        self.say("— push-to-talk: hold, speak, release")
        await asyncio.sleep(0.4)  # let the pre-roll fill with room tone
        pressed = loop.time()
        daemon.button(PttDown())
        self.log(pressed, "PTT pressed")
        audio.speak(utterance("weather"))
        await audio.spoken()
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

    async def barge_in(self, daemon: Daemon, audio: DemoDevices,
                       loop: asyncio.AbstractEventLoop) -> None:
        self.say("— barge-in: press again while the answer plays")
        daemon.button(PttDown())
        audio.speak(utterance("joke"))
        await audio.spoken()
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
        audio.speak(utterance("lights"))
        silent = await silence(audio, pressed, flushed, then="listening")
        self.log(pressed, f"PTT pressed during the answer → playback flushed after "
                 f"{self.ms(pressed, flushed)} ms, speaker silent after "
                 f"{self.ms(pressed, silent)} ms, truncate sent (heard {heard} ms)")
        await audio.spoken()
        released2 = loop.time()
        daemon.button(PttUp())
        self.log(released2, "PTT released (\"Turn off the kitchen lights.\")")
        played2 = await self.until("first_audio_played", released2)
        done = await self.turn_ends(played2)
        self.log(done, "second answer finished, idle")
        self.steps.append({"step": "barge_in", "press_to_flush_ms": self.ms(pressed, flushed),
                           "press_to_silent_ms": self.ms(pressed, silent),
                           "press_to_truncate_ms": self.ms(pressed, truncated),
                           "heard_ms": heard,
                           "release_to_first_audio_ms": self.ms(released2, played2)})

    async def hands_free(self, daemon: Daemon, audio: DemoDevices,
                         loop: asyncio.AbstractEventLoop) -> None:
        self.say("— hands-free: press wake, just talk")
        pressed = loop.time()
        daemon.button(WakePress(held_ms=200))
        self.log(pressed, "wake pressed: hands-free conversation, server turn detection")
        await asyncio.sleep(0.3)
        audio.speak(utterance("joke"))
        await audio.spoken()
        spoke = loop.time()
        created = await self.until("response_created", spoke)
        self.log(created, f"server heard the end of the turn and answered "
                 f"(+{self.ms(spoke, created)} ms after speech ended)")
        ended = await self.until("handsfree_ended", created)
        self.log(ended, "quiet for follow_up_s: conversation ended by itself")
        self.steps.append({"step": "hands_free", "speech_end_to_response_ms":
                           self.ms(spoke, created)})

    async def link_drop(self, daemon: Daemon, audio: DemoDevices,
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
        await audio.spoken()
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

    async def timer(self, daemon: Daemon, audio: DemoDevices,
                    loop: asyncio.AbstractEventLoop, sim: Simulator) -> None:
        self.say("— timer: a tool call, then the alarm, stopped by a press")
        await self.turn_ends(loop.time() - 5)
        # The simulator cannot understand the request: it is told that its next
        # response calls set_timer, as a model would for this sentence.
        sim.script(ScriptedResponse.of("set_timer", f'{{"seconds": {TIMER_S}, '
                                       '"label": "demo"}'))
        typed = loop.time()
        daemon.button(Say(TIMER_PROMPT))
        self.log(typed, f'typed "{TIMER_PROMPT}" (the demo has no recording of this '
                 "sentence: sent as text, as `edged ctl say` does)")
        call = await self.until("tool_call", typed, name="set_timer")
        call_id = next(f["call_id"] for t, n, f in self.timeline.entries
                       if t == call and n == "tool_call")
        set_at = await self.until("timer", typed, event="set")
        sent = await self.until("tool_output_sent", call, call_id=call_id)
        known = [o.known for o in sim.tool_outputs if o.call_id == call_id]
        self.log(call, f"the model called set_timer ({call_id}); the timer is set")
        self.log(sent, f"output sent after {self.ms(call, sent)} ms "
                 f"({'known to' if all(known) and known else 'REFUSED by'} the server)")
        confirmed = await self.until("first_audio_played", sent)
        self.log(confirmed, f"spoken confirmation heard (+{self.ms(sent, confirmed)} ms "
                 "after the output was sent)")
        await self.turn_ends(confirmed)
        ringing = await self.until("ringing", set_at, timeout=TIMER_S + STEP_TIMEOUT_S)
        self.log(ringing, f"ringing {ringing - set_at:.3f} s after the timer was set "
                 f"({TIMER_S} s asked)")
        audible = await self.audible(audio, ringing)
        self.log(audible, f"alarm heard (+{self.ms(ringing, audible)} ms)")
        # press while its first beep sounds
        await asyncio.sleep(max(0.0, audible + 0.03 - loop.time()))
        pressed = loop.time()
        daemon.button(PttDown())
        stopped = await self.until("ring_stopped", pressed, by="ptt")
        await asyncio.sleep(0.3)
        daemon.button(PttUp())
        silent = await silence(audio, pressed, stopped)
        self.log(pressed, f"PTT pressed while ringing → ring stopped after "
                 f"{self.ms(pressed, stopped)} ms, speaker silent after "
                 f"{self.ms(pressed, silent)} ms")
        self.steps.append({
            "step": "timer", "call_id": call_id, "output_known": bool(known) and all(known),
            "call_to_output_ms": self.ms(call, sent),
            "output_to_confirmation_ms": self.ms(sent, confirmed),
            "asked_s": TIMER_S, "ring_delay_s": round(ringing - set_at, 3),
            "ring_to_audible_ms": self.ms(ringing, audible),
            "press_to_stop_ms": self.ms(pressed, stopped),
            "press_to_silent_ms": self.ms(pressed, silent), "stopped_by": "ptt",
        })

    async def audible(self, audio: DemoDevices, after: float) -> float:
        """When the speaker first sounded after ``after``."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while (at := audio.speaker.audible_from(after)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo waited {STEP_TIMEOUT_S:g} s for the speaker "
                                   "to sound")
            await asyncio.sleep(0.01)
        return at

    def result(self, daemon: Daemon, audio: DemoDevices, sim: Simulator) -> dict[str, Any]:
        m = daemon.metrics
        status = daemon.link.status if daemon.link is not None else None
        entries = sorted(self.timeline.entries, key=lambda e: e[0])
        return {
            "ok": True,
            "audio": audio.kind,
            "audio_label": audio.label,
            "warmup_ms": None if self.warmup_s is None else round(self.warmup_s * 1000, 1),
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
            "tool_outputs": [{"call_id": o.call_id, "known": o.known}
                             for o in sim.tool_outputs],
            # a field named like the entry's own keys keeps its entry's name in front
            # (the timer's {"event": "set"} is "timer_event")
            "timeline": [{"t": round(t - self.t0, 3), "event": n,
                          **{f"{n}_{k}" if k in ("t", "event") else k: v
                             for k, v in f.items() if k != "played"}}
                         for t, n, f in entries],
        }
