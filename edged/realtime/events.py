"""Typed protocol messages: what edged sends and what it understands.

One frozen dataclass per event, independent of the wire dialect: the codec maps
them to and from the GA and beta JSON shapes. The session configuration is a
typed value too, built from the config file by a pure function, so switching
between push-to-talk and hands-free is just building another value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edged import pcm
from edged.config import RealtimeConfig, ToolChoice
from edged.realtime.credentials import Secret

AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
Eagerness = Literal["low", "medium", "high", "auto"]
NoiseReductionType = Literal["near_field", "far_field"]
Modality = Literal["audio", "text"]
ResponseStatus = str  # completed | cancelled | failed | incomplete (servers may add more)

PCM_RATE = pcm.RATE


# --------------------------------------------------------------------------- session


@dataclass(frozen=True, slots=True)
class ServerVad:
    """Silence-based turn detection on the server."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True


@dataclass(frozen=True, slots=True)
class SemanticVad:
    """Meaning-based turn detection on the server."""

    eagerness: Eagerness = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = ServerVad | SemanticVad | None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, what it is for, and the JSON Schema
    of its arguments (an object schema). Compared by value; never hashed."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class McpServer:
    """A remote MCP server the API itself connects to and calls (GA dialect only).

    ``authorization`` is the token the API presents to the server: a Secret, so a
    session printed into a log shows ``<redacted>``, never the token."""

    server_label: str
    server_url: str
    allowed_tools: tuple[str, ...] = ()  # empty: every tool the server lists
    require_approval: Literal["never", "always"] = "always"
    headers: Mapping[str, str] = field(default_factory=dict)
    authorization: Secret | None = None


@dataclass(frozen=True, slots=True)
class Transcription:
    model: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """The session configuration edged asks for.

    Every field is always sent: ``session.update`` only changes the fields it
    names, so a ``None`` must reach the server as ``null`` (for example to turn
    server VAD off when going back to push-to-talk).
    """

    voice: str = "alloy"
    instructions: str = ""
    modalities: tuple[Modality, ...] = ("audio",)
    input_format: AudioFormat = "pcm16"
    output_format: AudioFormat = "pcm16"
    turn_detection: TurnDetection = None
    transcription: Transcription | None = None
    noise_reduction: NoiseReductionType | None = None
    max_output_tokens: int | Literal["inf"] = "inf"
    speed: float = 1.0
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"  # auto | none | required
    mcp_servers: tuple[McpServer, ...] = ()  # sent with the tools, GA only

    @property
    def handsfree(self) -> bool:
        return self.turn_detection is not None


def session_from_config(rt: RealtimeConfig, *, handsfree: bool,
                        tools: tuple[ToolSpec, ...] = (),
                        mcp: tuple[McpServer, ...] = ()) -> Session:
    """The session for one mode: push-to-talk never lets the server end turns.
    ``tools`` come from the caller, not the config: which tools exist is code. So do
    the ``mcp`` servers: their authorization is read from credentials, not the file."""
    td = rt.turn_detection
    turn: TurnDetection = None
    if handsfree and td.type == "server_vad":
        turn = ServerVad(td.threshold, td.prefix_padding_ms, td.silence_duration_ms)
    elif handsfree and td.type == "semantic_vad":
        turn = SemanticVad(td.eagerness)
    transcription = None
    if rt.transcription.enabled:
        transcription = Transcription(rt.transcription.model, rt.language)
    return Session(
        voice=rt.voice,
        instructions=rt.instructions,
        turn_detection=turn,
        transcription=transcription,
        noise_reduction=None if rt.noise_reduction == "none" else rt.noise_reduction,
        max_output_tokens=rt.max_output_tokens,
        speed=rt.speed,
        tools=tools,
        # "required" with nothing to call would be refused: no tools, nothing required
        tool_choice=rt.tool_choice if tools else "auto",
        mcp_servers=mcp,
    )


# --------------------------------------------------------------------------- client events


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """``fields``: the ``Session`` fields to send (None: all, as on a new connection).
    Sending only what changed keeps an update the server would refuse in part (a
    voice once the model has spoken) from taking the rest down with it."""

    session: Session
    event_id: str | None = None
    fields: frozenset[str] | None = None


def session_changes(old: Session, new: Session) -> frozenset[str]:
    """The names of the fields that differ."""
    return frozenset(f.name for f in dataclasses.fields(Session)
                     if getattr(old, f.name) != getattr(new, f.name))


@dataclass(frozen=True, slots=True)
class InputAudioAppend:
    audio: bytes = field(repr=False)
    event_id: str | None = None

    def __repr__(self) -> str:  # audio is large: show its size only
        return f"InputAudioAppend(<{len(self.audio)} bytes>, event_id={self.event_id!r})"


