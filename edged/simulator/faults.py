"""Faults the simulator can inject, and the queue that hands them to connections.

Faults are plain values so tests, the CLI and benchmarks script an outage the
same way: ``inject(fault, times)`` queues it for the next ``times`` handshake
attempts, in order. The CLI spells them as ``KIND[:ARG[:ARG...]][xTIMES]``.

Three kinds are not outages: ``call`` scripts the next response (on whichever
connection creates it) to call a function, so the CLI can do what tests do with
``Simulator.script``; it is spelled ``call:NAME:ARGUMENTS`` with the arguments
taken verbatim (JSON holds colons, spaces and capitals, and may end in "x3").
``mcp:LABEL:NAME:ARGUMENTS`` scripts a call of an MCP server's tool instead (GA
only; the answer is spoken after it), and ``mcpask:...`` the same call asking the
client's approval first.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from edged.simulator.protocol import CLIENT_EVENTS, UNSUPPORTED_EVENTS
from edged.simulator.script import ScriptedMcpCall, ScriptedResponse

FaultKind = Literal["refuse", "close", "drop", "silent", "malformed", "expired", "delay",
                    "quotekey", "surrogate", "reject", "errorthenclose", "failed",
                    "incomplete", "bigframe", "badutf8", "call", "mcp", "mcpask"]
# Where in a turn ``expired:POINT`` strikes: on the client's response.create (before
# response.created), right after response.created, after the first audio delta, or
# right after response.done.
TurnPoint = Literal["create", "created", "audio", "done"]
TURN_POINTS: tuple[TurnPoint, ...] = get_args(TurnPoint)
IncompleteReason = Literal["max_output_tokens", "content_filter"]
INCOMPLETE_REASONS: tuple[IncompleteReason, ...] = get_args(IncompleteReason)

# Codes a server may put in a close frame (RFC 6455 §7.4; 1004–1006 and 1015 are
# reserved for "no code"/"abnormal"/"TLS" and can never be sent).
_SENDABLE_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                             1013, 1014})
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the API allows a function
MAX_FRAME_MIB = 256.0
MCP_SPEAK_MS = 1500  # the answer an mcp fault's response speaks after the call


class FaultSpecError(ValueError):
    """A fault that cannot exist, or a CLI spelling that does not parse."""


def _non_negative(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise FaultSpecError(f"{name} must be a finite number of seconds ≥ 0, got {value!r}")
    return float(value)


def _error_code(code: str) -> str:
    if not _CODE.match(code):
        raise FaultSpecError(f"an error code is lower-case letters, digits and '_', got {code!r}")
    return code


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
    event: str = ""  # reject: the client event type refused
    error_code: str = ""  # reject, errorthenclose, failed: the error's code
    nth: int = 0  # reject: only the nth such event (0: every one)
    echo: bool = True  # reject: put the client's event_id in error.event_id
    point: TurnPoint | None = None  # expired at this point of a turn, not after a time
    reason: IncompleteReason | None = None  # incomplete: status_details.reason
    mib: float = 0.0  # bigframe: the frame's size
    tool: str = ""  # call: the function's name; mcp, mcpask: the server's tool
    arguments: str = ""  # call, mcp, mcpask: the raw arguments text
    server_label: str = ""  # mcp, mcpask: the MCP server's label

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
    def session_expired_at(cls, point: TurnPoint) -> Fault:
        """The session_expired error and close 1001 at one point of a turn, where a
        client is in a particular state (see ``TurnPoint``), instead of after a time."""
        if point not in TURN_POINTS:
            raise FaultSpecError(f"expired strikes at one of {', '.join(TURN_POINTS)}, "
                                 f"got {point!r}")
        return cls("expired", point=point)

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

    @classmethod
    def reject(cls, event: str, code: str = "invalid_value", nth: int = 0,
               echo: bool = True) -> Fault:
        """Answer the ``nth`` client event of type ``event`` (0: every one) with an ``error``
        of this code, and do not act on it: a refused response.create starts no response.

        ``echo=False`` leaves ``error.event_id`` null, as servers may, so a client cannot
        tell which of its events was refused.
        """
        if event not in CLIENT_EVENTS | UNSUPPORTED_EVENTS:
            raise FaultSpecError(f"reject needs a client event type such as response.create, "
                                 f"got {event!r}")
        if nth < 0:
            raise FaultSpecError(f"reject: N counts from 1, got {nth}")
        return cls("reject", event=event, error_code=_error_code(code), nth=nth, echo=echo)

    @classmethod
    def error_then_close(cls, code: str, after_s: float = 0.0) -> Fault:
        """Right after session.created, an ``error`` with this code; ``after_s`` later, an
        ordinary close 1001. The client must tie the close to the error (e.g. no quota)."""
        return cls("errorthenclose", error_code=_error_code(code),
                   after_s=_non_negative("after", after_s))

    @classmethod
    def fail_answer(cls, after_chunks: int = 1, code: str = "server_error") -> Fault:
        """End each answer after ``after_chunks`` audio deltas with response.done status
        ``failed`` (status_details.error carrying ``code``); the rest is never sent."""
        if after_chunks < 0:
            raise FaultSpecError(f"failed needs 0 or more chunks, got {after_chunks}")
        return cls("failed", after_chunks=after_chunks, error_code=_error_code(code))

    @classmethod
    def incomplete_answer(cls, after_chunks: int = 1,
                          reason: IncompleteReason = "max_output_tokens") -> Fault:
        """End each answer after ``after_chunks`` audio deltas with response.done status
        ``incomplete`` and this reason; the rest is never sent."""
        if after_chunks < 0:
            raise FaultSpecError(f"incomplete needs 0 or more chunks, got {after_chunks}")
        if reason not in INCOMPLETE_REASONS:
            raise FaultSpecError(f"incomplete's reason is one of "
                                 f"{', '.join(INCOMPLETE_REASONS)}, got {reason!r}")
        return cls("incomplete", after_chunks=after_chunks, reason=reason)

    @classmethod
    def big_frame(cls, mib: float, after_s: float = 0.0) -> Fault:
        """``after_s`` after session.updated: one text frame of ``mib`` MiB (a valid,
        ignorable event), for a client's message size limit (close 1009)."""
        if not math.isfinite(mib) or not 0 < mib <= MAX_FRAME_MIB:
            raise FaultSpecError(f"bigframe needs a size above 0 and at most "
                                 f"{MAX_FRAME_MIB:g} MiB, got {mib!r}")
        return cls("bigframe", mib=float(mib), after_s=_non_negative("after", after_s))

    @classmethod
    def bad_utf8(cls, after_s: float = 0.0) -> Fault:
        """``after_s`` after session.updated: a text frame that is not valid UTF-8, which
        a client must refuse (close 1007)."""
        return cls("badutf8", after_s=_non_negative("after", after_s))

    @classmethod
    def call(cls, name: str, arguments: str = "{}") -> Fault:
        """Not a connection fault: the next response, on any connection, calls function
        ``name`` with ``arguments`` (raw text, sent as is even if not JSON) and nothing
        else. ``inject(fault, times)`` scripts the next ``times`` responses so."""
        if not _FUNCTION_NAME.match(name):
            raise FaultSpecError(f"call needs a function name of 1–64 letters, digits, '_' "
                                 f"or '-', got {name!r}")
        return cls("call", tool=name, arguments=arguments)

    @classmethod
    def mcp_call(cls, server_label: str, name: str, arguments: str = "{}",
                 ask: bool = False) -> Fault:
        """Not a connection fault: the next response calls tool ``name`` of the MCP server
        ``server_label`` (the API's own call; GA sessions only), then speaks. ``ask``
        first requests the client's approval and waits for it."""
        for what, value in (("server label", server_label), ("tool name", name)):
            if not _FUNCTION_NAME.match(value):
                raise FaultSpecError(f"mcp needs a {what} of 1–64 letters, digits, '_' or "
                                     f"'-', got {value!r}")
        return cls("mcpask" if ask else "mcp", tool=name, arguments=arguments,
                   server_label=server_label)

    def scripted(self) -> ScriptedResponse:
        """The response a call, mcp or mcpask fault scripts."""
        if self.kind in ("mcp", "mcpask"):
            return ScriptedResponse(mcp=(ScriptedMcpCall(
                self.server_label, self.tool, self.arguments, ask=self.kind == "mcpask"),),
                speak_ms=MCP_SPEAK_MS, transcript="Here is what I found.")
        if self.kind != "call":
            raise FaultSpecError(f"only a call fault (or an mcp one) scripts a response, "
                                 f"not {self.kind}")
        return ScriptedResponse.of(self.tool, self.arguments)

    def describe(self) -> str:
        """The CLI spelling of this fault (without the repeat count)."""
        return _SPELL[self.kind](self)


