"""Timers and alarms as plain data: what is set, when each is due, what to do after a restart.

Pure: every method is told the time (``Now``). The rules, which the service and
its tests rely on:

* A timer ("ten minutes") runs on the monotonic clock within one boot, so a step
  of the wall clock (NTP's first answer, someone setting the date) neither fires
  it early nor loses it.
* After a reboot (another ``boot_id``) its monotonic due time means nothing; it is
  judged by its wall due time, but only if the wall clock was synchronised when it
  was set (``wall_trusted``) and is synchronised now. Until the clock is, it waits.
  One set on an unsynchronised clock can never be judged after a reboot: it is
  reported missed at once.
* An alarm ("seven thirty") is a wall-clock time and is judged only while the clock
  is synchronised. One set before the clock was synchronised waits until it is and
  is then moved to the next occurrence of its clock time (``retime``, done by the
  service, which knows the time zone).
* Something found due late — it fell due while the device was off, or before the
  clock was synchronised — rings if it is less than ``grace_s`` late; otherwise it
  is reported missed and never rung (a 07:00 alarm ringing at 11:00 helps no one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["timer", "alarm"]
MAX_LABEL = 40
WALL_RECHECK_S = 30.0  # how often wall-clock items are looked at: a step or a late sync shows
LATE_SLACK_S = 1.0  # found due this late is on time: the loop's own delay


@dataclass(frozen=True, slots=True)
class Timer:
    """One timer or alarm. ``due_mono`` (CLOCK_MONOTONIC s) is valid only within
    ``boot_id``; alarms have none. ``wall_trusted``: the clock was synchronised when set."""

    id: str
    kind: Kind
    label: str | None
    set_wall: float
    boot_id: str
    due_mono: float | None
    due_wall: float | None
    wall_trusted: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "set_wall": self.set_wall,
            "boot_id": self.boot_id,
            "due_mono": self.due_mono,
            "due_wall": self.due_wall,
            "wall_trusted": self.wall_trusted,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Timer:
        """The timer a ``to_json`` dict describes; ValueError if it is not one."""
        if not isinstance(obj, Mapping):
            raise ValueError("not an object")
        ident = obj.get("id")
        if not isinstance(ident, str) or not 0 < len(ident) <= 16:
            raise ValueError("bad id")
        kind = obj.get("kind")
        if kind not in ("timer", "alarm"):
            raise ValueError("bad kind")
        label = obj.get("label")
        if label is not None and not isinstance(label, str):
            raise ValueError("bad label")
        boot = obj.get("boot_id")
        trusted = obj.get("wall_trusted")
        if not isinstance(boot, str) or not isinstance(trusted, bool):
            raise ValueError("bad boot_id or wall_trusted")
        due_mono = _number(obj.get("due_mono"), optional=True)
        due_wall = _number(obj.get("due_wall"), optional=True)
        if due_wall is None or (kind == "timer") != (due_mono is not None):
            raise ValueError("due times do not fit the kind")
        return cls(ident, kind, clean_label(label), _number(obj.get("set_wall")), boot,
                   due_mono, due_wall, trusted)


def _number(value: Any, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


@dataclass(frozen=True, slots=True)
class Now:
    """The time as the book needs it: both clocks, which boot, and whether the wall
    clock is synchronised."""

    mono: float
    wall: float
    boot_id: str
    synced: bool


@dataclass(frozen=True, slots=True)
class Restored:
    """What start-up found: still to come (or not judgeable yet), to ring at once
    (due while off, less than the grace late), and missed (too late; never rung)."""

    kept: list[Timer]
    ring_now: list[Timer]
    missed: list[Timer]


def clean_label(label: str | None) -> str | None:
    """Whitespace trimmed and collapsed, at most ``MAX_LABEL`` characters; None if empty."""
    if label is None:
        return None
    text = " ".join(label.split())[:MAX_LABEL].rstrip()
    return text or None


def same_boot(t: Timer, now: Now) -> bool:
    return bool(t.boot_id) and t.boot_id == now.boot_id


def remaining(t: Timer, now: Now) -> float | None:
    """Seconds until ``t`` is due (≤ 0: due), or None when it cannot be judged yet."""
    if t.kind == "timer" and t.due_mono is not None and same_boot(t, now):
        return t.due_mono - now.mono
    if t.wall_trusted and now.synced and t.due_wall is not None:
        return t.due_wall - now.wall
    return None


def late_by(t: Timer, now: Now) -> float | None:
    """How many seconds past due ``t`` is (negative: still to come); None if unknown."""
    left = remaining(t, now)
    return None if left is None else -left


def _ordinal(ident: str) -> int:
    return int(ident[1:]) if ident[1:].isdigit() else 0


@dataclass(slots=True)
class TimerBook:
    """The timers and alarms that are set, by id. Ids are ``t1``, ``t2``…: one more
    than the highest in the book, so short, and not reused while a later one lives."""

    timers: dict[str, Timer] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.timers)

    def _next_id(self) -> str:
        return f"t{max((_ordinal(i) for i in self.timers), default=0) + 1}"

    def add_timer(self, seconds: float, label: str | None, now: Now) -> Timer:
        """A countdown of ``seconds`` from now."""
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError("a timer needs a positive number of seconds")
        t = Timer(self._next_id(), "timer", clean_label(label), now.wall, now.boot_id,
                  now.mono + seconds, now.wall + seconds, now.synced)
        self.timers[t.id] = t
        return t

    def add_alarm(self, due_wall: float, label: str | None, now: Now) -> Timer:
        """An alarm at ``due_wall`` (epoch s; the caller turns HH:MM into it)."""
        if not math.isfinite(due_wall):
            raise ValueError("an alarm needs a finite due time")
        t = Timer(self._next_id(), "alarm", clean_label(label), now.wall, now.boot_id,
                  None, due_wall, now.synced)
        self.timers[t.id] = t
        return t

    def untrusted_alarms(self) -> list[Timer]:
        """Alarms set before the clock was synchronised: to ``retime`` once it is."""
        return [t for t in self.timers.values() if t.kind == "alarm" and not t.wall_trusted]

    def retime(self, ident: str, due_wall: float, now: Now) -> Timer:
        """Move an alarm to ``due_wall``, trusted if the clock is synchronised now."""
        t = replace(self.timers[ident], due_wall=due_wall, wall_trusted=now.synced)
        self.timers[ident] = t
        return t

    def cancel(self, what: str) -> list[Timer]:
        """Remove by id, or by label (case-insensitive, every match), or ``all``."""
        key = " ".join(what.split()).casefold()
        if not key:
            return []
        if key == "all":
            gone = list(self.timers.values())
        else:
            gone = [t for t in self.timers.values() if t.id.casefold() == key]
            if not gone:
                gone = [t for t in self.timers.values()
                        if t.label is not None and t.label.casefold() == key]
        for t in gone:
            del self.timers[t.id]
        return gone

    def listing(self, now: Now) -> list[tuple[Timer, float | None]]:
        """Every item with its remaining seconds (None: cannot be judged yet), soonest first."""
        rows = [(t, remaining(t, now)) for t in self.timers.values()]
        return sorted(rows, key=lambda r: (r[1] is None, r[1] or 0.0, _ordinal(r[0].id)))

    def due(self, now: Now) -> list[Timer]:
        """Remove and return what is due now (the caller tells ringing from missed)."""
        out = [t for t, left in self.listing(now) if left is not None and left <= 0]
        for t in out:
            del self.timers[t.id]
        return out

    def next_check(self, now: Now) -> float | None:
        """The monotonic time at which to look again, None if there is nothing to watch.

        The soonest monotonic due time; wall-clock items are looked at again at most
        ``WALL_RECHECK_S`` ahead, so a clock step or a late sync is noticed.
        """
        best = math.inf
        for t in self.timers.values():
            if t.kind == "timer" and t.due_mono is not None and same_boot(t, now):
                at = t.due_mono
            else:
                left = remaining(t, now)
                wait = WALL_RECHECK_S if left is None else min(max(left, 0.0), WALL_RECHECK_S)
                at = now.mono + wait
            best = min(best, at)
        return None if best == math.inf else best

    def restore(self, timers: Iterable[Timer], now: Now, grace_s: float) -> Restored:
        """Replace the book with what was stored, sorting it into kept, ring now and missed.

        An id that is stored twice gets a new one: nothing is lost to a clash.
        """
        self.timers.clear()
        kept: list[Timer] = []
        ring: list[Timer] = []
        missed: list[Timer] = []
        for t in timers:
            if t.kind == "timer" and not same_boot(t, now) and not t.wall_trusted:
                missed.append(t)  # set on an unsynchronised clock, then the device restarted
                continue
            left = remaining(t, now)
            if left is None or left > 0:
                item = replace(t, id=self._next_id()) if t.id in self.timers else t
                self.timers[item.id] = item
                kept.append(item)
            elif rings(-left, grace_s):
                ring.append(t)
            else:
                missed.append(t)
        return Restored(kept, ring, missed)


def rings(late_s: float, grace_s: float) -> bool:
    """Whether something ``late_s`` past due still rings: less than the grace late, or
    late only by the moment it takes to notice (so a grace of 0 still rings on time)."""
    return late_s < grace_s or late_s <= LATE_SLACK_S


def split_late(due: Iterable[Timer], now: Now, grace_s: float) -> tuple[list[Timer], list[Timer]]:
    """Due items as (to ring, missed) by the grace rule."""
    ring: list[Timer] = []
    missed: list[Timer] = []
    for t in due:
        late = late_by(t, now)
        (ring if late is None or rings(late, grace_s) else missed).append(t)
    return ring, missed
