"""Faults the simulator can inject, and the queue that hands them to connections.

Faults are plain values so tests, the CLI and benchmarks script an outage the
same way: ``inject(fault, times)`` queues it for the next ``times`` handshake
attempts, in order. The CLI spells them as ``KIND[:ARG[:ARG]][xTIMES]``.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["refuse", "close", "drop", "silent", "malformed", "expired", "delay",
                    "quotekey", "surrogate"]

# Codes a server may put in a close frame (RFC 6455 §7.4; 1004–1006 and 1015 are
# reserved for "no code"/"abnormal"/"TLS" and can never be sent).
_SENDABLE_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                             1013, 1014})


class FaultSpecError(ValueError):
    """A fault that cannot exist, or a CLI spelling that does not parse."""


def _non_negative(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise FaultSpecError(f"{name} must be a finite number of seconds ≥ 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour, applied to one connection. Build with the class methods."""

    kind: FaultKind
    status: int = 0
    retry_after: float | None = None
    code: int = 0
    after_s: float | None = None
    seconds: float = 0.0
    after_chunks: int = 1
    bad_audio: bool = False

    @classmethod
    def refuse(cls, status: int, retry_after: float | None = None) -> Fault:
        """Answer the handshake with this HTTP status (and ``Retry-After``)."""
        if not 200 <= status <= 599 or status == 101:
            raise FaultSpecError(f"refuse needs an HTTP status from 200 to 599, got {status}")
        if retry_after is not None:
            _non_negative("Retry-After", retry_after)
        return cls("refuse", status=status, retry_after=retry_after)

    @classmethod
    def close_after_open(cls, code: int, after_s: float = 0.0) -> Fault:
        """Accept, send session.created, then close with ``code`` after ``after_s``."""
        if code not in _SENDABLE_CLOSE and not 3000 <= code <= 4999:
            raise FaultSpecError(
                f"close code {code} cannot be sent in a close frame (use 1000–1003, "
                "1007–1014 or 3000–4999; for an abrupt drop use the drop fault)")
        return cls("close", code=code, after_s=_non_negative("after", after_s))

    @classmethod
    def drop_mid_answer(cls, after_chunks: int = 1) -> Fault:
        """Abort the TCP connection (no close frame) after ``after_chunks`` audio deltas."""
        if after_chunks < 1:
            raise FaultSpecError(f"drop needs at least 1 chunk before the drop, got {after_chunks}")
        return cls("drop", after_chunks=after_chunks)

    @classmethod
    def silent(cls, after_s: float | None = None) -> Fault:
        """Stop reading (so pings go unanswered) and stop sending.

        With ``after_s=None`` the connection first answers the opening
        session.update, so a client comes up and then meets a dead peer;
        otherwise it falls silent ``after_s`` seconds after the handshake.
        """
        return cls("silent", after_s=None if after_s is None else _non_negative("after", after_s))

    @classmethod
    def malformed(cls, bad_audio: bool = False) -> Fault:
        """Send invalid JSON, a non-object and an unknown event type, then behave.

        ``bad_audio`` also slips one audio delta with invalid base64 into the
        next answer (the real deltas still follow, complete).
        """
        return cls("malformed", bad_audio=bad_audio)

    @classmethod
    def session_expired(cls, after_s: float = 0.0) -> Fault:
        """After ``after_s``: an ``error`` with code session_expired, then close 1001."""
        return cls("expired", after_s=_non_negative("after", after_s))

    @classmethod
    def quote_key(cls, after_s: float = 0.0) -> Fault:
        """``after_s`` after session.updated: an ``error`` whose message quotes the key the
        client presented, whole and without its first 3 characters; the connection stays.

        A buggy or hostile server; the client must not show it to anyone.
        """
        return cls("quotekey", after_s=_non_negative("after", after_s))

    @classmethod
    def surrogate(cls, after_s: float = 0.0) -> Fault:
        """``after_s`` after session.updated: an ``error`` whose message holds a lone UTF-16
        surrogate (valid JSON, escaped as ``\\ud800``; not encodable as UTF-8)."""
        return cls("surrogate", after_s=_non_negative("after", after_s))

    @classmethod
    def delay_answers(cls, seconds: float) -> Fault:
        """Hold every answer on the connection this long after response.created."""
        return cls("delay", seconds=_non_negative("delay", seconds))

    def describe(self) -> str:
        """The CLI spelling of this fault (without the repeat count)."""
        if self.kind == "refuse":
            extra = "" if self.retry_after is None else f":{self.retry_after:g}"
            return f"refuse:{self.status}{extra}"
        if self.kind == "close":
            return f"close:{self.code}:{self.after_s or 0:g}"
        if self.kind == "drop":
            return f"drop:{self.after_chunks}"
        if self.kind == "silent":
            return "silent" if self.after_s is None else f"silent:{self.after_s:g}"
        if self.kind == "malformed":
            return "malformed:audio" if self.bad_audio else "malformed"
        if self.kind in ("expired", "quotekey", "surrogate"):
            return f"{self.kind}:{self.after_s or 0:g}"
        return f"delay:{self.seconds:g}"


