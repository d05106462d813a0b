"""The speaker's tools as the daemon runs them: calls, timers, volume, ringing.

The conversation machine decides when a tool runs and what the model is told;
:mod:`edged.tools` holds the tools themselves. This shell sits between them: it
runs a call as a task (its outcome goes back to the machine as ``ToolFinished``,
whatever happens), keeps the timer service and the saved volume, rings an alarm
by repeating its sound, and gives the tools what they may touch of the daemon
(the ``ToolHost`` they are written against) and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from edged.audio.sounds import ALARM_PERIOD_S
from edged.config import Config, ToolsConfig
from edged.conversation import (
    AlarmDue,
    ConfirmWanted,
    EndConversation,
    Event,
    State,
    StopRinging,
    ToolFinished,
)
from edged.daemon.observe import Observer
from edged.daemon.ports import AudioPort
from edged.realtime.events import ToolSpec
from edged.tools import clock, state_file
from edged.tools import volume as volume_mod
from edged.tools.builtins import builtin_tools
from edged.tools.configured import configured_tools
from edged.tools.registry import Registry, Tool
from edged.tools.timer_service import TimerService, describe
from edged.tools.timers import Timer

log = logging.getLogger("edged.tools")


class ToolShell:
    """One daemon's tools. ``start()`` after the audio port is up; ``close()`` at stop."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop, *,
                 feed: Callable[[Event], None], audio: Callable[[], AudioPort | None],
                 state: Callable[[], State], observer: Observer) -> None:
        self._cfg = config.tools
        self._loop = loop
        self._feed = feed
        self._audio = audio
        self._state = state
        self._observer = observer
        self.directory: Path = state_file.state_dir(self._cfg.state_dir)
        self._volume = volume_mod.VolumeStore(self.directory)
        self.level = self._volume.load()
        self._timers = TimerService(self.directory, loop, self._due,
                                    max_timers=self._cfg.max_timers,
                                    grace_s=self._cfg.missed_grace_s, on_missed=self._missed,
                                    on_change=self._changed)
        self._slots = asyncio.Semaphore(self._cfg.max_running_commands)
        self._confirming: dict[str, asyncio.Future[bool]] = {}  # tool name → the press
        self.registry = Registry(self._tools())
        self._calls: set[asyncio.Task[None]] = set()
        self._ring: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load the timers (ringing what fell due while the speaker was off) and put
        the saved volume on the speaker."""
        restored = self._timers.start()
        self.apply_volume()
        if restored.ring_now:
            self._due(list(restored.ring_now))
        if restored.missed:
            self._missed(list(restored.missed))
        if restored.kept:
            log.info("%d timer(s) and alarm(s) restored from %s", len(restored.kept),
                     self._timers.path, extra={"fields": {"kind": "timer", "timer": "restored",
                                                          "count": len(restored.kept)}})

    async def close(self) -> None:
        self._timers.close()
        self.ring(False)
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def reconfigure(self, config: Config) -> bool:
        """A reload: the switches, the limits and the loudest volume. True if the tools
        offered to the model changed (the session must say so)."""
        old = self.specs()
        old_max = self._cfg.max_running_commands
        self._cfg = config.tools
        self._timers.max_timers = self._cfg.max_timers
        self._timers.grace_s = self._cfg.missed_grace_s
        if config.tools.max_running_commands != old_max:  # the running ones finish as they are
            self._slots = asyncio.Semaphore(self._cfg.max_running_commands)
        self.registry = Registry(self._tools())
        return self.specs() != old

    def _tools(self) -> list[Tool]:
        """The speaker's own tools, then the owner's (from tools.command and tools.http)."""
        return [*builtin_tools(self._cfg, self),
                *configured_tools(self._cfg, confirm=self._confirm, slots=self._slots)]

    def specs(self) -> tuple[ToolSpec, ...]:
        return self.registry.specs()

    # ------------------------------------------------------------------ calls

    def run(self, call_id: str, name: str, arguments: str) -> None:
        """Run a call in the background; the machine hears ``ToolFinished`` for it."""
        task = self._loop.create_task(self._run(call_id, name, arguments), name=f"tool-{name}")
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _run(self, call_id: str, name: str, arguments: str) -> None:
        outcome = await self.registry.call(name, arguments, self._cfg.timeout_s)
        self._observer.tool_ran(call_id, outcome, arguments, self._loop.time())
        self._feed(ToolFinished(call_id, outcome.output, outcome.ok))

    # ------------------------------------------------------------------ confirmation

    async def _confirm(self, tool: str) -> bool:
        """Ask the machine for a press (``confirm: button``); False when none came in
        time, or the conversation was cancelled. The machine decides, and says so."""
        done = self._confirming.get(tool)
        if done is None or done.done():
            done = self._loop.create_future()
            self._confirming[tool] = done
        self._feed(ConfirmWanted(tool, self._cfg.confirm_timeout_s))
        try:  # the machine answers by its own deadline; this only guards against a bug
            return await asyncio.wait_for(asyncio.shield(done), self._cfg.confirm_timeout_s + 2)
        except TimeoutError:
            return False
        finally:
            if self._confirming.get(tool) is done:
                del self._confirming[tool]

    def confirmed(self, tool: str, ok: bool) -> None:
        """The machine's answer (``ConfirmTool``)."""
        done = self._confirming.get(tool)
        if done is not None and not done.done():
            done.set_result(ok)

    # ------------------------------------------------------------------ ringing

    def ring(self, on: bool) -> None:
        """Start or stop the alarm sound, repeated every ``ALARM_PERIOD_S``."""
        if on and self._ring is None:
            self._ring = self._loop.create_task(self._ringing(), name="ring")
        elif not on and self._ring is not None:
            self._ring.cancel()
            self._ring = None
            audio = self._audio()
            if audio is not None:
                audio.stop_sounds()

    async def _ringing(self) -> None:
        while True:
            audio = self._audio()
            if audio is not None:
                audio.sound("alarm")
            await asyncio.sleep(ALARM_PERIOD_S)

    # ------------------------------------------------------------------ timers

    def _due(self, timers: list[Timer]) -> None:
        for t in timers:
            self._observer.timer_event("rang", t.id, describe(t), self._loop.time())
        self._feed(AlarmDue(tuple(t.label or t.id for t in timers)))

    def _changed(self, what: str, timer: Timer) -> None:
        self._observer.timer_event(what, timer.id, describe(timer), self._loop.time())

    def _missed(self, timers: list[Timer]) -> None:
        for t in timers:
            self._observer.timer_event("missed", t.id, describe(t), self._loop.time())

    # ------------------------------------------------------------------ ToolHost

    @property
    def timers(self) -> TimerService:
        return self._timers

    def volume(self) -> int:
        return self.level

    def set_volume(self, level: int) -> int:
        """Apply at once (the next audio written, sounds included) and keep it; a disk
        that refuses the write leaves the level in force until the next restart."""
        self.level = volume_mod.clamp(level)
        self.apply_volume()
        try:
            self._volume.save(self.level)
        except OSError as exc:
            log.warning("volume %d not saved (%s): it lasts until edged restarts", self.level,
                        exc, extra={"fields": {"kind": "volume", "volume": "unsaved"}})
        self._observer.emit("volume", {"level": self.level})
        return self.level

    def apply_volume(self) -> None:
        """Put the level on the audio port in use (also after a reopen)."""
        audio = self._audio()
        if audio is not None:
            audio.set_volume(volume_mod.gain(self.level, 1.0))

    def stop_ringing(self) -> bool:
        if self._state().ringing is None:
            return False
        self._feed(StopRinging())
        return True

    def end_conversation(self) -> bool:
        if not self._state().handsfree:
            return False
        self._feed(EndConversation())
        return True

    def clock_synced(self) -> bool:
        return clock.synced()

    @property
    def config(self) -> ToolsConfig:
        return self._cfg


