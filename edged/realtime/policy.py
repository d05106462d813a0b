"""When to (re)connect: backoff, circuit breaker, failure classes, renewal.

Pure and clock-free: every method takes ``now`` (monotonic seconds) and the
random source is injected, so the timing rules are tested exactly, without
sleeps. The link asks this module what to do; it never decides timing itself.

The rules, in short: network trouble backs off with full jitter (spreading a
fleet that lost the same server) and opens a circuit after repeated failures,
leaving one probe per reset period; a refused key or a wrong endpoint waits a
long time and is retried at once only when a reload changes something; a
server that ends the session is rejoined at once, but never in a tight loop.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from edged.config import LinkConfig

RETRY_AFTER_MAX_S = 3600.0  # a broken Retry-After must not park a speaker for days
_PROBE_SPREAD = 0.2  # long waits are stretched by up to 20 % so a fleet drifts apart


class Cause(StrEnum):
    NETWORK = "network"  # refused, reset, timeout, 5xx, abnormal close: back off
    CREDENTIALS = "credentials"  # 401/403: wait long, critical; a new key retries at once
    CONFIGURATION = "configuration"  # 400/404: same, for a wrong endpoint or model
    RATE_LIMITED = "rate_limited"  # 429: honour Retry-After
    SESSION_END = "session_end"  # close 1001 or session_expired: rejoin at once
    RENEWAL = "renewal"  # our own proactive renewal: not a failure at all


class Wait(StrEnum):
    NONE = "none"
    BACKOFF = "backoff"
    RETRY_AFTER = "retry_after"
    CIRCUIT_OPEN = "circuit_open"
    AUTH_FAILED = "auth_failed"
    CONFIG_FAILED = "config_failed"


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Failure:
    cause: Cause
    detail: str  # for people: what happened, never a secret
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    at: float  # monotonic time of the next attempt
    wait: Wait

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.at - now)


# --------------------------------------------------------------------------- classification

_CREDENTIAL_CODES = frozenset({
    "invalid_api_key", "invalid_authentication", "authentication_error", "unauthorized",
    "insufficient_quota", "account_deactivated", "permission_denied", "access_denied",
})
_CONFIG_CODES = frozenset({
    "beta_api_shape_disabled", "model_not_found", "invalid_model", "deploymentnotfound",
    "deployment_not_found", "unsupported_model", "operationnotsupported",
})


def classify_status(status: int, retry_after: float | None = None) -> Failure:
    """An HTTP status that refused the WebSocket handshake."""
    what = f"HTTP {status} at the handshake"
    if status in (401, 403, 407):
        return Failure(Cause.CREDENTIALS, f"{what}: the server refused the API key")
    if status == 429:
        return Failure(Cause.RATE_LIMITED, f"{what}: rate limited", retry_after)
    if status == 408 or not 400 <= status < 500:
        return Failure(Cause.NETWORK, f"{what}: server trouble", retry_after)
    hint = {404: "wrong URL, deployment or api-version", 400: "not a realtime model or "
            "deployment"}.get(status, "the request was refused")
    return Failure(Cause.CONFIGURATION, f"{what}: {hint}")


def classify_token_status(status: int, device_token: str,
                          retry_after: float | None = None) -> Failure:
    """An HTTP status from the token service (``credentials.token_url``), in the same
    classes as the handshake's; ``device_token`` says where the token was read from."""
    what = f"token service answered HTTP {status}"
    if status in (401, 403):
        return Failure(Cause.CREDENTIALS, f"{what}: it refused this speaker's device token "
                       f"(from {device_token})")
    if status == 429:
        return Failure(Cause.RATE_LIMITED, f"{what}: rate limited", retry_after)
    if 300 <= status < 400:
        return Failure(Cause.CONFIGURATION, f"{what}: a redirect, which edged does not "
                       "follow; set credentials.token_url to the final URL")
    if status == 408 or not 400 <= status < 500:
        return Failure(Cause.NETWORK, f"{what}: server trouble", retry_after)
    hint = "wrong credentials.token_url?" if status in (404, 405) else "the request was refused"
    return Failure(Cause.CONFIGURATION, f"{what}: {hint}")


def classify_error_code(code: str | None) -> Cause | None:
    """The class an ``error`` event's code implies when the server then closes."""
    if not code:
        return None
    c = code.lower()
    if c == "session_expired":
        return Cause.SESSION_END
    if c in _CREDENTIAL_CODES:
        return Cause.CREDENTIALS
    if c in _CONFIG_CODES:
        return Cause.CONFIGURATION
    return None


def classify_close(code: int | None, reason: str = "", error_code: str | None = None) -> Failure:
    """An open connection that ended; ``code`` is None when no close frame came."""
    said = f" after error {error_code}" if error_code else ""
    why = f" ({reason[:80]})" if reason else ""
    detail = (f"connection lost without a close frame{said}" if code is None
              else f"server closed the connection: {code}{why}{said}")
    cause = classify_error_code(error_code)
    if cause is not None:
        return Failure(cause, detail)
    if code == 1001:
        return Failure(Cause.SESSION_END, detail)
    return Failure(Cause.NETWORK, detail)


