"""Logging to journald with structured fields, or to stderr as clean one-liners.

``setup_logging()`` picks journald when its socket exists (under systemd, and on a
test machine running journald), stderr otherwise. Every record passes the
:class:`~edged.redact.RedactFilter` first, so neither a credential nor a lone
surrogate (which would make ``journal.send`` fail) reaches either.
``extra={"fields": {...}}`` on a log call becomes ``EDGED_*`` journal fields;
``extra={"public_fields": ...}`` carries the one field the filter must not mask (the
config digest, see :func:`~edged.health.records.public_fields`), checked again here.

Not systemd-python's own ``JournalHandler``: it forwards every attribute of the log
record as a field (``MSG``, ``ARGS``, ...), which would carry unformatted arguments
past the redaction and bloat every entry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from edged.health import records
from edged.health.metrics import Priority
from edged.redact import REDACTOR, RedactFilter, redact, redact_value, without_surrogates

IDENTIFIER = "edged"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

_LEVEL_OF: dict[Priority, int] = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "critical": logging.CRITICAL,
}

log = logging.getLogger("edged.health")

#: The one redaction filter every handler installed here shares (it masks what the
#: process-wide redactor knows: see ``edged.redact.register_secret``).
REDACT_FILTER = RedactFilter()


def syslog_priority(levelno: int) -> int:
    """syslog PRIORITY for a logging level (critical 2, error 3, warning 4, info 6, debug 7)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalHandler(logging.Handler):
    """Sends each record to journald as one entry with ``EDGED_*`` fields."""

    def __init__(self, identifier: str = IDENTIFIER, level: int = logging.NOTSET, *,
                 send: Callable[..., object] | None = None) -> None:
        """``send``: what takes each entry (``systemd.journal.send``'s signature); a
        test hands the entries to another journal writer through it."""
        super().__init__(level)
        if send is None:
            import systemd.journal

            send = systemd.journal.send
        self._send = send
        self.identifier = identifier

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, str] = {}
            extra = getattr(record, "fields", None)
            if isinstance(extra, Mapping):
                fields.update(records.journal_fields(extra))
            if record.exc_text:
                fields[records.PREFIX + "TRACEBACK"] = record.exc_text
            fields[records.PREFIX + "LOGGER"] = record.name
            # The filter makes everything encodable; this handler may also be used
            # without it, and journal.send must never fail on a lone surrogate.
            fields = {k: without_surrogates(v) for k, v in fields.items()}
            public = records.checked_public(getattr(record, "public_fields", None))
            # never past a registered secret, even so (a digest holds none)
            fields.update({k: v for k, v in public.items() if REDACTOR.redact_secrets(v) == v})
            self._send(
                without_surrogates(record.getMessage()),
                PRIORITY=str(syslog_priority(record.levelno)),
                SYSLOG_IDENTIFIER=self.identifier,
                CODE_FILE=record.pathname,
                CODE_LINE=record.lineno,
                CODE_FUNC=record.funcName,
                **fields,
            )
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # One plain line instead of logging's traceback dump; the message is already
        # redacted by the filter. If stderr is gone too, there is no one left to tell.
        exc = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            sys.stderr.write(f"edged: cannot write to the journal ({exc}): {record.msg}\n")


class ConsoleFormatter(logging.Formatter):
    """``edged: warning: message`` — one line, and an exception as one line, not a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{IDENTIFIER}: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {redact(str(exc))})"
        return text.replace("\n", " ⏎ ")


_installed: logging.Handler | None = None
_previous_level = logging.WARNING


def journal_available(socket_path: str | None = None) -> bool:
    return os.path.exists(socket_path or JOURNAL_SOCKET)


def setup_logging(level: int | str = logging.INFO, *, journal: bool | None = None,
                  stream: TextIO | None = None) -> logging.Handler:
    """Route the root logger to journald (``journal=None``: when its socket exists) or to
    ``stream`` (stderr); idempotent, replacing the handler a previous call installed."""
    global _installed, _previous_level
    reset_logging()
    root = logging.getLogger()
    _previous_level = root.level
    use_journal = journal_available() if journal is None else journal
    handler: logging.Handler
    if use_journal:
        handler = JournalHandler()
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setFormatter(ConsoleFormatter())
    handler.addFilter(REDACT_FILTER)
    root.addHandler(handler)
    _installed = handler
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def reset_logging() -> None:
    """Undo :func:`setup_logging`: remove its handler, restore the root level."""
    global _installed
    if _installed is not None:
        root = logging.getLogger()
        root.removeHandler(_installed)
        _installed.close()
        _installed = None
        root.setLevel(_previous_level)


def record_health(snapshot: Mapping[str, Any], priority: Priority,
                  reasons: tuple[str, ...] | list[str] = ()) -> None:
    """Write one health record (EDGED_KIND=health) at the priority the budgets gave."""
    public = records.public_fields(snapshot)
    # Redacted before EDGED_RECORD is built: inside that JSON a surrogate is an ASCII
    # escape the filter cannot see, and ``edged status`` would print it back.
    snapshot = redact_value(snapshot)
    fields = records.health_fields(snapshot, priority, reasons)
    message = records.health_message(snapshot, priority, reasons)
    log.log(_LEVEL_OF[priority], "%s", message,
            extra={"fields": fields, "public_fields": public})


def record_state(state: str, *, link: str | None = None, level: int = logging.INFO,
                 **fields: Any) -> None:
    """Write a state change (EDGED_KIND=state, EDGED_STATE, EDGED_LINK, any other fields)."""
    values: dict[str, Any] = {"kind": records.KIND_STATE, "state": state}
    if link is not None:
        values["link"] = link
    values.update(fields)
    detail = ", ".join(f"{k} {v}" for k, v in fields.items() if v is not None)
    message = f"state: {state}" + (f", link {link}" if link else "") + (
        f" ({detail})" if detail else "")
    log.log(level, "%s", message, extra={"fields": values})