def _spell_reject(f: Fault) -> str:
    return (f"reject:{f.event}:{f.error_code}{f':{f.nth}' if f.nth else ''}"
            f"{'' if f.echo else ':noecho'}")


def _spell_expired(f: Fault) -> str:
    return f"expired:{f.point}" if f.point else f"expired:{f.after_s or 0:g}"


_SPELL: dict[str, Callable[[Fault], str]] = {
    "refuse": lambda f: f"refuse:{f.status}"
              + ("" if f.retry_after is None else f":{f.retry_after:g}"),
    "close": lambda f: f"close:{f.code}:{f.after_s or 0:g}",
    "drop": lambda f: f"drop:{f.after_chunks}",
    "silent": lambda f: "silent" if f.after_s is None else f"silent:{f.after_s:g}",
    "malformed": lambda f: "malformed:audio" if f.bad_audio else "malformed",
    "expired": _spell_expired,
    "delay": lambda f: f"delay:{f.seconds:g}",
    "quotekey": lambda f: f"quotekey:{f.after_s or 0:g}",
    "surrogate": lambda f: f"surrogate:{f.after_s or 0:g}",
    "reject": _spell_reject,
    "errorthenclose": lambda f: f"errorthenclose:{f.error_code}:{f.after_s or 0:g}",
    "failed": lambda f: f"failed:{f.after_chunks}:{f.error_code}",
    "incomplete": lambda f: f"incomplete:{f.after_chunks}:{f.reason}",
    "bigframe": lambda f: f"bigframe:{f.mib:g}:{f.after_s or 0:g}",
    "badutf8": lambda f: f"badutf8:{f.after_s or 0:g}",
    "call": lambda f: f"call:{f.tool}:{f.arguments}",
    "mcp": lambda f: f"mcp:{f.server_label}:{f.tool}:{f.arguments}",
    "mcpask": lambda f: f"mcpask:{f.server_label}:{f.tool}:{f.arguments}",
}


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


