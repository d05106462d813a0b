"""The control server inside the REAL daemon, in-process: a socket turn equals a GPIO
turn, and ``status`` answers with the daemon's own figures.

Real: the ``Daemon``, its conversation machine, observer, metrics and realtime link,
the simulator over loopback WebSocket, the control server the daemon starts itself
from ``config.control`` (nothing here starts one), and the ``edged ctl`` CLI as a
separate process. Stand-ins: the GPIO pins (gpiozero's MockFactory; this machine has
none) and the audio devices (the demo's paced virtual microphone and speaker,
``WavAudio``, which offer the daemon exactly what the PyAudio engine does). The e2e
tests in ``test_e2e_run.py`` repeat this with the ``edged run`` process and PyAudio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edged.audio.port import AudioCallbacks
from edged.config import AudioConfig, Config, ControlConfig, ControlsConfig, HealthConfig
from edged.control.client import ControlClient
from edged.daemon import Daemon, Timeline
from edged.demo.scenario import demo_config, utterance
from edged.demo.wav_audio import WavAudio
from edged.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
PTT_PIN = 17
TURN = ["input_audio_buffer.clear", "input_audio_buffer.append", "input_audio_buffer.commit",
        "response.create"]
SPEECH = utterance("weather")[: 24000 * 2]  # one second of speech


def collapse(types: list[str]) -> list[str]:
    """Client event types with runs of appends counted once (their number depends on
    the utterance's length, not on who pressed)."""
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t or t != "input_audio_buffer.append":
            out.append(t)
    return out


@dataclass
class Running:
    daemon: Daemon
    runner: asyncio.Task[int]
    sim: Simulator
    audio: list[WavAudio]  # the engines the daemon made (one, unless a reload swaps it)
    pins: MockFactory
    timeline: Timeline
    socket: str

    @property
    def mic(self) -> WavAudio:
        return self.audio[-1]

    async def until(self, predicate: Callable[[], bool], what: str,
                    timeout: float = 60.0) -> None:
        """Poll ``predicate`` on the daemon's loop (never blocking it) until it holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.runner.done():
                raise AssertionError(f"the daemon ended while waiting for {what}: "
                                     f"{self.runner.result()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    def idle_after(self, mark: int) -> Callable[[], bool]:
        return lambda: any(name == "transition" and f.get("to") == "idle"
                           for _, name, f in self.timeline.entries[mark:])

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """One command on a connection of its own, off the loop (the client blocks)."""
        def call() -> dict[str, Any]:
            with ControlClient(self.socket, timeout=30) as c:
                return c.request(cmd, **fields)
        return await asyncio.to_thread(call)

    async def ctl(self, *args: str) -> tuple[int, str, str]:
        """``edged ctl --socket SOCKET ARGS`` as its own process."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edged", "ctl", "--socket", self.socket, *args,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The daemon with GPIO push-to-talk on a mock pin and its control socket on, as
    the config asks; stopped (and its socket gone) on exit."""
    pins = MockFactory()
    async with Simulator(host="127.0.0.1", port=0, answer="tone", pace=4.0,
                         tone_s=0.5) as sim:
        config: Config = replace(
            demo_config(sim.url, AudioConfig(), tmp_path / "state"),
            controls=ControlsConfig(enabled=True, ptt_pin=PTT_PIN, wake_pin=None),
            control=replace(ControlConfig(), socket=str(tmp_path / "control.sock")),
            # the daemon runs inside pytest: the process's memory and CPU are the
            # suite's, and its latencies those of a busy host, so only the link and the
            # turns may set the record's priority here
            health=replace(HealthConfig(), memory_warning_mb=4096, memory_critical_mb=4096,
                           cpu_warning_pct=400, cpu_critical_pct=400,
                           latency_warning_ms=60000, latency_critical_ms=60000))
        audio: list[WavAudio] = []

        def make_audio(cfg: Config, loop: asyncio.AbstractEventLoop,
                       callbacks: AudioCallbacks) -> WavAudio:
            audio.append(WavAudio(cfg, loop, callbacks))
            return audio[-1]

        timeline = Timeline(keep=True)
        daemon = Daemon(config, audio_factory=make_audio, pin_factory=pins,
                        key_source=lambda: "not-a-real-key", timeline=timeline)
        runner = asyncio.create_task(daemon.run(install_signals=False))
        try:
            r = Running(daemon, runner, sim, audio, pins, timeline, config.control.socket)
            await r.until(lambda: daemon.metrics.link == "up", "the link")
            # The daemon's own server, started from config.control: nothing else starts one.
            assert daemon.control is not None, "the daemon started no control server"
            assert daemon.control.path == config.control.socket
            yield r
        finally:
            daemon.stop()
            await runner
            pins.reset()
    assert not Path(config.control.socket).exists()


def test_a_ctl_talk_turn_sends_what_a_gpio_press_sends(tmp_path: Path) -> None:
    asyncio.run(talk_equals_gpio(tmp_path))


async def talk_equals_gpio(tmp_path: Path) -> None:
    async with running(tmp_path) as r:
        # 1. the GPIO button (mock pin; the daemon's real Controls and gestures), held
        #    while the person speaks
        mark, first = len(r.timeline.entries), len(r.sim.events)
        r.pins.pin(PTT_PIN).drive_low()
        await r.until(lambda: str(r.daemon.conversation.phase) == "listening", "the GPIO press")
        r.mic.speak(SPEECH)
        await asyncio.wait_for(r.mic.speaking_done.wait(), 60)
        r.pins.pin(PTT_PIN).drive_high()
        await r.until(r.idle_after(mark), "the GPIO turn to end")
        gpio_types = collapse([e["type"] for _, e in r.sim.events[first:]])

        # 2. the same turn from `edged ctl talk`, watched by a subscriber
        watched: list[dict[str, Any]] = []
        watcher = ControlClient(r.socket, timeout=30).connect()
        stream = watcher.events()
        watched.append(await asyncio.to_thread(next, stream))

        async def watch() -> None:
            while True:
                ev = await asyncio.to_thread(next, stream)
                watched.append(ev)
                if ev["event"] == "transition" and ev["phase"] == "idle":
                    return

        watching = asyncio.create_task(watch())
        mark, first = len(r.timeline.entries), len(r.sim.events)
        talk = asyncio.create_task(r.ctl("talk", "--seconds", "1.2"))
        await r.until(lambda: str(r.daemon.conversation.phase) == "listening", "the ctl press")
        r.mic.speak(SPEECH)
        assert await talk == (0, "listening\nthinking\n", "")
        await r.until(r.idle_after(mark), "the ctl turn to end")
        await asyncio.wait_for(watching, 30)
        ctl_types = collapse([e["type"] for _, e in r.sim.events[first:]])
        watcher.close()

        assert gpio_types[: len(TURN)] == TURN
        assert ctl_types == gpio_types
        assert watched[0]["event"] == "state" and watched[0]["phase"] == "idle"
        phases = [e["phase"] for e in watched if e["event"] == "transition"]
        assert phases == ["listening", "thinking", "speaking", "idle"]
        assert r.daemon.metrics.answers == 2


def test_status_over_the_socket_is_what_the_daemon_did(tmp_path: Path) -> None:
    """Machine notices → the daemon's observer → its metrics → the ``status`` reply, and
    what ``edged ctl status`` prints from it: one answered turn, one cancelled."""
    asyncio.run(status_after_turns(tmp_path))


def rows(table: str) -> dict[str, str]:
    """``edged ctl status``'s table as {row name: value} (its indented rows: the volume
    and timer lines after it are not the health record's)."""
    out: dict[str, str] = {}
    for line in table.splitlines()[1:]:
        if not line.startswith("  "):
            continue
        name, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        out[name] = value
    return out


async def status_after_turns(tmp_path: Path) -> None:
    async with running(tmp_path) as r:
        before = await r.request("status")
        assert before["phase"] == "idle" and before["pid"] == os.getpid()
        assert before["health"]["answers"] == 0 and before["health"]["failures"] == {}

        # an answered turn, pressed and released over the socket
        mark = len(r.timeline.entries)
        with ControlClient(r.socket, timeout=30) as c:
            assert (await asyncio.to_thread(c.request, "ptt.press"))["phase"] == "listening"
            r.mic.speak(SPEECH)
            await asyncio.wait_for(r.mic.speaking_done.wait(), 60)
            assert (await asyncio.to_thread(c.request, "ptt.release"))["phase"] == "thinking"
        await r.until(r.idle_after(mark), "the answered turn to end")
        # a turn given up: the machine's utterance_dropped is a failure in the figures
        with ControlClient(r.socket, timeout=30) as c:
            assert (await asyncio.to_thread(c.request, "ptt.press"))["phase"] == "listening"
            assert (await asyncio.to_thread(c.request, "cancel"))["phase"] == "idle"

        reply = await r.request("status")
        health = reply["health"]
        assert reply["phase"] == "idle" and reply["pid"] == os.getpid()
        assert (reply["priority"], reply["reasons"]) == ("info", [])
        assert (health["state"], health["link"], health["connects"]) == ("idle", "up", 1)
        assert health["answers"] == 1 and health["barge_ins"] == 0
        assert (health["utterances_delivered"], health["utterances_held"],
                health["utterances_dropped"]) == (1, 0, 1)
        assert health["failures"] == {"utterance_dropped": 1}
        assert health["errors_last_hour"] == 1
        assert str(health["last_error"]).startswith("utterance_dropped ")
        assert "reason=cancelled" in str(health["last_error"])
        assert health["uplink_p50_ms"] is not None  # the turn's appends were timed
        assert health["downlink_p50_ms"] is not None  # and its answer's first audio
        assert health["devices"] == {"input": "open", "output": "open"}
        assert health["answers"] == r.daemon.metrics.answers  # the daemon's own figures

        code, out, err = await r.ctl("status")
        assert (code, err) == (0, ""), err
        assert out.startswith(f"edged health, pid {os.getpid()}: info\n")
        shown = rows(out)
        assert shown["state"] == "idle" and shown["link"].startswith("up for ")
        assert shown["answers"] == "1 (0 barge-ins)"
        assert shown["utterances"] == "1 delivered, 0 held, 1 dropped"
        assert shown["failures"] == "utterance_dropped 1"
        assert shown["devices"] == "input open, output open"
        assert out.splitlines()[-2:] == ["volume 100", "no timers"]  # the tools' defaults

        code, out, err = await r.ctl("status", "--json")
        assert (code, err) == (0, "")
        data = json.loads(out)
        assert (data["phase"], data["pid"], data["priority"]) == ("idle", os.getpid(), "info")
        assert data["health"]["answers"] == 1 and data["health"]["utterances_dropped"] == 1


def test_volume_and_timers_reach_the_daemons_own_tools(tmp_path: Path) -> None:
    """The REAL tool shell behind the socket: its volume file, its timer service, the
    events it emits, and ``stop`` through the real machine."""
    asyncio.run(tools_over_the_socket(tmp_path))


async def tools_over_the_socket(tmp_path: Path) -> None:
    async with running(tmp_path) as r:
        tools = r.daemon.tools
        assert tools is not None
        assert await r.ctl("volume") == (0, "volume 100\n", "")
        assert await r.ctl("volume", "-30") == (0, "volume 70\n", "")
        assert await r.ctl("volume", "-") == (0, f"volume {70 - tools.config.volume_step}\n",
                                              "")
        assert tools.volume() == 70 - tools.config.volume_step
        assert json.loads((tools.directory / "volume.json").read_text())["level"] == \
            tools.volume()

        code, out, err = await r.ctl("timers", "set", "10m", "pasta")
        assert (code, err) == (0, "")
        assert re.fullmatch(r"t1: pasta in (9m 59s|10m 0s)( \(at \d\d:\d\d\))?\n", out), out
        reply = await r.request("timers")
        assert [(t["id"], t["kind"], t["label"]) for t in reply["timers"]] == [
            ("t1", "timer", "pasta")]
        assert 595 <= reply["timers"][0]["remaining_s"] <= 600
        assert reply["ringing"] == []
        status = await r.request("status")
        assert status["volume"] == tools.volume()
        assert status["next_timer"]["id"] == "t1"
        assert [t.id for t, _ in tools.timers.listing()] == ["t1"]  # the daemon's own

        assert await r.ctl("timers", "cancel", "Pasta") == (0, "cancelled: t1\n", "")
        assert tools.timers.listing() == []
        code, _, err = await r.ctl("timers", "cancel", "pasta")
        assert (code, err) == (1, "edged ctl: no timer matches 'pasta'\n")
        assert await r.ctl("stop") == (0, "idle\n", "")