_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    m = _SECONDS.match(value)
    if m:
        return float(m.group(1))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)


# --------------------------------------------------------------------------- the policy


class Policy:
    """Connection timing for one link. Call ``attempt``, then ``up`` and/or ``failed``."""

    def __init__(self, link: LinkConfig, rng: Callable[[], float] = random.random) -> None:
        self.cfg = link
        self.rng = rng
        self.failures = 0  # consecutive, reset by a healthy connection
        self.circuit = Circuit.CLOSED
        self.blocked: Cause | None = None
        self.up_since: float | None = None
        self.plan = Plan(-math.inf, Wait.NONE)
        self._free_rejoin_used = False  # one quick "session ended" rejoin without backoff

    # -- events from the link

    def attempt(self, now: float) -> None:
        """A connection attempt starts now (a probe, if the circuit is open)."""
        if self.circuit is Circuit.OPEN:
            self.circuit = Circuit.HALF_OPEN
        self.plan = Plan(now, Wait.NONE)

    def up(self, now: float) -> None:
        """The link is up (session configured)."""
        self.up_since = now
        self.blocked = None
        self.circuit = Circuit.CLOSED

    def failed(self, failure: Failure, now: float) -> Plan:
        """An attempt failed or an up link ended: when to try next."""
        healthy = self.up_since is not None and now - self.up_since >= self.cfg.healthy_after_s
        self.up_since = None
        if healthy:
            self.failures = 0
            self.circuit = Circuit.CLOSED
            self._free_rejoin_used = False
        cause = failure.cause
        if cause is Cause.RENEWAL:
            return self._set(now, Wait.NONE)
        if cause is Cause.SESSION_END:
            if healthy or not self._free_rejoin_used:
                self._free_rejoin_used = not healthy
                return self._set(now, Wait.NONE)
            cause = Cause.NETWORK  # ended again at once: treat as trouble, back off
        self.failures += 1
        if cause in (Cause.CREDENTIALS, Cause.CONFIGURATION):
            self.blocked = cause
            wait = Wait.AUTH_FAILED if cause is Cause.CREDENTIALS else Wait.CONFIG_FAILED
            return self._set(now + self._stretch(self.cfg.auth_retry_s), wait)
        delay, wait = self.backoff(self.failures), Wait.BACKOFF
        if self.circuit is Circuit.HALF_OPEN or self.failures >= self.cfg.circuit_threshold:
            self.circuit = Circuit.OPEN
            delay, wait = self._stretch(self.cfg.circuit_reset_s), Wait.CIRCUIT_OPEN
        if failure.retry_after is not None:
            honoured = min(max(failure.retry_after, 0.0), RETRY_AFTER_MAX_S)
            if honoured > delay:
                delay = honoured
                wait = Wait.CIRCUIT_OPEN if wait is Wait.CIRCUIT_OPEN else Wait.RETRY_AFTER
        return self._set(now + delay, wait)

    def credentials_changed(self, now: float) -> Plan:
        """A reload brought a new key: a credentials block ends now."""
        if self.blocked is Cause.CREDENTIALS:
            self._unblock(now)
        return self.plan

    def config_changed(self, now: float) -> Plan:
        """A reload, even of an unchanged file: a configuration block (a 404, a refused
        session) ends now, since what was missing may exist on the server by now."""
        if self.blocked is Cause.CONFIGURATION:
            self._unblock(now)
        return self.plan

    def reset(self, now: float) -> Plan:
        """A deliberate reconnect (after a reload): forget waits, try at once."""
        self._unblock(now)
        return self.plan

    # -- questions from the link

    def backoff(self, failures: int) -> float:
        """Full jitter: uniform(0, min(cap, base · 2^(failures-1)))."""
        ceiling = min(self.cfg.backoff_cap_s,
                      self.cfg.backoff_base_s * 2.0 ** min(max(failures - 1, 0), 60))
        return self.rng() * ceiling

    def renew_at(self) -> float | None:
        """When session renewal becomes due, if the link is up."""
        if self.up_since is None:
            return None
        return self.up_since + self.cfg.session_renew_min * 60.0

    def renewal_due(self, now: float, idle: bool) -> bool:
        """Renew only once it is due and only while the conversation is idle."""
        due = self.renew_at()
        return idle and due is not None and now >= due

    # -- internals

    def _stretch(self, seconds: float) -> float:
        return seconds * (1.0 + _PROBE_SPREAD * self.rng())

    def _set(self, at: float, wait: Wait) -> Plan:
        self.plan = Plan(at, wait)
        return self.plan

    def _unblock(self, now: float) -> None:
        self.blocked = None
        self.failures = 0
        self.circuit = Circuit.CLOSED
        self._free_rejoin_used = False
        self.plan = Plan(now, Wait.NONE)