# The repeat count is a trailing ``xN``; the body is matched lazily so that arguments
# may hold an "x" (max_output_tokens) and kinds a digit (badutf8).
_SPEC = re.compile(r"^(?P<body>.+?)(?:x(?P<times>\d+))?$")
_BODY = re.compile(r"^[a-z][a-z0-9]*(?::[^:\s]+)*$")
USAGE = (
    "refuse:STATUS[:RETRY_AFTER], close:CODE[:AFTER_S], drop[:AFTER_CHUNKS], "
    "silent[:AFTER_S], malformed[:audio], expired[:AFTER_S], "
    "expired:create|created|audio|done, delay:SECONDS, quotekey[:AFTER_S], "
    "surrogate[:AFTER_S], reject:EVENT:CODE[:N][:noecho], errorthenclose:CODE[:AFTER_S], "
    "failed[:AFTER_CHUNKS[:CODE]], incomplete[:AFTER_CHUNKS[:REASON]], "
    "bigframe:MIB[:AFTER_S], badutf8[:AFTER_S]; "
    "append xN to apply it to the next N connections; "
    "call:NAME:ARGUMENTS scripts the next response to call a function (ARGUMENTS is the "
    "rest of the text, verbatim, with no xN: repeat the fault for more responses); "
    "mcp:LABEL:NAME:ARGUMENTS a call of an MCP server's tool, mcpask:LABEL:NAME:ARGUMENTS "
    "the same after asking the client's approval"
)
_CALL = re.compile(r"^\s*call:", re.IGNORECASE)
_MCP = re.compile(r"^\s*(mcp|mcpask):", re.IGNORECASE)


