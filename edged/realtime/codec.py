"""JSON ⇄ typed events for the GA and beta dialects, with no I/O.

The encoder writes exactly what the protocol reference lists for each dialect.
The decoder never raises: a server that adds event types, or sends garbage, gets
its unknown events counted and its malformed ones logged and dropped, because a
smart speaker must not fall over on one bad message.

The audio paths run fifty times a second, so they avoid ``json`` on the way out
(base64 needs no JSON escaping) and use ``binascii`` directly.

Its mirror image (client JSON → events, server events → JSON) exists only in the
tests, which use it to show that round trips are lossless.
"""

from __future__ import annotations

import binascii
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal

from edged.realtime.events import (
    PCM_RATE,
    AudioCleared,
    AudioCommitted,
    AudioDelta,
    AudioDone,
    ClientEvent,
    ErrorEvent,
    FunctionCall,
    FunctionCallOutput,
    InputAudioAppend,
    InputAudioClear,
    InputAudioCommit,
    InputTranscriptCompleted,
    InputTranscriptFailed,
    ItemCreateText,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpCallArguments,
    McpCallStatus,
    McpListToolsStatus,
    McpServer,
    McpToolList,
    OutputItemAdded,
    RateLimit,
    RateLimits,
    ResponseCancel,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    SemanticVad,
    ServerEvent,
    ServerVad,
    Session,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    ToolSpec,
    TranscriptDelta,
    TranscriptDone,
    Transcription,
    TurnDetection,
)

Wire = Literal["ga", "beta"]
log = logging.getLogger("edged.realtime")


class ProtocolError(ValueError):
    """A message that does not have the shape the protocol gives it."""


# --------------------------------------------------------------------------- helpers

_GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": PCM_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def _dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def _unb64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"bad base64 ({exc})") from None


def _map(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = d.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' must be an object")
    return value


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string or null")
    return value


def _text(d: Mapping[str, Any], key: str) -> str | None:
    """Lenient: error fields are shown to people, so keep whatever scalar came."""
    value = d.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def _int(d: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"'{key}' must be a number")
    return int(value)


def _num(d: Mapping[str, Any], key: str) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"'{key}' must be a number")
    return float(value)


def _bool(d: Mapping[str, Any], key: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"'{key}' must be true or false")
    return value


