"""Event and reply lines as people (and ``while read`` loops) read them."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

_SHELL_SPECIAL = "'\"\\$`"


def _printable(value: Any) -> str:
    """One line: control characters shown escaped, never raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    text = _printable(value)
    if text and not any(c.isspace() or c in _SHELL_SPECIAL for c in text):
        return text
    if text and not any(c in "\"\\$`" for c in text):
        # "timer t1 'pasta'" reads better than shlex's '\''-splicing, and is as safe
        return f'"{text}"'
    return shlex.quote(text)


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


# --------------------------------------------------------------------------- timers


def format_remaining(seconds: Any) -> str:
    """``58s``, ``9m 58s``, ``1h 0m 5s``; ``-`` when it is not known (no clock yet)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {s % 3600 // 60}m {s % 60}s"


def _name(row: Mapping[str, Any]) -> str:
    label = row.get("label")
    if label:
        return _printable(label)
    return f"{_printable(row.get('kind', 'timer'))} {_printable(row.get('id', '?'))}"


def timer_phrase(row: Mapping[str, Any]) -> str:
    """``pasta in 9m 58s``, ``alarm t2 in 10h 2m 0s (07:30)``, or for one whose time
    cannot be told yet ``alarm t2 (waiting for the clock to be set)``."""
    remaining = row.get("remaining_s")
    if isinstance(remaining, bool) or not isinstance(remaining, int | float):
        return f"{_name(row)} (waiting for the clock to be set)"
    text = f"{_name(row)} in {format_remaining(remaining)}"
    rings_at = row.get("rings_at")
    return text + (f" (at {_printable(rings_at)})" if rings_at else "")


def format_timers(rows: Sequence[Mapping[str, Any]], ringing: Sequence[Any] = ()) -> str:
    """The table ``edged ctl timers`` prints (``no timers`` when there is none), and
    what rings now, if anything."""
    lines: list[str] = []
    if rows:
        table = [("ID", "KIND", "LABEL", "REMAINING", "RINGS AT")]
        for row in rows:
            remaining = row.get("remaining_s")
            table.append((
                _printable(row.get("id", "?")),
                _printable(row.get("kind", "?")),
                _printable(row.get("label") or "-"),
                "waiting for clock" if remaining is None else format_remaining(remaining),
                _printable(row.get("rings_at") or "-"),
            ))
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines.extend("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
                     .rstrip() for r in table)
    else:
        lines.append("no timers")
    if ringing:
        lines.append("ringing: " + ", ".join(_printable(label) for label in ringing))
    return "\n".join(lines)


def tools_lines(reply: Mapping[str, Any]) -> list[str]:
    """``volume 60`` and ``next timer: pasta in 9m 58s`` (or ``no timers``) from a
    ``status`` reply; nothing when the daemon's tools are not running."""
    volume = reply.get("volume")
    if isinstance(volume, bool) or not isinstance(volume, int):
        return []
    next_timer = reply.get("next_timer")
    timer = (f"next timer: {timer_phrase(next_timer)}" if isinstance(next_timer, Mapping)
             else "no timers")
    return [f"volume {volume}", timer]


def wake_word_lines(wake: Any) -> list[str]:
    """What the wake word does (nothing when it is off), and that the microphone stays on
    for it while the speaker alone sleeps."""
    if not isinstance(wake, Mapping) or not wake.get("enabled"):
        return []
    if not wake.get("listening"):
        return ["wake word: enabled but not listening (see journalctl -u edged)"]
    lines = [f"wake word: listening for {_printable(wake.get('phrase'))!r} "
             f"({_printable(wake.get('model'))}, threshold {wake.get('threshold')}), "
             f"heard {wake.get('detections')} times; the microphone stays on "
             "(standby stops only the speaker)"]
    level, share = wake.get("rest_below_dbfs"), wake.get("rested_share")
    if isinstance(level, (int, float)) and isinstance(share, (int, float)):
        lines.append(f"  the model rests while the microphone stays below {level:g} dBFS: "
                     f"{'resting now' if wake.get('resting') else 'running now'}, rested "
                     f"{share:.0%} of the time so far")
    elif "rest_below_dbfs" in wake:
        lines.append("  the model never rests (wake_word.rest_below_dbfs: null)")
    return lines
