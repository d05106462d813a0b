"""The timers at work: the pure ``TimerBook`` plus a file, the event loop and the clocks.

Every change is written to ``timers.json`` (atomically) before the call returns,
so a power cut loses nothing that was confirmed to the user. The service wakes
at the book's ``next_check``; what is due goes to ``on_due`` (the daemon rings
it), what was found too late goes to ``on_missed`` (by default: the journal).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edged.tools import clock, state_file
from edged.tools.registry import ToolError
from edged.tools.timers import Now, Restored, Timer, TimerBook, split_late

log = logging.getLogger("edged.tools")

FILE_NAME = "timers.json"
_VERSION = 1


@functools.cache
def _boot_id() -> str:
    return clock.boot_id()


def system_now() -> Now:
    """The real clocks, this boot, and whether the wall clock is synchronised."""
    return Now(time.monotonic(), time.time(), _boot_id(), clock.synced())


def describe(t: Timer) -> str:
    """``timer t1 'pasta'`` for the journal."""
    return f"{t.kind} {t.id}" + (f" {t.label!r}" if t.label else "")


def _log_missed(missed: list[Timer]) -> None:
    for t in missed:
        log.warning("%s was missed: it fell due while the speaker was off or its clock "
                    "was not set", describe(t))


class TimerService:
    """Timers and alarms for one daemon. ``path`` is the state directory (the file is
    ``timers.json`` in it) or the file itself if it ends in ``.json``.

    ``now`` replaces the real clocks (tests); wake-ups are delays from ``now().mono``,
    so the loop's own clock need not be CLOCK_MONOTONIC (on Linux it is).
    """

    def __init__(
        self,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        on_due: Callable[[list[Timer]], None],
        *,
        max_timers: int,
        grace_s: float,
        now: Callable[[], Now] | None = None,
        on_missed: Callable[[list[Timer]], None] | None = None,
        on_change: Callable[[str, Timer], None] | None = None,
    ) -> None:
        self.path = path if path.suffix == ".json" else path / FILE_NAME
        self.max_timers = max_timers
        self.grace_s = grace_s
        self._loop = loop
        self._on_due = on_due
        self._on_missed = on_missed or _log_missed
        self._on_change = on_change  # ("set" | "cancelled", timer): the journal, ctl watch
        self._now = now or system_now
        self._book = TimerBook()
        self._handle: asyncio.TimerHandle | None = None
        self._started = False
        self._closed = False
        self.save_failed = False  # the last write failed: set items live only in memory

    def __len__(self) -> int:
        return len(self._book)

    def now(self) -> Now:
        return self._now()

    # -- lifecycle

    def start(self) -> Restored:
        """Load, sort what was stored into kept / ring now / missed, save, schedule.

        The caller rings ``ring_now`` and reports ``missed``; neither goes to the
        callbacks.
        """
        if self._started:
            raise RuntimeError("TimerService.start() called twice")
        self._started = True
        now = self._now()
        restored = self._book.restore(self._load(), now, self.grace_s)
        self._retime(now)
        self._save()
        self._schedule(now)
        return restored

    def close(self) -> None:
        """Stop waking up. What is set stays in the file for the next start."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # -- what the tools do

    def set_timer(self, seconds: float, label: str | None = None) -> Timer:
        self._room()
        now = self._now()
        t = self._book.add_timer(seconds, label, now)
        self._changed(now)
        self._tell("set", [t])
        return t

    def set_alarm(self, hour: int, minute: int, label: str | None = None) -> Timer:
        """An alarm at the next local ``hour:minute``. Accepted with an unsynchronised
        clock too: it then rings only once the clock is set (``wall_trusted`` False)."""
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValueError(f"{hour}:{minute} is not a time of day")
        self._room()
        now = self._now()
        t = self._book.add_alarm(clock.next_occurrence(hour, minute, now.wall), label, now)
        self._changed(now)
        self._tell("set", [t])
        return t

    def listing(self) -> list[tuple[Timer, float | None]]:
        """Every item with its remaining seconds (None: waiting for the clock), soonest first."""
        return self._book.listing(self._now())

    def cancel(self, what: str) -> list[Timer]:
        """Cancel by id, by label (every match, any case) or ``all``; what was cancelled."""
        gone = self._book.cancel(what)
        if gone:
            self._changed(self._now())
            self._tell("cancelled", gone)
        return gone

    def check(self) -> None:
        """Look at the clocks now: ring what is due, report what was missed, and plan
        the next look. Runs by itself; call it too when the clock has just been set."""
        if self._closed:
            return
        now = self._now()
        retimed = self._retime(now)
        due = self._book.due(now)
        if due or retimed:
            self._save()
        self._schedule(now)
        ring, missed = split_late(due, now, self.grace_s)
        for callback, items in ((self._on_due, ring), (self._on_missed, missed)):
            if items:
                try:
                    callback(items)
                except Exception:
                    log.exception("timer callback failed for %s",
                                  ", ".join(describe(t) for t in items))

    # -- inside

    def _tell(self, what: str, timers: list[Timer]) -> None:
        if self._on_change is not None:
            for t in timers:
                self._on_change(what, t)

    def _room(self) -> None:
        if len(self._book) >= self.max_timers:
            raise ToolError(f"there are already {self.max_timers} timers and alarms set "
                            "(the most allowed); cancel one first")

    def _changed(self, now: Now) -> None:
        self._save()
        self._schedule(now)

    def _retime(self, now: Now) -> bool:
        """Alarms set before the clock was synchronised: once it is, move each to the next
        occurrence of its clock time (the date it was given may have been wrong)."""
        if not now.synced:
            return False
        moved = self._book.untrusted_alarms()
        for t in moved:
            assert t.due_wall is not None
            lt = time.localtime(t.due_wall)
            new = clock.next_occurrence(lt.tm_hour, lt.tm_min, now.wall)
            self._book.retime(t.id, new, now)
            log.info("%s: clock now set, rings at %s", describe(t), clock.hhmm(new))
        return bool(moved)

    def _schedule(self, now: Now) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        at = self._book.next_check(now)
        if at is None or self._closed:
            return
        self._handle = self._loop.call_later(max(0.0, at - now.mono), self._wake)

    def _wake(self) -> None:
        self._handle = None
        self.check()

    def _load(self) -> list[Timer]:
        data = state_file.read(self.path)
        if data is None:
            return []
        items = data.get("timers") if isinstance(data, dict) else None
        if not isinstance(items, list):
            state_file.set_aside(self.path, "does not hold a list of timers")
            return []
        out: list[Timer] = []
        for item in items:
            try:
                out.append(Timer.from_json(item))
            except ValueError as exc:
                log.warning("state file %s: skipped an entry that is not a timer (%s)",
                            self.path, exc)
        return out

    def _save(self) -> None:
        doc: dict[str, Any] = {
            "version": _VERSION,
            "timers": [t.to_json() for t in self._book.timers.values()],
        }
        try:
            state_file.write(self.path, doc)
        except (OSError, ValueError) as exc:
            if not self.save_failed:
                log.error("cannot save timers to %s (%s); they will not survive a restart",
                          self.path, getattr(exc, "strerror", None) or exc)
            self.save_failed = True
            return
        if self.save_failed:
            log.info("timers saved to %s again", self.path)
        self.save_failed = False
