"""Masking anything that looks like a credential before it is logged.

The daemon never logs its API key on purpose; this is the safety net for the key
showing up by accident (an exception quoting a header, a URL with a key in its
query, a server echoing a request). It masks known secrets exactly (registered with
:meth:`RedactFilter.add_secret` once the key is loaded) and anything shaped like an
OpenAI key, a bearer token, an ``api-key`` value, a JWT or a long hex key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[redacted]"

_PATTERNS = (
    # Authorization: Bearer <token>, in headers, reprs and URLs alike.
    re.compile(r"(?i)(\bbearer\s+)[^\s'\",;]+"),
    # api-key: <value>, api_key=<value>, "api-key": "<value>", ?api-key=<value>.
    re.compile(r"(?i)(\bapi[-_ ]?key[\"']?\s*[:=]\s*[\"']?)[^\s'\",;&]+"),
    # OpenAI keys: sk-..., sk-proj-..., sk-svcacct-...
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{16,}"),
    # JSON Web Tokens (Entra ID access tokens, ephemeral client secrets).
    re.compile(r"()\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?"),
    # Azure keys: 32 hex digits; and any longer hex run.
    re.compile(r"()\b[0-9A-Fa-f]{32,}\b"),
    # Azure's newer 84-character keys and other long opaque tokens: 40+ letters and
    # digits with both present.
    re.compile(r"()\b(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{40,}\b"),
)

MIN_SECRET_LEN = 8  # shorter strings would mask ordinary words


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every credential-shaped token masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LEN:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Redact strings inside plain values (str, and dicts/lists of them)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, secrets) for v in value]
    return value


class RedactFilter(logging.Filter):
    """A handler filter that rewrites each record with secrets masked.

    It formats the message (so a secret passed as an argument is caught too), the
    exception text and the ``extra={"fields": {...}}`` mapping, then lets the
    record through. Attach it to handlers, not loggers: logger filters do not see
    records propagated from child loggers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._formatter = logging.Formatter()

    def add_secret(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret.strip())

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = redact_value(fields, self._secrets)
        return True
