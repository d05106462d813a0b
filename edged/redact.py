"""The one place that knows every secret edged holds and masks it in any text.

Every way out of the process that shows text to someone (the journal, stderr, the
control socket) and the one way in for a server's words (the realtime link) pass
through here. Two kinds of masking:

* any run of :data:`RUN` or more consecutive characters of a registered secret (the
  API key; with a token service, the device token and each short-lived client
  secret, registered the moment it arrives), wherever it appears: a server may quote
  the key whole, without its ``sk-`` prefix, or cut;
* credential-shaped tokens nobody registered (OpenAI keys, bearer and api-key
  values, JWTs, long hex or alphanumeric runs), but only when the value itself is
  token-shaped (16+ characters with a digit), so "a bearer token read from a file"
  or "api key: missing" pass unchanged.

Masked text is also made encodable: a lone UTF-16 surrogate (valid in JSON, not in
UTF-8) would make ``journal.send`` and the control socket's encoder raise.

Pure (no I/O). :data:`REDACTOR` is the process-wide instance; the module functions
use it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

MASK = "[redacted]"
RUN = 8
"""The shortest run of a secret that is masked (and the shortest secret kept): a
shorter one would hit ordinary words, a longer one would let a fragment through."""
KEEP = 8
"""Values kept per secret name, so a rotated key or a renewed token stays masked."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Control characters, bidi overrides (they reorder what a terminal shows) and
surrogates: none belong in a line a person reads."""
_SPACES = frozenset("\t\n\r\x0b\x0c")


def _token(chars: str) -> str:
    """A run of ``chars`` shaped like a credential: 16 or more, with a digit."""
    return rf"(?={chars}{{16}})(?={chars}*?[0-9]){chars}+"


_PATTERNS = (
    # Authorization: Bearer <token>, in headers, reprs and URLs alike.
    re.compile(r"(?i)(\bbearer\s+)" + _token(r"[^\s'\",;]")),
    # api-key: <value>, api_key=<value>, "api-key": "<value>", ?api-key=<value>.
    re.compile(r"(?i)(\bapi[-_ ]?key[\"']?\s*[:=]\s*[\"']?)" + _token(r"[^\s'\",;&]")),
    # OpenAI keys: sk-..., sk-proj-..., sk-svcacct-..., and their masked echoes.
    re.compile(r"()\bsk-(?=[A-Za-z0-9_\-*]{13})(?=[A-Za-z0-9_\-*]*?[0-9])[A-Za-z0-9_\-*]+"),
    # OpenAI client secrets (ephemeral keys): ek_..., as a token service mints them.
    re.compile(r"()\bek_(?=[A-Za-z0-9_\-*]{13})(?=[A-Za-z0-9_\-*]*?[0-9])[A-Za-z0-9_\-*]+"),
    # JSON Web Tokens (Entra ID access tokens, ephemeral client secrets).
    re.compile(r"()\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?"),
    # Azure keys: 32 hex digits; and any longer hex run.
    re.compile(r"()\b(?=[A-Fa-f]*[0-9])[0-9A-Fa-f]{32,}\b"),
    # Azure's 84-character keys and other opaque tokens: 40+ letters and digits, both.
    re.compile(r"()\b(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{40,}\b"),
)


def without_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def printable(text: str) -> str:
    """One line a person can read: whitespace controls become spaces, other controls,
    bidi overrides and surrogates U+FFFD."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(lambda m: " " if m.group() in _SPACES else "\ufffd", text)


class Redactor:
    """The secrets to mask (by name, the last :data:`KEEP` values of each) and the masking.

    Registering is rare (a key load, a token renewal) and rebuilds a frozen set of
    every secret's :data:`RUN`-character slices; masking only reads that set, so
    logging threads need no lock.
    """

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._named: dict[str, deque[str]] = {}
        self._grams: frozenset[str] = frozenset()
        self._public: frozenset[str] = frozenset()

    def allow(self, value: str) -> None:
        """A value known to be public that merely looks like a key (the config file's
        SHA-256): the guessing patterns leave exactly it alone. Registered secrets
        inside it are still masked."""
        with self._lock:
            self._public = frozenset([*self._public, value][-8:])

    def register(self, secret: str | None, name: str = "api_key") -> None:
        """Mask this value from now on (a value shorter than :data:`RUN` cannot be told
        from ordinary text and is ignored)."""
        value = (secret or "").strip()
        if len(value) < RUN:
            return
        with self._lock:
            held = self._named.setdefault(name, deque(maxlen=self._keep))
            if value in held:
                return
            held.append(value)
            self._grams = frozenset(
                s[i:i + RUN] for values in self._named.values() for s in values
                for i in range(len(s) - RUN + 1))

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for values in self._named.values() for s in values)

    def redact_secrets(self, text: str) -> str:
        """Encodable ``text`` with every run of a registered secret masked (no guessing)."""
        text = without_surrogates(text)
        grams = self._grams
        if not grams or len(text) < RUN:
            return text
        spans: list[tuple[int, int]] = []
        start = end = -1
        for i in range(len(text) - RUN + 1):
            if text[i:i + RUN] in grams:
                if i <= end:  # overlaps or touches the current run: extend it
                    end = i + RUN
                else:
                    if end >= 0:
                        spans.append((start, end))
                    start, end = i, i + RUN
        if end < 0:
            return text
        spans.append((start, end))
        parts: list[str] = []
        at = 0
        for a, b in spans:
            parts += (text[at:a], MASK)
            at = b
        parts.append(text[at:])
        return "".join(parts)

    def redact(self, text: str) -> str:
        """Encodable ``text`` with registered secrets and credential-shaped tokens masked."""
        text = self.redact_secrets(text)
        public = self._public
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(0) if m.group(0)[len(m.group(1)):] in public
                               else m.group(1) + MASK, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """Strings inside plain values (str, and mappings/lists of them) redacted; keys made
        encodable; numbers, booleans and None as they were; any other object becomes its
        redacted text (it would be turned into text later, past this point)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {without_surrogates(k) if isinstance(k, str) else k: self.redact_value(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))

    def clean(self, text: str, limit: int, *, guess: bool = True) -> str:
        """Text from outside (a server), fit to show: printable, redacted, at most ``limit``
        characters. ``guess=False`` masks only registered secrets (for identifiers, which
        must stay distinct even when they look like hex keys)."""
        text = printable(text[:limit * 4])  # bounds the work a huge message can cause
        text = self.redact(text) if guess else self.redact_secrets(text)
        return text if len(text) <= limit else text[:max(0, limit - 1)] + "…"


REDACTOR = Redactor()
"""Every secret this process holds."""


def register_secret(secret: str | None, name: str = "api_key") -> None:
    """Mask ``secret`` everywhere from now on: call it wherever a secret is loaded."""
    REDACTOR.register(secret, name)


def redact(text: str) -> str:
    return REDACTOR.redact(text)


def redact_value(value: Any) -> Any:
    return REDACTOR.redact_value(value)


class RedactFilter(logging.Filter):
    """A filter that rewrites each record with secrets masked and surrogates replaced.

    It formats the message (so a secret passed as an argument is caught too), the
    exception text and the ``extra={"fields": {...}}`` mapping, then lets the record
    through. Attach it to handlers, not loggers, unless the records are created on
    that very logger: logger filters do not see records propagated from children.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or REDACTOR
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg = r.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = r.redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = r.redact_value(fields)
        return True
