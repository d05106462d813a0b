"""A server's text made fit to show, once, where it enters: right after decoding.

What a realtime server says travels far: an error message becomes the conversation's
notice, the health record's last error, a journal entry and every ``edged ctl watch``
subscriber's event. The server may quote the API key (OpenAI's ``invalid_api_key``
message does, masked; a hostile or buggy server may quote it whole) or send text
that JSON allows and UTF-8 does not (a lone surrogate, which made the control socket
and the journal fail). So every string in a decoded event is made printable,
redacted and capped here, and nothing downstream has to remember to.

Pure.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, TypeVar

from edged.realtime.events import ServerEvent
from edged.redact import REDACTOR, Redactor

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MESSAGE_CHARS: Final = 500
"""Error messages: more than any real one, few enough for a status line."""
TRANSCRIPT_CHARS: Final = 4096
"""Transcripts: a long spoken answer."""
SHORT_CHARS: Final = 200
"""Identifiers, codes, statuses, names."""
ARGUMENTS_CHARS: Final = 16384
"""A tool call's arguments: JSON a tool parses, so never cut at a name's length."""

_LONG: Final = {"message": MESSAGE_CHARS, "transcript": TRANSCRIPT_CHARS,
                "text": TRANSCRIPT_CHARS, "error": MESSAGE_CHARS, "output": TRANSCRIPT_CHARS,
                "arguments": ARGUMENTS_CHARS}
_EXACT: Final = frozenset({"arguments"})
"""Fields a tool reads: only registered secrets are masked, nothing guessed at (a guess
would turn an argument that merely looks like a key into ``[redacted]``)."""

T = TypeVar("T", bound="DataclassInstance")


def sanitize_event(event: ServerEvent, redactor: Redactor = REDACTOR) -> ServerEvent:
    """``event`` with every string field cleaned (the same object when nothing changed).

    Identifiers (``*_id``) and tool arguments are only stripped of registered secrets:
    guessing at key-shaped text would turn distinct hex ids into one ``[redacted]``. The raw
    session objects of ``session.created``/``updated`` are left as they came: edged
    never shows them.
    """
    return _clean(event, redactor)


def _clean(obj: T, redactor: Redactor) -> T:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        new: Any
        if isinstance(value, str):
            new = redactor.clean(value, _LONG.get(f.name, SHORT_CHARS),
                                 guess=not f.name.endswith("_id") and f.name not in _EXACT)
        elif isinstance(value, tuple) and value and all(
                dataclasses.is_dataclass(v) and not isinstance(v, type) for v in value):
            new = tuple(_clean(v, redactor) for v in value)
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            new = tuple(redactor.clean(v, SHORT_CHARS) for v in value)  # names (MCP tools)
        else:
            continue
        if new != value:
            changes[f.name] = new
    return dataclasses.replace(obj, **changes) if changes else obj