def parse_spec(spec: str) -> tuple[Fault, int]:
    """``"refuse:503:2x3"`` → (Fault.refuse(503, 2.0), 3)."""
    if _CALL.match(spec):
        return _parse_call(spec), 1
    if _MCP.match(spec):
        return _parse_mcp(spec), 1
    text = spec.strip().lower()
    match = _SPEC.match(text)
    if not match or not _BODY.match(match.group("body")):
        raise FaultSpecError(f"cannot read fault {spec!r}; expected one of: {USAGE}")
    kind, *args = match.group("body").split(":")
    times = int(match.group("times") or 1)
    if kind not in _BUILD:
        raise FaultSpecError(f"unknown fault kind {kind!r}; expected one of: {USAGE}")
    lo, hi, build = _BUILD[kind]
    if not lo <= len(args) <= hi:
        raise FaultSpecError(f"fault {spec!r}: wrong number of arguments; expected one of: "
                             f"{USAGE}")
    fault = build(_Args(spec, args))
    if times < 1:
        raise FaultSpecError(f"fault {spec!r}: the repeat count must be at least 1")
    return fault, times


def _parse_call(spec: str) -> Fault:
    """``call:NAME:ARGUMENTS``: only the first two colons split; the case is kept."""
    _, _, rest = spec.partition(":")
    name, colon, arguments = rest.partition(":")
    if not colon:
        raise FaultSpecError(f"fault {spec!r}: call needs a name and the arguments, "
                             "call:NAME:ARGUMENTS, e.g. call:set_timer:{\"seconds\": 300} "
                             "(call:get_time:{} for none)")
    _, _, build = _BUILD["call"]
    try:
        return build(_Args(spec, [name, arguments]))
    except FaultSpecError as exc:
        raise FaultSpecError(f"fault {spec!r}: {exc}") from None


