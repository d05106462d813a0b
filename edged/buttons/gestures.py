"""Button edges → conversation events: debouncing and long-hold timing, pure.

Mock pins ignore gpiozero's ``bounce_time`` and a real contact chatters, so the
daemon debounces in its own code. The debounce is leading-edge: the first edge
passes at once (a barge-in must not wait for the contact to settle), changes
within ``bounce_s`` after it are ignored, and when that window ends the last
level the pin reported is taken if it differs, so a release hidden in the
chatter is never lost. Time is passed in; ``deadline()`` says when ``poll()``
must be called next.

Press-length policy (an accidental tap is not a turn) lives in the
conversation machine, which gets each press the moment it happens: the
push-to-talk press starts streaming and barge-in at once, and ``WakePress``
carries how long the wake button was held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from edged.conversation.events import PttDown, PttUp, WakeHold, WakePress

ButtonEvent = PttDown | PttUp | WakePress | WakeHold
Role = Literal["ptt", "wake"]


@dataclass(slots=True)
class Debouncer:
    """Leading-edge debounce of one contact; levels are True when pressed."""

    bounce_s: float
    level: bool = False  # the debounced level
    raw: bool = False  # the last level the pin reported
    lock_until: float = -math.inf

    def edge(self, pressed: bool, now: float) -> bool | None:
        """A reported pin level; returns the new debounced level if it changed."""
        self.raw = pressed
        if now < self.lock_until or pressed == self.level:
            return None
        return self._accept(pressed, now)

    def poll(self, now: float) -> bool | None:
        """At the end of a lockout, settle on the last reported level."""
        if now >= self.lock_until and self.raw != self.level:
            return self._accept(self.raw, now)
        return None

    def deadline(self) -> float | None:
        return self.lock_until if self.raw != self.level else None

    def _accept(self, pressed: bool, now: float) -> bool:
        self.level = pressed
        self.lock_until = now + self.bounce_s
        return pressed


@dataclass(slots=True)
class ButtonLogic:
    """One button's debounced presses as conversation events.

    push-to-talk: ``PttDown`` on press, ``PttUp`` on release. wake: nothing on
    press; ``WakeHold`` once held for ``hold_s`` (its release is then silent),
    otherwise ``WakePress(held_ms)`` on release.
    """

    role: Role
    bounce_s: float
    hold_s: float = math.inf
    debouncer: Debouncer = field(init=False)
    pressed_at: float | None = None
    held: bool = False

    def __post_init__(self) -> None:
        self.debouncer = Debouncer(self.bounce_s)

    def start(self, pressed: bool) -> None:
        """The level at start-up; a button already down is ignored until released."""
        self.debouncer.level = self.debouncer.raw = pressed

    def edge(self, pressed: bool, now: float) -> list[ButtonEvent]:
        level = self.debouncer.edge(pressed, now)
        return [] if level is None else self._level(level, now)

    def poll(self, now: float) -> list[ButtonEvent]:
        out: list[ButtonEvent] = []
        level = self.debouncer.poll(now)
        if level is not None:
            out += self._level(level, now)
        if self._hold_due(now):
            self.held = True
            out.append(WakeHold())
        return out

    def deadline(self) -> float | None:
        times = [t for t in (self.debouncer.deadline(), self._hold_at()) if t is not None]
        return min(times) if times else None

    def _hold_at(self) -> float | None:
        if self.role != "wake" or self.pressed_at is None or self.held:
            return None
        return self.pressed_at + self.hold_s

    def _hold_due(self, now: float) -> bool:
        at = self._hold_at()
        return at is not None and now >= at

    def _level(self, pressed: bool, now: float) -> list[ButtonEvent]:
        if self.role == "ptt":
            if pressed:
                self.pressed_at = now
                return [PttDown()]
            if self.pressed_at is None:
                return []  # down since start-up: never reported, so no release either
            self.pressed_at = None
            return [PttUp()]
        if pressed:
            self.pressed_at, self.held = now, False
            return []
        if self.pressed_at is None:
            return []
        out: list[ButtonEvent] = []
        if self._hold_due(now):  # released after the hold time, before a poll saw it
            out.append(WakeHold())
        elif not self.held:
            out.append(WakePress(held_ms=round((now - self.pressed_at) * 1000)))
        self.pressed_at, self.held = None, False
        return out
