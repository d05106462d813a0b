"""The speaker's own tools: timers and alarms, volume, the clock, ending a conversation.

Each is a schema, a description written for the model, and a small handler that
asks the daemon (a ``ToolHost``) to act and answers with a small JSON object the
model can speak from. ``tools.*`` switches in the config decide which are offered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from edged.config import ToolsConfig
from edged.tools import clock
from edged.tools import volume as vol
from edged.tools.registry import Tool, ToolError, sync_handler
from edged.tools.timer_service import TimerService
from edged.tools.timers import Timer

HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MAX_TIMER_S = 86400


class ToolHost(Protocol):
    """What the tools need from the daemon, and nothing more."""

    @property
    def timers(self) -> TimerService | None:
        """The timer service; None when timers are switched off."""
        ...

    def volume(self) -> int:
        """The volume level in force, 0–100."""
        ...

    def set_volume(self, level: int) -> int:
        """Apply and save ``level`` (0–100); the level in force afterwards."""
        ...

    def stop_ringing(self) -> bool:
        """Silence a ringing timer or alarm; True if something was ringing."""
        ...

    def end_conversation(self) -> bool:
        """End the hands-free conversation after this answer; True if one will end."""
        ...

    def clock_synced(self) -> bool:
        """Whether the wall clock is synchronised."""
        ...


def _object(properties: Mapping[str, Any] | None = None,
            required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties or {}),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


_LABEL = {
    "type": "string",
    "description": "A short name for it, if the user gave one (e.g. \"pasta\").",
}


def builtin_tools(cfg: ToolsConfig, host: ToolHost) -> list[Tool]:
    """The built-in tools the config switches on (none if ``tools.enabled`` is false)."""
    if not cfg.enabled:
        return []
    out: list[Tool] = []
    if cfg.timers:
        out += _timer_tools(host)
    if cfg.volume:
        out += _volume_tools(host, cfg.volume_step)
    if cfg.clock:
        out.append(Tool(
            "get_time",
            "Tell the current local date, time and time zone. If clock_synchronised is "
            "false the speaker's clock may be wrong: say so.",
            _object(),
            sync_handler(lambda _: _get_time(host)),
        ))
    if cfg.end_conversation:
        out.append(Tool(
            "end_conversation",
            "End the conversation: call it when the user is done (says goodbye, thanks, "
            "that's all). The speaker stops listening after your answer; say a brief goodbye.",
            _object(),
            sync_handler(lambda _: {"ending": host.end_conversation()}),
        ))
    return out


# --------------------------------------------------------------------------- timers


def _service(host: ToolHost) -> TimerService:
    service = host.timers
    if service is None:
        raise ToolError("timers are not available on this speaker")
    return service


def _timer_tools(host: ToolHost) -> list[Tool]:
    return [
        Tool(
            "set_timer",
            "Start a countdown timer. 'seconds' is the duration in seconds (ten minutes is "
            "600); give a short label if the user named what it is for.",
            _object({
                "seconds": {"type": "integer", "minimum": 1, "maximum": MAX_TIMER_S,
                            "description": "Duration in seconds, at most 86400 (a day)."},
                "label": _LABEL,
            }, ("seconds",)),
            sync_handler(lambda a: _set_timer(host, a)),
        ),
        Tool(
            "set_alarm",
            "Set an alarm for a time of day; it rings the next time the clock shows it "
            "(today or tomorrow). 'time' is 24-hour HH:MM, e.g. 07:30 or 19:05.",
            _object({
                "time": {"type": "string", "pattern": HHMM_PATTERN,
                         "description": "24-hour HH:MM, e.g. 07:30."},
                "label": _LABEL,
            }, ("time",)),
            sync_handler(lambda a: _set_alarm(host, a)),
        ),
        Tool(
            "list_timers",
            "List the timers and alarms that are set, with the seconds left on each.",
            _object(),
            sync_handler(lambda _: _list_timers(host)),
        ),
        Tool(
            "cancel_timer",
            "Cancel a timer or alarm before it rings: by its id (from list_timers), by its "
            "label, or \"all\". To silence one that is ringing now, use stop_ringing.",
            _object({
                "which": {"type": "string", "minLength": 1,
                          "description": "A timer id such as t1, a label, or \"all\"."},
            }, ("which",)),
            sync_handler(lambda a: _cancel(host, a)),
        ),
        Tool(
            "stop_ringing",
            "Silence the timer or alarm that is ringing now. Call it when the user says "
            "stop (or similar) while something rings.",
            _object(),
            sync_handler(lambda _: _stop_ringing(host)),
        ),
    ]


def _rings_at(wall: float, left: float, synced: bool) -> dict[str, Any]:
    """The local clock time ``left`` seconds after ``wall``, when the clock can be believed.
    (Not the stored due_wall: the clock may have been set since.)"""
    return {"rings_at": clock.hhmm(wall + left)} if synced else {}


def _summary(t: Timer) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "kind": t.kind}
    if t.label:
        out["label"] = t.label
    return out


def _set_timer(host: ToolHost, args: dict[str, Any]) -> dict[str, Any]:
    seconds = int(args["seconds"])
    t = _service(host).set_timer(seconds, args.get("label"))
    return {**_summary(t), "rings_in_s": seconds,
            **_rings_at(t.set_wall, seconds, host.clock_synced())}


def _set_alarm(host: ToolHost, args: dict[str, Any]) -> dict[str, Any]:
    hour, minute = (int(part) for part in args["time"].split(":"))
    service = _service(host)
    t = service.set_alarm(hour, minute, args.get("label"))
    assert t.due_wall is not None
    out = {**_summary(t), "rings_at": f"{hour:02d}:{minute:02d}"}
    if t.wall_trusted:
        now = service.now()
        today = time.localtime(now.wall)[:3] == time.localtime(t.due_wall)[:3]
        out["day"] = "today" if today else "tomorrow"
        out["rings_in_s"] = round(t.due_wall - now.wall)
    else:
        out["clock_synchronised"] = False
        out["note"] = ("the speaker's clock is not set yet; the alarm will ring only once "
                       "it is")
    return out


def _list_timers(host: ToolHost) -> dict[str, Any]:
    synced = host.clock_synced()
    service = _service(host)
    wall = service.now().wall
    rows = []
    for t, left in service.listing():
        row = _summary(t)
        if left is None:
            row["waiting_for_clock"] = True
        else:
            row["remaining_s"] = max(0, round(left))
            row.update(_rings_at(wall, left, synced))
        rows.append(row)
    out: dict[str, Any] = {"timers": rows}
    if not synced:
        out["clock_synchronised"] = False
    return out


def _cancel(host: ToolHost, args: dict[str, Any]) -> dict[str, Any]:
    which = " ".join(str(args["which"]).split())
    gone = _service(host).cancel(which)
    if not gone:
        if which.casefold() == "all":
            raise ToolError("there are no timers or alarms to cancel")
        raise ToolError(f"there is no timer called {which}")
    return {"cancelled": [_summary(t) for t in gone]}


def _stop_ringing(host: ToolHost) -> dict[str, Any]:
    if host.stop_ringing():
        return {"stopped": True}
    return {"stopped": False, "note": "nothing was ringing"}


# --------------------------------------------------------------------------- volume


def _volume_tools(host: ToolHost, step: int) -> list[Tool]:
    return [
        Tool(
            "get_volume",
            "Tell the speaker's volume level, from 0 (silent) to 100 (loudest).",
            _object(),
            sync_handler(lambda _: {"level": host.volume()}),
        ),
        Tool(
            "set_volume",
            "Change the speaker's volume: either 'level' from 0 (silent) to 100 (loudest), "
            "or 'change' up or down by one step for \"louder\" or \"quieter\". Give exactly "
            "one of the two.",
            _object({
                "level": {"type": "integer", "minimum": 0, "maximum": vol.MAX_LEVEL},
                "change": {"type": "string", "enum": ["up", "down"]},
            }),
            sync_handler(lambda a: _set_volume(host, a, step)),
        ),
    ]


def _set_volume(host: ToolHost, args: dict[str, Any], step: int) -> dict[str, Any]:
    if ("level" in args) == ("change" in args):
        raise ToolError("give either 'level' (0 to 100) or 'change' (up or down), "
                        "exactly one of them")
    if "level" in args:
        level = vol.clamp(int(args["level"]))
    else:
        level = vol.step(host.volume(), args["change"], step)
    return {"level": host.set_volume(level)}


# --------------------------------------------------------------------------- clock


def _get_time(host: ToolHost) -> dict[str, Any]:
    return {**clock.local_now(time.time(), clock.zone_name()),
            "clock_synchronised": host.clock_synced()}