@dataclass(slots=True)
class _Queued:
    fault: Fault
    left: int


class FaultQueue:
    """Faults waiting for the next handshake attempts, first in first out."""

    def __init__(self) -> None:
        self._queue: deque[_Queued] = deque()

    def push(self, fault: Fault, times: int = 1) -> None:
        if times < 1:
            raise FaultSpecError(f"times must be at least 1, got {times}")
        self._queue.append(_Queued(fault, times))

    def take(self) -> Fault | None:
        """The fault for the handshake happening now, or None."""
        if not self._queue:
            return None
        head = self._queue[0]
        head.left -= 1
        if head.left == 0:
            self._queue.popleft()
        return head.fault

    def pending(self) -> list[tuple[Fault, int]]:
        return [(q.fault, q.left) for q in self._queue]

    def clear(self) -> None:
        self._queue.clear()


_SPEC = re.compile(r"^(?P<body>[a-z]+(?::[^:x]+)*)(?:x(?P<times>\d+))?$")
USAGE = (
    "refuse:STATUS[:RETRY_AFTER], close:CODE[:AFTER_S], drop[:AFTER_CHUNKS], "
    "silent[:AFTER_S], malformed[:audio], expired[:AFTER_S], delay:SECONDS, "
    "quotekey[:AFTER_S], surrogate[:AFTER_S]; "
    "append xN to apply it to the next N connections"
)


def parse_spec(spec: str) -> tuple[Fault, int]:
    """``"refuse:503:2x3"`` → (Fault.refuse(503, 2.0), 3)."""
    text = spec.strip().lower()
    match = _SPEC.match(text)
    if not match:
        raise FaultSpecError(f"cannot read fault {spec!r}; expected one of: {USAGE}")
    kind, *args = match.group("body").split(":")
    times = int(match.group("times") or 1)

    def number(i: int, what: str) -> float:
        try:
            value = float(args[i])
        except ValueError:
            raise FaultSpecError(f"fault {spec!r}: {what} must be a number, "
                                 f"got {args[i]!r}") from None
        return value

    def integer(i: int, what: str) -> int:
        value = number(i, what)
        if not value.is_integer():
            raise FaultSpecError(f"fault {spec!r}: {what} must be a whole number")
        return int(value)

    arity = {"refuse": (1, 2), "close": (1, 2), "drop": (0, 1), "silent": (0, 1),
             "malformed": (0, 1), "expired": (0, 1), "delay": (1, 1), "quotekey": (0, 1),
             "surrogate": (0, 1)}
    if kind not in arity:
        raise FaultSpecError(f"unknown fault kind {kind!r}; expected one of: {USAGE}")
    lo, hi = arity[kind]
    if not lo <= len(args) <= hi:
        raise FaultSpecError(f"fault {spec!r}: wrong number of arguments; expected one of: "
                             f"{USAGE}")
    if kind == "refuse":
        fault = Fault.refuse(integer(0, "status"), number(1, "Retry-After") if len(args) > 1
                             else None)
    elif kind == "close":
        fault = Fault.close_after_open(integer(0, "code"), number(1, "delay") if len(args) > 1
                                       else 0.0)
    elif kind == "drop":
        fault = Fault.drop_mid_answer(integer(0, "chunk count") if args else 1)
    elif kind == "silent":
        fault = Fault.silent(number(0, "delay") if args else None)
    elif kind == "malformed":
        if args and args[0] != "audio":
            raise FaultSpecError(f"fault {spec!r}: the only option is 'malformed:audio'")
        fault = Fault.malformed(bad_audio=bool(args))
    elif kind == "expired":
        fault = Fault.session_expired(number(0, "delay") if args else 0.0)
    elif kind == "quotekey":
        fault = Fault.quote_key(number(0, "delay") if args else 0.0)
    elif kind == "surrogate":
        fault = Fault.surrogate(number(0, "delay") if args else 0.0)
    else:
        fault = Fault.delay_answers(number(0, "delay"))
    if times < 1:
        raise FaultSpecError(f"fault {spec!r}: the repeat count must be at least 1")
    return fault, times
