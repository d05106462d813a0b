"""Scripted responses: "the next response calls tool X with arguments Y", and the records
of what went out and what came back.

A real model decides when to call a function; the simulator cannot, so a test (or the
CLI's ``call:`` and ``mcp:`` faults) queues ``ScriptedResponse`` values and each response
created next, by ``response.create`` or by server VAD, takes the oldest one instead of
the usual answer. A response may also call tools of a remote MCP server, as the GA API
does itself, asking the client's approval first if the script says so.
Pure values, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# What a scripted response may end with, and the status_details.reason each takes
# (failed takes an error code instead; the first entry is the default).
RESPONSE_REASONS: dict[str, tuple[str, ...]] = {
    "completed": (),
    "cancelled": ("turn_detected", "client_cancelled"),
    "incomplete": ("max_output_tokens", "content_filter"),
    "failed": ("server_error",),
}
CALL_STATUSES = ("completed", "incomplete")


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One function call a scripted response makes.

    ``arguments`` is the raw JSON text the model "wrote", sent as is: it may be invalid
    JSON on purpose, to test the client's handling. ``status`` is the call item's final
    status; None follows the response: completed if it completed, else incomplete.
    """

    name: str
    arguments: str
    status: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a scripted call needs a function name, got {self.name!r}")
        if not isinstance(self.arguments, str):
            raise ValueError(f"arguments are raw JSON text (a str), got {self.arguments!r}")
        if self.status is not None and self.status not in CALL_STATUSES:
            raise ValueError(f"a call's status is one of {', '.join(CALL_STATUSES)} (or None "
                             f"to follow the response), got {self.status!r}")


@dataclass(frozen=True, slots=True)
class ScriptedMcpCall:
    """One call of a remote MCP server's tool that the "API" makes within a response.

    ``ask`` first sends an ``mcp_approval_request`` and holds the response until the
    client answers it: approved, the call follows; denied, it does not. Without
    ``error`` the call completes with ``output``; with it, the call fails with that
    ``tool_execution_error`` message.
    """

    server_label: str
    name: str
    arguments: str = "{}"
    output: str = "ok"
    error: str | None = None
    ask: bool = False

    def __post_init__(self) -> None:
        for what, value in (("server label", self.server_label), ("tool name", self.name)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"a scripted MCP call needs a {what}, got {value!r}")
        if not isinstance(self.arguments, str) or not isinstance(self.output, str):
            raise ValueError("an MCP call's arguments and output are text (str)")
        if self.error is not None and (not isinstance(self.error, str) or not self.error):
            raise ValueError(f"an MCP call's error is a message, got {self.error!r}")


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """What the next response does instead of the usual answer.

    First each MCP call (``mcp``, GA sessions only: the API runs those itself, so the
    answer may speak their result in the same response), then ``speak_ms`` of answer
    audio as an ordinary assistant message (a preface such as "Sure, setting a timer";
    none at 0), then each call as a function_call item, then response.done with
    ``status`` (and ``reason``; None takes the status's usual one).
    No spoken answer follows the calls: as with a real model that comes in the next
    response, after the client sends the outputs and a response.create.
    ``hold_s`` holds back response.done this long (wall-clock, whatever the pace) once
    everything else is out, so a test can barge in or drop the link while the call is
    in flight. ``delta_chars`` splits the arguments into deltas of this many characters.
    """

    calls: tuple[ScriptedCall, ...] = ()
    speak_ms: int = 0
    status: str = "completed"
    reason: str | None = None
    hold_s: float = 0.0
    transcript: str = "Sure, one moment."
    delta_chars: int = 16
    mcp: tuple[ScriptedMcpCall, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.calls, tuple) or not all(
                isinstance(c, ScriptedCall) for c in self.calls):
            raise ValueError("calls is a tuple of ScriptedCall")
        if not isinstance(self.mcp, tuple) or not all(
                isinstance(c, ScriptedMcpCall) for c in self.mcp):
            raise ValueError("mcp is a tuple of ScriptedMcpCall")
        if not isinstance(self.speak_ms, int) or not 0 <= self.speak_ms <= 600_000:
            raise ValueError(f"speak_ms must be 0–600000 ms, got {self.speak_ms!r}")
        if self.status not in RESPONSE_REASONS:
            raise ValueError(f"a response's status is one of {', '.join(RESPONSE_REASONS)}, "
                             f"got {self.status!r}")
        reasons = RESPONSE_REASONS[self.status]
        if self.status == "failed" and self.reason is not None and (
                not isinstance(self.reason, str) or not self.reason):
            raise ValueError(f"a failed response's reason is its error code, got "
                             f"{self.reason!r}")
        if self.reason is not None and self.status != "failed" and self.reason not in reasons:
            raise ValueError(f"a {self.status} response takes no reason" if not reasons else
                             f"a {self.status} response's reason is one of "
                             f"{', '.join(reasons)}, got {self.reason!r}")
        if not math.isfinite(self.hold_s) or self.hold_s < 0:
            raise ValueError(f"hold_s must be a finite number of seconds ≥ 0, got "
                             f"{self.hold_s!r}")
        if self.delta_chars < 1:
            raise ValueError(f"delta_chars must be at least 1, got {self.delta_chars}")

    @classmethod
    def of(cls, name: str, arguments: str = "{}", **fields: Any) -> ScriptedResponse:
        """One call: ``ScriptedResponse.of("set_timer", '{"seconds": 300}', speak_ms=400)``."""
        return cls(calls=(ScriptedCall(name, arguments),), **fields)

    @property
    def ending(self) -> tuple[str, str | None]:
        """(status, status_details.reason or failed's error code); reason None: completed."""
        reasons = RESPONSE_REASONS[self.status]
        return self.status, self.reason or (reasons[0] if reasons else None)

    def call_status(self, call: ScriptedCall) -> str:
        if call.status is not None:
            return call.status
        return "completed" if self.status == "completed" else "incomplete"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function_call item the simulator sent (its response.output_item.done went out)."""

    connection: int
    response_id: str
    call_id: str
    name: str
    arguments: str
    status: str  # the item's status in response.output_item.done
    item_id: str
    output_index: int


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A function_call_output a client sent; ``known`` when its call_id names a call sent
    on that same connection (else the client got an error)."""

    connection: int
    call_id: str
    output: str
    known: bool


@dataclass(frozen=True, slots=True)
class McpCallSent:
    """An MCP call the simulator made (its response.output_item.done went out): the
    server, the tool, and how it ended (completed or failed)."""

    connection: int
    response_id: str
    item_id: str
    server_label: str
    name: str
    arguments: str
    status: str
    approval_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class McpApproval:
    """An ``mcp_approval_response`` a client sent; ``known`` when it answers a request
    sent on that same connection (else the client got an error)."""

    connection: int
    approval_request_id: str
    approve: bool
    reason: str | None
    known: bool