@dataclass(frozen=True, slots=True)
class InputAudioCommit:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioClear:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    response_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemTruncate:
    item_id: str
    content_index: int
    audio_end_ms: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemCreateText:
    """A typed user message (``conversation.item.create``), e.g. from ``edged ctl``."""

    text: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionCallOutput:
    """The result of a function the model called (``conversation.item.create``); the
    model only answers with it once a ``response.create`` follows."""

    call_id: str
    output: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class McpApprovalResponse:
    """edged's answer to an MCP server's request to run a tool (``conversation.item.create``
    of an ``mcp_approval_response`` item, whose own id is ``item_id``). A refusal carries
    a ``reason`` the model reads; an approval carries none (some servers refuse one)."""

    approval_request_id: str
    approve: bool
    item_id: str
    reason: str | None = None
    event_id: str | None = None


ClientEvent = (
    SessionUpdate
    | InputAudioAppend
    | InputAudioCommit
    | InputAudioClear
    | ResponseCreate
    | ResponseCancel
    | ItemTruncate
    | ItemCreateText
    | FunctionCallOutput
    | McpApprovalResponse
)


# --------------------------------------------------------------------------- server events


@dataclass(frozen=True, slots=True)
class SessionCreated:
    session_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    session_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    type: str = "error"
    code: str | None = None
    message: str = ""
    param: str | None = None
    event_id: str | None = None  # the client event it answers, when the server says


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioCommitted:
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioCleared:
    pass


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True)
class OutputItemAdded:
    item_id: str
    response_id: str | None = None
    item_type: str | None = None  # message, function_call, ... (servers may add more)


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A function call the model finished writing (``response.output_item.done``).

    Only ``status == "completed"`` means the call is whole and meant: the arguments
    of a cancelled or cut-off response arrive too, with another status.
    ``arguments`` is the JSON text the model wrote (possibly empty), unparsed.
    """

    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: str
    status: str  # completed | incomplete | in_progress


@dataclass(frozen=True, slots=True)
class AudioDelta:
    response_id: str
    item_id: str
    pcm: bytes = field(repr=False)
    content_index: int = 0

    def __repr__(self) -> str:
        return (f"AudioDelta(response_id={self.response_id!r}, item_id={self.item_id!r}, "
                f"<{len(self.pcm)} bytes>)")


@dataclass(frozen=True, slots=True)
class AudioDone:
    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """A piece of the assistant's spoken answer, as text."""

    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    response_id: str
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class InputTranscriptCompleted:
    """What the person said, as the server's transcription model heard it."""

    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class InputTranscriptFailed:
    item_id: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class RateLimit:
    name: str
    limit: float
    remaining: float
    reset_seconds: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    limits: tuple[RateLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: ResponseStatus
    reason: str | None = None  # status_details.reason, e.g. turn_detected, client_cancelled


McpProgress = Literal["in_progress", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class McpToolList:
    """An ``mcp_list_tools`` item: the tools a server offered (``conversation.item.added``
    or ``.done``; ``done`` only for the latter, when the list is whole)."""

    item_id: str
    server_label: str
    tools: tuple[str, ...] = ()
    done: bool = False


@dataclass(frozen=True, slots=True)
class McpListToolsStatus:
    """``mcp_list_tools.in_progress`` / ``.completed`` / ``.failed``: only the item's id."""

    item_id: str
    status: McpProgress


@dataclass(frozen=True, slots=True)
class McpCall:
    """An ``mcp_call`` item: a tool the API called on a remote server. ``done`` once the
    item is finished (its ``output``, or its ``error`` for a call that failed)."""

    item_id: str
    server_label: str
    name: str
    arguments: str = ""
    output: str | None = None
    error: str | None = None
    response_id: str | None = None
    done: bool = False
    approval_request_id: str | None = None  # the approval it carries out, if one was asked


@dataclass(frozen=True, slots=True)
class McpCallStatus:
    """``response.mcp_call.in_progress`` / ``.completed`` / ``.failed``."""

    item_id: str
    status: McpProgress


@dataclass(frozen=True, slots=True)
class McpCallArguments:
    """``response.mcp_call_arguments.done``: the arguments the model wrote, whole."""

    response_id: str
    item_id: str
    arguments: str


@dataclass(frozen=True, slots=True)
class McpApprovalRequest:
    """An ``mcp_approval_request`` item: the API asks before calling ``name`` on the
    server ``server_label``; edged answers it from the config."""

    item_id: str
    server_label: str
    name: str
    arguments: str = ""
    response_id: str | None = None


ServerEvent = (
    SessionCreated
    | SessionUpdated
    | ErrorEvent
    | SpeechStarted
    | SpeechStopped
    | AudioCommitted
    | AudioCleared
    | ResponseCreated
    | OutputItemAdded
    | AudioDelta
    | AudioDone
    | TranscriptDelta
    | TranscriptDone
    | InputTranscriptCompleted
    | InputTranscriptFailed
    | RateLimits
    | ResponseDone
    | FunctionCall
    | McpToolList
    | McpListToolsStatus
    | McpCall
    | McpCallStatus
    | McpCallArguments
    | McpApprovalRequest
)
