"""A short-lived client secret from the fleet's token service: what its answer means,
how long it lasts, and when to ask again.

Pure: the answer arrives as plain values (status, body, Date header) and the clocks
are passed in. The lifetime is measured on the service's clock whenever it can be:
a Pi has no battery-backed clock, and until NTP has synchronised it (or when it
never can) its wall time may be hours off. ``expires_at`` is a point on the
service's clock, so ``expires_at - Date`` (both from the service) is the time left
whatever this clock says; that span is then counted on the monotonic clock from the
moment the answer arrived. Only without a Date header does this clock's wall time
count, and only once the system says it is synchronised; otherwise, or when the
span makes no sense (already over, or longer than any secret lives), the secret is
used for this one connect and not kept.
"""

from __future__ import annotations

import email.utils
import json
import math
from dataclasses import dataclass
from typing import Literal

from edged.realtime.policy import Failure

MAX_LIFETIME_S = 7200.0
"""The longest a client secret lives (OpenAI's limit for ``expires_after``); a longer
span means the clocks disagree, not a longer secret."""
MAX_BODY_BYTES = 65536
"""A token answer is a few hundred bytes (a few KiB with the session echoed back)."""
REUSE_MARGIN_MAX_S = 60.0

Basis = Literal["expires_in", "service clock", "this clock", "unknown"]


class TokenFailure(Exception):
    """No secret this time; ``failure`` is classed like a handshake failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


class MalformedAnswer(ValueError):
    """The service answered 2xx but not with a usable secret; the message says why."""


@dataclass(frozen=True, slots=True)
class Minted:
    """A secret as the service gave it: the value, and how long it has left."""

    value: str
    lifetime_s: float  # from the moment the answer arrived; 0: use for one connect only
    basis: Basis  # which clock the lifetime was read on
    skew_s: float | None = None  # this clock minus the service's (None: no Date header)

    def __repr__(self) -> str:
        return f"Minted(<redacted>, lifetime_s={self.lifetime_s:g}, basis={self.basis!r})"


@dataclass(frozen=True, slots=True)
class Held:
    """A secret kept for reuse, timed on the monotonic clock."""

    value: str
    received_at: float  # time.monotonic() when the answer arrived
    lifetime_s: float

    def __repr__(self) -> str:
        return f"Held(<redacted>, received_at={self.received_at:g}, " \
               f"lifetime_s={self.lifetime_s:g})"


def server_time(date_header: str | None) -> float | None:
    """The service's clock (epoch seconds) from its Date header, if it sent a valid one."""
    if not date_header:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


def lifetime(expires_at: float | None, expires_in: float | None, served_at: float | None,
             local_wall: float, clock_synced: bool) -> tuple[float, Basis]:
    """Seconds the secret has left, and on which clock that was read.

    ``served_at`` is the service's Date (epoch seconds), ``local_wall`` this machine's
    ``time.time()`` when the answer arrived, ``clock_synced`` whether the system says
    that clock is synchronised. Always within 0 … ``MAX_LIFETIME_S``.
    """
    basis: Basis
    if expires_in is not None:
        left, basis = expires_in, "expires_in"
    elif expires_at is not None and served_at is not None:
        left, basis = expires_at - served_at, "service clock"
    elif expires_at is not None:
        left, basis = expires_at - local_wall, "this clock"
        if not clock_synced or not 0.0 < left <= MAX_LIFETIME_S:  # no reuse on a guess
            return 0.0, basis
    else:
        return 0.0, "unknown"
    return min(max(left, 0.0), MAX_LIFETIME_S), basis


def _number(doc: dict[str, object], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedAnswer(f"'{key}' is not a number")
    return float(value)


def read_answer(body: bytes, date_header: str | None, local_wall: float, *,
                clock_synced: bool) -> Minted:
    """The secret in a 2xx answer: ``{"value": "ek_...", "expires_at": <unix seconds>}``
    (OpenAI's client-secret shape), or ``expires_in`` seconds instead of ``expires_at``;
    ``{"client_secret": {...}}`` (the older sessions shape) is read too.
    Raises MalformedAnswer naming what is missing, never quoting the body."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedAnswer(f"the answer is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedAnswer("the answer is not JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("client_secret"), dict):
        doc = doc["client_secret"]
    if not isinstance(doc, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    value = doc.get("value")
    if not isinstance(value, str) or not value.strip():
        raise MalformedAnswer("the answer has no 'value' (the client secret)")
    value = value.strip()
    if len(value) < 8 or any(c.isspace() or not c.isprintable() for c in value):
        raise MalformedAnswer("the 'value' is not a usable secret (too short, or spaces)")
    expires_at, expires_in = _number(doc, "expires_at"), _number(doc, "expires_in")
    if expires_at is None and expires_in is None:
        raise MalformedAnswer("the answer has neither 'expires_at' nor 'expires_in'")
    served_at = server_time(date_header)
    if expires_at is not None and served_at is not None and expires_in is None \
            and expires_at <= served_at:
        raise MalformedAnswer("the secret had expired when it was sent (expires_at is not "
                              "after the answer's Date)")
    left, basis = lifetime(expires_at, expires_in, served_at, local_wall, clock_synced)
    skew = None if served_at is None else local_wall - served_at
    return Minted(value, left, basis, skew)


def reuse_margin(lifetime_s: float, handshake_s: float) -> float:
    """How long before its end a held secret is no longer handed out: never less than
    a handshake may take (``link.open_timeout_s``), else a tenth of its life, at most
    a minute."""
    return max(handshake_s, min(REUSE_MARGIN_MAX_S, 0.1 * lifetime_s))


def usable(held: Held | None, now: float, handshake_s: float) -> bool:
    """Whether ``held`` may start a connection at ``now`` (monotonic seconds)."""
    if held is None or held.lifetime_s <= 0:
        return False
    age = now - held.received_at
    return 0.0 <= age < held.lifetime_s - reuse_margin(held.lifetime_s, handshake_s)
