"""The control protocol: one JSON object per line, both ways, without any I/O.

A client sends ``{"cmd": "status"}``-style requests (an optional ``id`` is echoed
back) and gets exactly one reply per request: ``{"ok": true, ...}`` or
``{"ok": false, "code": ..., "error": "reason"}``. After ``subscribe`` the
connection carries event lines ``{"event": kind, "phase": ..., "ts": ..., "data":
{...}}`` instead. Keeping the wire format here, as plain values in and out, lets
the server, the client and the tests share one definition.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from edged.redact import redact, without_surrogates

COMMANDS: Final = (
    "ptt.press", "ptt.release", "wake", "mute", "unmute", "cancel", "stop", "say", "status",
    "subscribe", "reload", "volume", "timers", "timers.cancel", "timers.set",
)
"""Every command the server understands."""

FIELDS: Final[Mapping[str, frozenset[str]]] = {
    cmd: frozenset({"cmd", "id"}) for cmd in COMMANDS
} | {
    "ptt.press": frozenset({"cmd", "id", "keep"}),
    "say": frozenset({"cmd", "id", "text"}),
    "volume": frozenset({"cmd", "id", "level", "change"}),
    "timers.cancel": frozenset({"cmd", "id", "which"}),
    "timers.set": frozenset({"cmd", "id", "seconds", "label"}),
}
"""The keys each request may carry; anything else is a typo worth reporting."""

MAX_SAY_CHARS: Final = 4000
"""A typed prompt longer than this is refused (announcements, not documents)."""
MAX_VOLUME: Final = 100
"""Volume levels run from 0 (silent) to this (the loudest ``audio.volume`` allows)."""
VOLUME_STEPS: Final = ("up", "down")
"""A ``change`` of one ``tools.volume_step``, as the daemon's config sets it."""
MIN_TIMER_S: Final = 1
MAX_TIMER_S: Final = 86400
"""A timer from the socket runs from one second to a day (as one the model sets)."""
MAX_LABEL_CHARS: Final = 40
"""A timer's label, and what ``timers.cancel`` matches against, at most this long."""

# Error codes a reply can carry.
BAD_JSON: Final = "bad_json"
BAD_REQUEST: Final = "bad_request"
UNKNOWN_COMMAND: Final = "unknown_command"
LINE_TOO_LONG: Final = "line_too_long"
REFUSED: Final = "refused"
PERMISSION_DENIED: Final = "permission_denied"
TOO_MANY_CLIENTS: Final = "too_many_clients"
INTERNAL: Final = "internal"

RequestId = str | int | None


@dataclass(frozen=True, slots=True)
class Request:
    """A well-formed command. ``keep``: a ``ptt.press`` that outlives its connection.
    ``level`` / ``change``: ``volume`` (neither: just read it; ``change`` is a signed
    number of levels, or ``"up"`` / ``"down"`` for one configured step). ``which``:
    ``timers.cancel``. ``seconds`` / ``label``: ``timers.set``."""

    cmd: str
    id: RequestId = None
    text: str = ""
    keep: bool = False
    level: int | None = None
    change: int | str | None = None
    which: str = ""
    seconds: float = 0.0
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that is not a request; ``reply()`` is what the client is told."""

    code: str
    reason: str
    id: RequestId = None

    def reply(self) -> dict[str, Any]:
        return error(self.code, self.reason, request_id=self.id)


def parse_request(line: bytes, max_bytes: int) -> Request | Invalid:
    """Decode one line (with or without its newline) into a request, or say why not."""
    obj = _json_object(line, max_bytes)
    if isinstance(obj, Invalid):
        return obj
    rid = obj.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int)):
        return Invalid(BAD_REQUEST, "id must be a string or an integer")
    cmd = _command(obj, rid)
    if isinstance(cmd, Invalid):
        return cmd
    keep = obj.get("keep", False)
    if not isinstance(keep, bool):
        return Invalid(BAD_REQUEST, "keep must be true or false", rid)
    args = _ARGUMENTS[cmd](obj) if cmd in _ARGUMENTS else {}
    if isinstance(args, str):
        return Invalid(BAD_REQUEST, args, rid)
    return Request(cmd, rid, keep=keep, **args)


def _json_object(line: bytes, max_bytes: int) -> dict[str, Any] | Invalid:
    if len(line.rstrip(b"\r\n")) > max_bytes:
        return Invalid(LINE_TOO_LONG, f"line longer than {max_bytes} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return Invalid(BAD_JSON, "not UTF-8 text")
    if not text.strip():
        return Invalid(BAD_JSON, "empty line; send one JSON object per line")
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return Invalid(BAD_JSON, 'not valid JSON; send one object per line, e.g. {"cmd": '
                       '"status"}')
    if not isinstance(obj, dict):
        return Invalid(BAD_REQUEST, 'a request must be a JSON object, e.g. {"cmd": "status"}')
    return obj


def _command(obj: dict[str, Any], rid: RequestId) -> str | Invalid:
    """The command, if it is a known one sent only with the fields it takes."""
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        return Invalid(BAD_REQUEST, 'missing "cmd" (one of: ' + ", ".join(COMMANDS) + ")", rid)
    if cmd not in COMMANDS:
        return Invalid(UNKNOWN_COMMAND, f"unknown command {_short(cmd)}; known: "
                       + ", ".join(COMMANDS), rid)
    extra = sorted(set(obj) - FIELDS[cmd])
    if extra:
        return Invalid(BAD_REQUEST, f"unknown field {_short(extra[0])} for {cmd}; it takes: "
                       + ", ".join(sorted(FIELDS[cmd])), rid)
    return cmd


def _say_args(obj: dict[str, Any]) -> dict[str, Any] | str:
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return 'say needs "text": a non-empty string'
    if len(text) > MAX_SAY_CHARS:
        return f"text longer than {MAX_SAY_CHARS} characters"
    return {"text": text.strip()}


def _whole(value: object) -> int | None:
    """``value`` as an int if it is a whole JSON number (``5`` or ``5.0``), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _volume_args(obj: dict[str, Any]) -> dict[str, Any] | str:
    """``level`` 0–100, or ``change`` (a signed whole number, or up/down), not both."""
    if "level" in obj and "change" in obj:
        return 'volume takes "level" or "change", not both'
    if "level" in obj:
        level = _whole(obj["level"])
        if level is None or not 0 <= level <= MAX_VOLUME:
            return f'"level" must be a whole number from 0 to {MAX_VOLUME}'
        return {"level": level}
    return _change_args(obj["change"]) if "change" in obj else {}