def _with_id(obj: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    if event_id is not None:
        obj["event_id"] = event_id
    return obj


# --------------------------------------------------------------------------- session


def _turn_json(td: TurnDetection) -> dict[str, Any] | None:
    if isinstance(td, ServerVad):
        return {"type": "server_vad", "threshold": td.threshold,
                "prefix_padding_ms": td.prefix_padding_ms,
                "silence_duration_ms": td.silence_duration_ms,
                "create_response": td.create_response,
                "interrupt_response": td.interrupt_response}
    if isinstance(td, SemanticVad):
        return {"type": "semantic_vad", "eagerness": td.eagerness,
                "create_response": td.create_response,
                "interrupt_response": td.interrupt_response}
    return None


def _transcription_json(t: Transcription | None) -> dict[str, Any] | None:
    if t is None:
        return None
    out: dict[str, Any] = {"model": t.model}
    if t.language is not None:
        out["language"] = t.language
    return out


def _plain(value: Any) -> Any:
    """A JSON-ready copy: tool schemas may be read-only mappings, which ``json`` refuses."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _tools_json(tools: tuple[ToolSpec, ...], mcp: tuple[McpServer, ...],
                dialect: Wire) -> list[dict[str, Any]]:
    """Function tools, then (GA only: the beta API has no MCP) the MCP servers."""
    out = [{"type": "function", "name": t.name, "description": t.description,
            "parameters": _plain(t.parameters)} for t in tools]
    if dialect == "ga":
        out += [_mcp_json(m) for m in mcp]
    return out


def _mcp_json(m: McpServer) -> dict[str, Any]:
    """Optional fields only when set: an empty ``allowed_tools`` would allow nothing."""
    entry: dict[str, Any] = {"type": "mcp", "server_label": m.server_label,
                             "server_url": m.server_url,
                             "require_approval": m.require_approval}
    if m.allowed_tools:
        entry["allowed_tools"] = list(m.allowed_tools)
    if m.headers:
        entry["headers"] = dict(m.headers)
    if m.authorization is not None:
        entry["authorization"] = m.authorization.reveal()
    return entry


# Where each Session field lives in each dialect's session object, in the order
# they are written; one table serves the full object and the partial updates.
_GA_PATHS: dict[str, tuple[str, ...]] = {
    "modalities": ("output_modalities",),
    "instructions": ("instructions",),
    "input_format": ("audio", "input", "format"),
    "noise_reduction": ("audio", "input", "noise_reduction"),
    "transcription": ("audio", "input", "transcription"),
    "turn_detection": ("audio", "input", "turn_detection"),
    "output_format": ("audio", "output", "format"),
    "voice": ("audio", "output", "voice"),
    "speed": ("audio", "output", "speed"),
    "max_output_tokens": ("max_output_tokens",),
    "tools": ("tools",),
    "tool_choice": ("tool_choice",),
}
_BETA_PATHS: dict[str, tuple[str, ...]] = {
    "modalities": ("modalities",),
    "instructions": ("instructions",),
    "voice": ("voice",),
    "input_format": ("input_audio_format",),
    "output_format": ("output_audio_format",),
    "transcription": ("input_audio_transcription",),
    "noise_reduction": ("input_audio_noise_reduction",),
    "turn_detection": ("turn_detection",),
    "max_output_tokens": ("max_response_output_tokens",),
    "tools": ("tools",),
    "tool_choice": ("tool_choice",),
}  # the beta session has no speed


def session_json(s: Session, dialect: Wire,
                 fields: frozenset[str] | None = None) -> dict[str, Any]:
    """The ``session`` object of a session.update, in the dialect's shape; with
    ``fields``, only those (and the GA's required ``type``). The MCP servers travel in
    ``tools`` beside the functions, so a change to either sends both."""
    if fields is not None and "mcp_servers" in fields:
        fields = fields | {"tools"}
    values = _session_values(s, dialect)
    out: dict[str, Any] = {"type": "realtime"} if dialect == "ga" else {}
    for name, (*parents, leaf) in (_GA_PATHS if dialect == "ga" else _BETA_PATHS).items():
        if fields is None or name in fields:
            node = out
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = values[name]
    return out


def _session_values(s: Session, dialect: Wire) -> dict[str, Any]:
    """Each Session field as the dialect writes it."""
    ga = dialect == "ga"
    speaks = "audio" in s.modalities
    return {
        # GA names the one output; the beta API only accepts ["text"] or ["audio", "text"]
        "modalities": (["audio" if speaks else "text"] if ga
                       else ["audio", "text"] if speaks else ["text"]),
        "instructions": s.instructions,
        "input_format": _GA_FORMATS[s.input_format] if ga else s.input_format,
        "output_format": _GA_FORMATS[s.output_format] if ga else s.output_format,
        "noise_reduction": {"type": s.noise_reduction} if s.noise_reduction else None,
        "transcription": _transcription_json(s.transcription),
        "turn_detection": _turn_json(s.turn_detection),
        "voice": s.voice,
        "speed": s.speed,
        "max_output_tokens": s.max_output_tokens,
        "tools": _tools_json(s.tools, s.mcp_servers, dialect),
        "tool_choice": s.tool_choice,
    }


# --------------------------------------------------------------------------- client → JSON

_APPEND_HEAD = b'{"type":"input_audio_buffer.append","audio":"'


def encode_bytes(event: ClientEvent, dialect: Wire) -> bytes:
    """UTF-8 JSON, ready for a text frame (the link sends this without re-encoding)."""
    if isinstance(event, InputAudioAppend):
        tail = b'"}' if event.event_id is None else (
            b'","event_id":' + json.dumps(event.event_id).encode() + b"}")
        return b"".join((_APPEND_HEAD, _b64(event.audio), tail))
    return _dumps(_client_json(event, dialect)).encode()


def encode(event: ClientEvent, dialect: Wire) -> str:
    """The JSON text of a client event in the given dialect."""
    if isinstance(event, InputAudioAppend):
        return encode_bytes(event, dialect).decode("ascii")
    return _dumps(_client_json(event, dialect))


def _client_json(event: ClientEvent, dialect: Wire) -> dict[str, Any]:  # noqa: PLR0911 - one return per event type
    if isinstance(event, SessionUpdate):
        obj = _with_id({"type": "session.update"}, event.event_id)
        obj["session"] = session_json(event.session, dialect, event.fields)
        return obj
    if isinstance(event, InputAudioAppend):
        obj = _with_id({"type": "input_audio_buffer.append"}, event.event_id)
        obj["audio"] = _b64(event.audio).decode("ascii")
        return obj
    if isinstance(event, InputAudioCommit):
        return _with_id({"type": "input_audio_buffer.commit"}, event.event_id)
    if isinstance(event, InputAudioClear):
        return _with_id({"type": "input_audio_buffer.clear"}, event.event_id)
    if isinstance(event, ResponseCreate):
        return _with_id({"type": "response.create"}, event.event_id)
    if isinstance(event, ResponseCancel):
        obj = _with_id({"type": "response.cancel"}, event.event_id)
        if event.response_id is not None:
            obj["response_id"] = event.response_id
        return obj
    if isinstance(event, ItemCreateText):
        obj = _with_id({"type": "conversation.item.create"}, event.event_id)
        obj["item"] = {"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": event.text}]}
        return obj
    if isinstance(event, FunctionCallOutput):
        obj = _with_id({"type": "conversation.item.create"}, event.event_id)
        obj["item"] = {"type": "function_call_output", "call_id": event.call_id,
                       "output": event.output}
        return obj
    if isinstance(event, McpApprovalResponse):
        obj = _with_id({"type": "conversation.item.create"}, event.event_id)
        obj["item"] = {"type": "mcp_approval_response", "id": event.item_id,
                       "approval_request_id": event.approval_request_id,
                       "approve": event.approve}
        if event.reason is not None:
            obj["item"]["reason"] = event.reason
        return obj
    obj = _with_id({"type": "conversation.item.truncate"}, event.event_id)
    obj.update(item_id=event.item_id, content_index=event.content_index,
               audio_end_ms=event.audio_end_ms)
    return obj


# --------------------------------------------------------------------------- JSON → server

# A parser returns None for a message that is understood but asks nothing of edged.
_Parser = Callable[[Mapping[str, Any], int], ServerEvent | None]


def _p_session_created(d: Mapping[str, Any], _w: int) -> ServerEvent:
    s = _map(d, "session")
    return SessionCreated(_opt_str(s, "id"), dict(s))


def _p_session_updated(d: Mapping[str, Any], _w: int) -> ServerEvent:
    s = _map(d, "session")
    return SessionUpdated(_opt_str(s, "id"), dict(s))


def _p_error(d: Mapping[str, Any], _w: int) -> ServerEvent:
    e = _map(d, "error")
    return ErrorEvent(_text(e, "type") or "error", _text(e, "code"), _text(e, "message") or "",
                      _text(e, "param"), _text(e, "event_id"))


def _p_speech_started(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return SpeechStarted(_int(d, "audio_start_ms", 0), _opt_str(d, "item_id"))


def _p_speech_stopped(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return SpeechStopped(_int(d, "audio_end_ms", 0), _opt_str(d, "item_id"))


def _p_committed(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return AudioCommitted(_opt_str(d, "item_id"))


def _p_cleared(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return AudioCleared()


def _p_response_created(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return ResponseCreated(_str(_map(d, "response"), "id"))


def _p_item_added(d: Mapping[str, Any], _w: int) -> ServerEvent:
    item = _map(d, "item")
    return OutputItemAdded(_str(item, "id"), _opt_str(d, "response_id"), _opt_str(item, "type"))


def _p_item_done(d: Mapping[str, Any], _w: int) -> ServerEvent | None:
    """Only function calls and MCP items matter here: the rest of an item came in its
    own events. This, not ``function_call_arguments.done``, is where a call is acted on,
    because only the item's status tells a completed call from one of a cancelled
    response."""
    item = _map(d, "item")
    if item.get("type") != "function_call":
        return _mcp_item(item, _opt_str(d, "response_id"), done=True)
    return FunctionCall(_str(d, "response_id"), _str(item, "id"), _str(item, "call_id"),
                        _str(item, "name"), _str(item, "arguments"), _str(item, "status"))


def _p_conversation_item(done: bool) -> _Parser:
    """``conversation.item.added`` / ``.done``: the MCP items (a list of tools, a call, a
    request for approval), which may come only this way; every other item is ignored."""
    def parse(d: Mapping[str, Any], _w: int) -> ServerEvent | None:
        return _mcp_item(_map(d, "item"), None, done=done)
    return parse


def _mcp_item(item: Mapping[str, Any], response_id: str | None,
              *, done: bool) -> ServerEvent | None:
    kind = item.get("type")
    if kind == "mcp_call":
        return McpCall(_str(item, "id"), _str(item, "server_label"), _str(item, "name"),
                       _opt_str(item, "arguments") or "", _opt_str(item, "output"),
                       _mcp_error(item.get("error")), response_id, done,
                       _opt_str(item, "approval_request_id"))
    if kind == "mcp_approval_request":
        return McpApprovalRequest(_str(item, "id"), _str(item, "server_label"),
                                  _str(item, "name"), _opt_str(item, "arguments") or "",
                                  response_id)
    if kind == "mcp_list_tools":
        tools = item.get("tools", [])
        if not isinstance(tools, list) or not all(
                isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools):
            raise ProtocolError("'tools' must be a list of objects with a name")
        return McpToolList(_opt_str(item, "id") or "", _str(item, "server_label"),
                           tuple(t["name"] for t in tools), done)
    return None


def _mcp_error(error: object) -> str | None:
    """A failed call's error as one line: its type, code (HTTP or JSON-RPC) and message."""
    if error is None:
        return None
    if not isinstance(error, dict):
        return str(error) if isinstance(error, str | int | float) else "error"
    head = " ".join(t for t in (_text(error, "type"), _text(error, "code")) if t)
    message = _text(error, "message") or ""
    return f"{head}: {message}" if head and message else head or message or "error"


def _p_mcp_progress(kind: type[McpListToolsStatus] | type[McpCallStatus],
                    status: Literal["in_progress", "completed", "failed"]) -> _Parser:
    def parse(d: Mapping[str, Any], _w: int) -> ServerEvent:
        return kind(_str(d, "item_id"), status)
    return parse


def _p_mcp_arguments_delta(d: Mapping[str, Any], _w: int) -> None:
    """Checked, then ignored: the whole arguments come in the item and in ``.done``."""
    _str(d, "item_id")
    _str(d, "delta")


def _p_mcp_arguments_done(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return McpCallArguments(_str(d, "response_id"), _str(d, "item_id"), _str(d, "arguments"))


def _p_audio_delta(d: Mapping[str, Any], width: int) -> ServerEvent:
    pcm = _unb64(_str(d, "delta"))
    if len(pcm) % width:
        raise ProtocolError(f"audio delta of {len(pcm)} bytes is not whole samples")
    return AudioDelta(_str(d, "response_id"), _str(d, "item_id"), pcm,
                      _int(d, "content_index", 0))


def _p_audio_done(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return AudioDone(_str(d, "response_id"), _str(d, "item_id"))


def _p_transcript_delta(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return TranscriptDelta(_str(d, "response_id"), _str(d, "item_id"), _str(d, "delta"))


def _p_transcript_done(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return TranscriptDone(_str(d, "response_id"), _str(d, "item_id"), _str(d, "transcript"))


def _p_input_done(d: Mapping[str, Any], _w: int) -> ServerEvent:
    return InputTranscriptCompleted(_str(d, "item_id"), _str(d, "transcript"))


def _p_input_failed(d: Mapping[str, Any], _w: int) -> ServerEvent:
    err = d.get("error")
    message = _text(err, "message") if isinstance(err, dict) else None
    return InputTranscriptFailed(_str(d, "item_id"), message or "")


def _p_rate_limits(d: Mapping[str, Any], _w: int) -> ServerEvent:
    items = d.get("rate_limits")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProtocolError("'rate_limits' must be a list of objects")
    return RateLimits(tuple(RateLimit(_str(i, "name"), _num(i, "limit"), _num(i, "remaining"),
                                      _num(i, "reset_seconds")) for i in items))


def _p_response_done(d: Mapping[str, Any], _w: int) -> ServerEvent:
    r = _map(d, "response")
    details = r.get("status_details")
    reason = None
    if isinstance(details, dict):
        reason = _text(details, "reason")
        err = details.get("error")
        if reason is None and isinstance(err, dict):
            reason = _text(err, "code") or _text(err, "type")
    return ResponseDone(_str(r, "id"), _str(r, "status"), reason)


_PARSERS: dict[str, _Parser] = {
    "session.created": _p_session_created,
    "session.updated": _p_session_updated,
    "error": _p_error,
    "input_audio_buffer.speech_started": _p_speech_started,
    "input_audio_buffer.speech_stopped": _p_speech_stopped,
    "input_audio_buffer.committed": _p_committed,
    "input_audio_buffer.cleared": _p_cleared,
    "response.created": _p_response_created,
    "response.output_item.added": _p_item_added,
    "response.output_item.done": _p_item_done,
    "response.output_audio.delta": _p_audio_delta,
    "response.audio.delta": _p_audio_delta,
    "response.output_audio.done": _p_audio_done,
    "response.audio.done": _p_audio_done,
    "response.output_audio_transcript.delta": _p_transcript_delta,
    "response.audio_transcript.delta": _p_transcript_delta,
    "response.output_audio_transcript.done": _p_transcript_done,
    "response.audio_transcript.done": _p_transcript_done,
    "conversation.item.input_audio_transcription.completed": _p_input_done,
    "conversation.item.input_audio_transcription.failed": _p_input_failed,
    "rate_limits.updated": _p_rate_limits,
    "response.done": _p_response_done,
    "conversation.item.added": _p_conversation_item(done=False),
    "conversation.item.done": _p_conversation_item(done=True),
    "mcp_list_tools.in_progress": _p_mcp_progress(McpListToolsStatus, "in_progress"),
    "mcp_list_tools.completed": _p_mcp_progress(McpListToolsStatus, "completed"),
    "mcp_list_tools.failed": _p_mcp_progress(McpListToolsStatus, "failed"),
    "response.mcp_call.in_progress": _p_mcp_progress(McpCallStatus, "in_progress"),
    "response.mcp_call.completed": _p_mcp_progress(McpCallStatus, "completed"),
    "response.mcp_call.failed": _p_mcp_progress(McpCallStatus, "failed"),
    "response.mcp_call_arguments.delta": _p_mcp_arguments_delta,
    "response.mcp_call_arguments.done": _p_mcp_arguments_done,
}

# Events that are part of the protocol but that edged has no use for: not "unknown".
_KNOWN_IGNORED = frozenset({
    "conversation.created", "conversation.item.created",
    "conversation.item.retrieved", "conversation.item.deleted",
    "conversation.item.truncated", "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.timeout_triggered",
    "response.content_part.added", "response.content_part.done",
    "response.text.delta", "response.text.done", "response.output_text.delta",
    "response.output_text.done", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "output_audio_buffer.started",
    "output_audio_buffer.stopped", "output_audio_buffer.cleared",
    "transcription_session.created", "transcription_session.updated",
})

_MAX_UNKNOWN_KINDS = 64  # a hostile server must not grow the counter without bound
_LOG_FIRST = 10
_LOG_EVERY = 100


class Decoder:
    """Server JSON → typed events. Never raises; counts what it could not use.

    Every message lands in exactly one counter: ``decoded`` (an event came out),
    ``ignored`` (known, but nothing for edged), ``unknown`` or ``malformed``."""

    def __init__(self, dialect: Wire = "ga", *, sample_width: int = 2) -> None:
        self.dialect: Wire = dialect
        self.sample_width = sample_width
        self.decoded = 0
        self.ignored = 0
        self.unknown = 0
        self.malformed = 0
        self.unknown_types: Counter[str] = Counter()

    def decode(self, text: str | bytes) -> ServerEvent | None:
        """The typed event, or None for an ignored, unknown or malformed message."""
        kind: object = None
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ProtocolError("an event must be a JSON object")
            kind = obj.get("type")
            parser = _PARSERS.get(kind) if isinstance(kind, str) else None
            if parser is None:
                if not isinstance(kind, str):
                    raise ProtocolError("an event needs a string 'type'")
                self._unknown(kind)
                return None
            event = parser(obj, self.sample_width)
            if event is None:
                self.ignored += 1
                return None
        except ProtocolError as exc:
            self._malformed(kind, str(exc))
            return None
        except (ValueError, RecursionError, TypeError) as exc:  # bad JSON or UTF-8
            self._malformed(kind, f"invalid JSON ({type(exc).__name__})")
            return None
        self.decoded += 1
        return event

    def _unknown(self, kind: str) -> None:
        if kind in _KNOWN_IGNORED:
            self.ignored += 1
            return
        self.unknown += 1
        if kind in self.unknown_types or len(self.unknown_types) < _MAX_UNKNOWN_KINDS:
            first = kind not in self.unknown_types
            self.unknown_types[kind] += 1
            if first:
                log.debug("ignoring server events of unknown type %.60r", kind)

    def _malformed(self, kind: object, reason: str) -> None:
        self.malformed += 1
        if self.malformed <= _LOG_FIRST or self.malformed % _LOG_EVERY == 0:
            what = f"{kind:.60}" if isinstance(kind, str) else "server event"
            log.warning("dropped a malformed %s: %s (%d dropped so far)",
                        what, reason, self.malformed)