def _parse_mcp(spec: str) -> Fault:
    """``mcp:LABEL:NAME:ARGUMENTS`` (or ``mcpask:``): only the first three colons split."""
    kind, _, rest = spec.strip().partition(":")
    label, _, rest = rest.partition(":")
    name, colon, arguments = rest.partition(":")
    if not colon:
        raise FaultSpecError(f"fault {spec!r}: {kind.lower()} needs a server label, a tool "
                             "name and the arguments, e.g. mcp:home:lights:{\"room\": "
                             "\"hall\"} (mcp:home:status:{} for none)")
    try:
        return Fault.mcp_call(label, name, arguments, ask=kind.lower() == "mcpask")
    except FaultSpecError as exc:
        raise FaultSpecError(f"fault {spec!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Args:
    """The arguments of one spelling (their count already checked), read by position."""

    spec: str
    args: list[str]

    def has(self, i: int) -> bool:
        return len(self.args) > i

    def number(self, i: int, what: str, default: float | None = None) -> float:
        if not self.has(i):
            assert default is not None
            return default
        try:
            return float(self.args[i])
        except ValueError:
            raise FaultSpecError(f"fault {self.spec!r}: {what} must be a number, "
                                 f"got {self.args[i]!r}") from None

    def integer(self, i: int, what: str, default: int | None = None) -> int:
        value = self.number(i, what, None if default is None else float(default))
        if not value.is_integer():
            raise FaultSpecError(f"fault {self.spec!r}: {what} must be a whole number")
        return int(value)

    def text(self, i: int, default: str) -> str:
        return self.args[i] if self.has(i) else default


def _build_expired(a: _Args) -> Fault:
    if a.has(0) and a.args[0] in TURN_POINTS:
        return Fault.session_expired_at(a.args[0])
    if a.has(0) and a.args[0].isalpha():
        raise FaultSpecError(f"fault {a.spec!r}: expired takes seconds or one of "
                             f"{', '.join(TURN_POINTS)}")
    return Fault.session_expired(a.number(0, "delay", 0.0))


def _build_reject(a: _Args) -> Fault:
    rest = a.args[2:]
    echo = not (rest and rest[-1] == "noecho")
    if not echo:
        rest = rest[:-1]
    if len(rest) > 1 or (rest and not rest[0].isdigit()):
        raise FaultSpecError(f"fault {a.spec!r}: after the code come an optional N (which "
                             "event of that type, from 1) and an optional 'noecho'")
    nth = int(rest[0]) if rest else 0
    if rest and nth < 1:
        raise FaultSpecError(f"fault {a.spec!r}: N counts from 1")
    return Fault.reject(a.args[0], a.args[1], nth, echo)


def _build_malformed(a: _Args) -> Fault:
    if a.has(0) and a.args[0] != "audio":
        raise FaultSpecError(f"fault {a.spec!r}: the only option is 'malformed:audio'")
    return Fault.malformed(bad_audio=a.has(0))


def _build_incomplete(a: _Args) -> Fault:
    reason = a.text(1, "max_output_tokens")
    if reason not in INCOMPLETE_REASONS:
        raise FaultSpecError(f"fault {a.spec!r}: the reason is one of "
                             f"{', '.join(INCOMPLETE_REASONS)}")
    return Fault.incomplete_answer(a.integer(0, "chunk count", 1), reason)


# kind → (fewest arguments, most arguments, builder)
_BUILD: dict[str, tuple[int, int, Callable[[_Args], Fault]]] = {
    "refuse": (1, 2, lambda a: Fault.refuse(
        a.integer(0, "status"), a.number(1, "Retry-After") if a.has(1) else None)),
    "close": (1, 2, lambda a: Fault.close_after_open(a.integer(0, "code"),
                                                     a.number(1, "delay", 0.0))),
    "drop": (0, 1, lambda a: Fault.drop_mid_answer(a.integer(0, "chunk count", 1))),
    "silent": (0, 1, lambda a: Fault.silent(a.number(0, "delay") if a.has(0) else None)),
    "malformed": (0, 1, _build_malformed),
    "expired": (0, 1, _build_expired),
    "delay": (1, 1, lambda a: Fault.delay_answers(a.number(0, "delay"))),
    "quotekey": (0, 1, lambda a: Fault.quote_key(a.number(0, "delay", 0.0))),
    "surrogate": (0, 1, lambda a: Fault.surrogate(a.number(0, "delay", 0.0))),
    "reject": (2, 4, _build_reject),
    "errorthenclose": (1, 2, lambda a: Fault.error_then_close(a.args[0],
                                                              a.number(1, "delay", 0.0))),
    "failed": (0, 2, lambda a: Fault.fail_answer(a.integer(0, "chunk count", 1),
                                                 a.text(1, "server_error"))),
    "incomplete": (0, 2, _build_incomplete),
    "bigframe": (1, 2, lambda a: Fault.big_frame(a.number(0, "size"),
                                                 a.number(1, "delay", 0.0))),
    "badutf8": (0, 1, lambda a: Fault.bad_utf8(a.number(0, "delay", 0.0))),
    "call": (2, 2, lambda a: Fault.call(a.args[0], a.args[1])),  # parsed by _parse_call
    # parsed by _parse_mcp
    "mcp": (3, 3, lambda a: Fault.mcp_call(a.args[0], a.args[1], a.args[2])),
    "mcpask": (3, 3, lambda a: Fault.mcp_call(a.args[0], a.args[1], a.args[2], ask=True)),
}
