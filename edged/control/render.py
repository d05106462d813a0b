"""Event and reply lines as people (and ``while read`` loops) read them."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    # one event, one line: control characters are shown escaped, never raw
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return shlex.quote(text) if text == "" or any(c.isspace() or c in "'\"\\$`" for c in text) \
        else text


def format_event(event: Mapping[str, Any]) -> str:
    """``HH:MM:SS.mmm PHASE KIND key=value ...`` (local time): the phase always in the
    second column, so ``while read -r time phase kind rest`` drives an LED with no JSON
    parser."""
    ts = event.get("ts")
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        try:
            when = datetime.fromtimestamp(ts)
            stamp = when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        except (OverflowError, OSError, ValueError):
            stamp = "--:--:--.---"
    else:
        stamp = "--:--:--.---"
    data = event.get("data")
    fields = data if isinstance(data, Mapping) else {}
    parts = [stamp, _value(event.get("phase")), _value(event.get("event"))]
    parts.extend(f"{k}={_value(v)}" for k, v in fields.items())
    return " ".join(parts)