def _change_args(change: object) -> dict[str, Any] | str:
    if isinstance(change, str) and change in VOLUME_STEPS:
        return {"change": change}
    step = _whole(change)
    if step is None or not -MAX_VOLUME <= step <= MAX_VOLUME:
        return (f'"change" must be a whole number from -{MAX_VOLUME} to {MAX_VOLUME}, '
                'or "up" or "down" (one tools.volume_step)')
    return {"change": step}


def _cancel_args(obj: dict[str, Any]) -> dict[str, Any] | str:
    which = obj.get("which")
    text = " ".join(which.split()) if isinstance(which, str) else ""
    if not text or len(text) > MAX_LABEL_CHARS:
        return ('timers.cancel needs "which": a timer id such as "t1", a label, or "all" '
                f"(1 to {MAX_LABEL_CHARS} characters)")
    return {"which": text}


def _set_args(obj: dict[str, Any]) -> dict[str, Any] | str:
    seconds = obj.get("seconds")
    if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
            or not MIN_TIMER_S <= seconds <= MAX_TIMER_S):
        return (f'timers.set needs "seconds": a number from {MIN_TIMER_S} to {MAX_TIMER_S} '
                "(a day)")
    label = obj.get("label")
    if label is not None:
        if not isinstance(label, str):
            return '"label" must be a string'
        label = " ".join(label.split()) or None
        if label is not None and len(label) > MAX_LABEL_CHARS:
            return f'"label" longer than {MAX_LABEL_CHARS} characters'
    return {"seconds": float(seconds), "label": label}


_ARGUMENTS: Final[Mapping[str, Callable[[dict[str, Any]], dict[str, Any] | str]]] = {
    "say": _say_args,
    "volume": _volume_args,
    "timers.cancel": _cancel_args,
    "timers.set": _set_args,
}
"""Per command, its fields checked: the Request's keyword arguments, or what is wrong."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


# --------------------------------------------------------------------------- replies


def ok(request: Request, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": True, "cmd": request.cmd}
    if request.id is not None:
        reply["id"] = request.id
    reply.update(fields)
    return reply


def error(code: str, reason: str, *, request: Request | None = None,
          request_id: RequestId = None, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": False, "code": code, "error": reason}
    if request is not None:
        reply["cmd"] = request.cmd
        request_id = request.id
    if request_id is not None:
        reply["id"] = request_id
    reply.update(fields)
    return reply


def encode(message: Mapping[str, Any]) -> bytes:
    """One wire line, never raising: every string redacted (this is an exit from the
    process: a secret must not leave by it) and encodable, values JSON cannot hold
    shown as text."""
    return json.dumps(_plain(message), separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "replace") + b"\n"


def _plain(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become null (strict readers such as jq
    reject them), anything else that is not JSON becomes its redacted text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {without_surrogates(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return redact(str(value))


# --------------------------------------------------------------------------- events


def event(kind: str, phase: str, at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    """An event line's content; ``at`` is wall-clock seconds (for people and logs)."""
    return {"event": kind, "phase": phase, "ts": round(at, 3), "data": dict(data)}


def phase_after(kind: str, data: Mapping[str, Any], current: str) -> str:
    """The phase an event leaves the speaker in (a transition is noticed before it lands)."""
    if kind == "transition":
        to = data.get("to")
        if isinstance(to, str) and to:
            return to
    return current


def dropped_event(count: int, phase: str, at: float) -> dict[str, Any]:
    """Told to a slow subscriber in place of the ``count`` events it missed."""
    return event("dropped", phase, at, {"count": count})


# --------------------------------------------------------------------------- client side


def decode(line: bytes) -> dict[str, Any]:
    """A reply or event line as the client reads it; ValueError when it is not one."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("the daemon sent a line that is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("the daemon sent JSON that is not an object")
    return obj
