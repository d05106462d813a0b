"""A stand-in for the daemon, and a control server running on its own loop thread.

Why a stand-in: the real ``Daemon`` needs audio devices (PortAudio) and a realtime
link before it will accept a button event. The control server uses only five of
its attributes, and the stand-in provides them with the REAL pieces behind each:
the real conversation machine (so phases, refusals and notices are the genuine
ones), real ``Metrics`` and a real ``HealthReporter`` (never started, so it writes
nothing). Only the audio and the link are absent: when the machine opens the
microphone to stream, the stand-in hands it 300 ms of silence as its first
``MicAudio``, as the engine hands over the pre-roll from its capture ring, and it
reports the link as up.

The tools (``volume``, ``timers``) are stood in by ``StandInTools``: the REAL
``TimerService`` with its file in a temporary directory and a clock the test sets,
and a volume level kept in memory (the real shell's is a file and the speaker).

Only for what is about the server and its protocol (who may connect, limits, bad
clients, subscriptions, holds, the tool commands). What the daemon answers — its phases after real
audio, its health figures, what ``edged ctl status`` shows after a turn — is tested
against the real ``Daemon`` in ``test_daemon_wiring`` and ``test_e2e_run``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from edged.config import ControlConfig, HealthConfig, ToolsConfig
from edged.control.server import ControlServer
from edged.conversation import (
    PCM_BYTES_PER_MS,
    Conversation,
    Event,
    LinkUp,
    MicAudio,
    Notice,
    SetMic,
    Settings,
)
from edged.health.metrics import Metrics
from edged.health.reporter import HealthReporter
from edged.tools.timer_service import TimerService
from edged.tools.timers import Now, Timer

T = TypeVar("T")
PREROLL_MS = 300
WALL = datetime(2024, 5, 1, 12, 0, 0).timestamp()
"""12:00:00 local time: the stand-in clock's wall time at its start."""


class Clock:
    """The time as the timer service sees it, set by the test."""

    def __init__(self, *, synced: bool = True) -> None:
        self.mono = 1000.0
        self.wall = WALL
        self.synced = synced

    def __call__(self) -> Now:
        return Now(self.mono, self.wall, "boot-a", self.synced)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


class StandInTools:
    """The tools as the control server sees them (``ToolsView``). Build and use it on
    the daemon's loop: the timer service schedules its wake-ups there."""

    def __init__(self, directory: Path, clock: Clock, emit: Callable[[str, dict[str, Any]], None],
                 *, level: int = 60, step: int = 10, max_timers: int = 3) -> None:
        self.level = level
        self.config = ToolsConfig(volume_step=step)
        self.rang: list[Timer] = []
        self.broken = False  # volume() raises: a bug in the tools
        self._emit = emit
        self.timers = TimerService(directory, asyncio.get_running_loop(), self.rang.extend,
                                   max_timers=max_timers, grace_s=60.0, now=clock)
        self.timers.start()

    def volume(self) -> int:
        if self.broken:
            raise RuntimeError("volume store on fire")
        return self.level

    def set_volume(self, level: int) -> int:
        self.level = max(0, min(100, level))
        self._emit("volume", {"level": self.level})  # as the real shell does
        return self.level


class StandInDaemon:
    def __init__(self, settings: Settings | None = None) -> None:
        self.conversation = Conversation(settings or Settings(min_press_ms=0))
        self.metrics = Metrics(time.monotonic())
        self.reporter = HealthReporter(self.metrics, HealthConfig(),
                                       write=lambda *args: None)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.fed: list[Event] = []  # what the control server fed, in order
        self.notices: list[tuple[str, dict[str, Any]]] = []
        self.mic: str = "closed"  # the last SetMic mode the machine asked for
        self.tools: StandInTools | None = None  # as the daemon's before it starts them
        self._run(None)
        self.metrics.set_state("idle")  # as the daemon does once it is ready
        self.metrics.set_link("up", time.monotonic())
        self.handle(LinkUp())

    def button(self, event: Event) -> None:
        """The daemon's entry point for buttons and local control."""
        self.fed.append(event)
        self.handle(event)

    async def settled(self) -> None:
        return None  # it handles every event as it is fed

    def handle(self, event: Event) -> None:
        self._run(event)

    def wake_word_status(self) -> dict[str, Any]:
        return {"enabled": False, "listening": False}  # as the daemon's with it off

    def _run(self, event: Event | None) -> None:
        now = time.monotonic()
        actions = (self.conversation.start(now) if event is None
                   else self.conversation.handle(event, now))
        streaming = self.mic == "stream"
        for action in actions:
            if isinstance(action, SetMic):
                self.mic = action.mode
            elif isinstance(action, Notice):
                if action.kind == "transition":
                    self.metrics.set_state(str(action.fields.get("to")))
                self.emit(action.kind, dict(action.fields))
        if self.mic == "stream" and not streaming:  # the engine's ring comes first
            self._run(MicAudio(b"\x00" * (PREROLL_MS * PCM_BYTES_PER_MS), time.monotonic()))

    def emit(self, kind: str, fields: dict[str, Any]) -> None:
        """As the daemon does: every listener gets every structured event."""
        self.notices.append((kind, fields))
        for listener in list(self.listeners):
            listener(kind, fields)


class Served:
    """A ControlServer for ``daemon`` on an event loop in a background thread."""

    def __init__(self, config: ControlConfig, daemon: StandInDaemon) -> None:
        self.daemon = daemon
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="control-loop",
                                       daemon=True)
        self.thread.start()
        self.server = ControlServer(config, daemon)
        self.path = config.socket
        try:
            self.call(self.server.start)
        except BaseException:
            self.stop_loop()
            raise

    def call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Await ``fn()`` (a coroutine function) on the server's loop."""
        async def run() -> Any:
            return await fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def on_loop(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run plain ``fn()`` on the loop thread (the daemon's state lives there)."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout)

    def wait_until(self, predicate: Callable[[], object], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.on_loop(lambda: bool(predicate())):
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.01)

    def close(self) -> None:
        try:
            self.call(self.server.close)
        finally:
            self.stop_loop()

    def stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


@contextmanager
def serving_tools(socket: Path, directory: Path, clock: Clock | None = None,
                  **tools: Any) -> Iterator[Served]:
    """A server whose daemon has ``StandInTools`` (timers in ``directory``, ``clock``)."""
    with serving(socket) as served:
        d = served.daemon

        async def start() -> StandInTools:
            return StandInTools(directory, clock or Clock(), d.emit, **tools)

        tools = d.tools = served.call(start)
        try:
            yield served
        finally:
            served.on_loop(tools.timers.close)


@contextmanager
def serving(socket: Path, daemon: StandInDaemon | None = None,
            **overrides: Any) -> Iterator[Served]:
    config = replace(ControlConfig(), socket=str(socket), **overrides)
    served = Served(config, daemon or StandInDaemon())
    try:
        yield served
    finally:
        served.close()
