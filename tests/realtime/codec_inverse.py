"""The codec's mirror image, for the tests only: client JSON → typed events, typed
server events → JSON, in both dialects.

The daemon never needs them; the tests use them to show that a round trip through
both halves is lossless, so they live here rather than in the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from edged.config import ToolChoice
from edged.realtime.codec import (
    ProtocolError,
    Wire,
    _b64,
    _bool,
    _dumps,
    _int,
    _map,
    _num,
    _opt_str,
    _str,
    _unb64,
)
from edged.realtime.events import (
    PCM_RATE,
    AudioCleared,
    AudioCommitted,
    AudioDelta,
    AudioDone,
    AudioFormat,
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
    ItemTruncate,
    Modality,
    OutputItemAdded,
    RateLimits,
    ResponseCancel,
    ResponseCreate,
    ResponseCreated,
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

_GA_FORMAT_NAMES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def _turn_value(obj: Any) -> TurnDetection:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ProtocolError("'turn_detection' must be an object or null")
    kind = obj.get("type")
    if kind == "server_vad":
        return ServerVad(_num(obj, "threshold") if "threshold" in obj else 0.5,
                         _int(obj, "prefix_padding_ms", 300),
                         _int(obj, "silence_duration_ms", 500),
                         _bool(obj, "create_response", True),
                         _bool(obj, "interrupt_response", True))
    if kind == "semantic_vad":
        eagerness = obj.get("eagerness", "auto")
        if eagerness not in ("low", "medium", "high", "auto"):
            raise ProtocolError("'eagerness' must be low, medium, high or auto")
        return SemanticVad(eagerness, _bool(obj, "create_response", True),
                           _bool(obj, "interrupt_response", True))
    raise ProtocolError("'turn_detection.type' must be server_vad or semantic_vad")


def _transcription_value(obj: Any) -> Transcription | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ProtocolError("'transcription' must be an object or null")
    return Transcription(_str(obj, "model"), _opt_str(obj, "language"))


def _noise_value(obj: Any) -> Any:
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("type") not in ("near_field", "far_field"):
        raise ProtocolError("'noise_reduction' must be {type: near_field|far_field} or null")
    return obj["type"]


def _modalities(obj: Any, key: str) -> tuple[Modality, ...]:
    if not isinstance(obj, list) or not obj or any(m not in ("audio", "text") for m in obj):
        raise ProtocolError(f"'{key}' must be a list of 'audio'/'text'")
    return ("audio",) if "audio" in obj else ("text",)


def _tokens(obj: Any) -> int | Literal["inf"]:
    if obj == "inf" or (isinstance(obj, int) and not isinstance(obj, bool)):
        return cast("int | Literal['inf']", obj)
    raise ProtocolError("max output tokens must be an integer or 'inf'")


def _tools(obj: Any) -> tuple[ToolSpec, ...]:
    if not isinstance(obj, list) or not all(isinstance(t, dict) for t in obj):
        raise ProtocolError("'tools' must be a list of objects")
    if any(t.get("type") != "function" for t in obj):
        raise ProtocolError("only function tools are understood")
    return tuple(ToolSpec(_str(t, "name"), _str(t, "description"), _map(t, "parameters"))
                 for t in obj)


def _tool_choice(obj: Any) -> ToolChoice:
    if obj not in ("auto", "none", "required"):
        raise ProtocolError("'tool_choice' must be auto, none or required")
    return cast(ToolChoice, obj)


def _ga_format(obj: Any) -> AudioFormat:
    if not isinstance(obj, dict) or obj.get("type") not in _GA_FORMAT_NAMES:
        raise ProtocolError("audio format must be {type: audio/pcm|audio/pcmu|audio/pcma}")
    if obj["type"] == "audio/pcm" and obj.get("rate", PCM_RATE) != PCM_RATE:
        raise ProtocolError(f"audio/pcm rate must be {PCM_RATE}")
    return cast(AudioFormat, _GA_FORMAT_NAMES[obj["type"]])


def _beta_format(obj: Any) -> AudioFormat:
    if obj not in ("pcm16", "g711_ulaw", "g711_alaw"):
        raise ProtocolError("audio format must be pcm16, g711_ulaw or g711_alaw")
    return cast(AudioFormat, obj)


def session_value(obj: Mapping[str, Any], dialect: Wire) -> Session:
    """Parse a full ``session`` object as :func:`session_json` writes it."""
    if dialect == "ga":
        audio = _map(obj, "audio")
        ain, aout = _map(audio, "input"), _map(audio, "output")
        return Session(
            voice=_str(aout, "voice"),
            instructions=_str(obj, "instructions"),
            modalities=_modalities(obj.get("output_modalities"), "output_modalities"),
            input_format=_ga_format(ain.get("format")),
            output_format=_ga_format(aout.get("format")),
            turn_detection=_turn_value(ain.get("turn_detection")),
            transcription=_transcription_value(ain.get("transcription")),
            noise_reduction=_noise_value(ain.get("noise_reduction")),
            max_output_tokens=_tokens(obj.get("max_output_tokens")),
            speed=_num(aout, "speed"),
            tools=_tools(obj.get("tools")),
            tool_choice=_tool_choice(obj.get("tool_choice")),
        )
    return Session(
        voice=_str(obj, "voice"),
        instructions=_str(obj, "instructions"),
        modalities=_modalities(obj.get("modalities"), "modalities"),
        input_format=_beta_format(obj.get("input_audio_format")),
        output_format=_beta_format(obj.get("output_audio_format")),
        turn_detection=_turn_value(obj.get("turn_detection")),
        transcription=_transcription_value(obj.get("input_audio_transcription")),
        noise_reduction=_noise_value(obj.get("input_audio_noise_reduction")),
        max_output_tokens=_tokens(obj.get("max_response_output_tokens")),
        tools=_tools(obj.get("tools")),
        tool_choice=_tool_choice(obj.get("tool_choice")),
    )


def decode_client(text: str | bytes, dialect: Wire) -> ClientEvent:  # noqa: PLR0911 - one return per event type
    """Parse a client event (for servers and tests); raises ProtocolError."""
    obj = _loads(text)
    kind = obj.get("type")
    eid = _opt_str(obj, "event_id")
    if kind == "session.update":
        return SessionUpdate(session_value(_map(obj, "session"), dialect), eid)
    if kind == "input_audio_buffer.append":
        return InputAudioAppend(_unb64(_str(obj, "audio")), eid)
    if kind == "input_audio_buffer.commit":
        return InputAudioCommit(eid)
    if kind == "input_audio_buffer.clear":
        return InputAudioClear(eid)
    if kind == "response.create":
        return ResponseCreate(eid)
    if kind == "response.cancel":
        return ResponseCancel(_opt_str(obj, "response_id"), eid)
    if kind == "conversation.item.truncate":
        return ItemTruncate(_str(obj, "item_id"), _int(obj, "content_index"),
                            _int(obj, "audio_end_ms"), eid)
    if kind == "conversation.item.create":
        item = _map(obj, "item")
        if item.get("type") == "function_call_output":
            return FunctionCallOutput(_str(item, "call_id"), _str(item, "output"), eid)
        content = item.get("content")
        if (item.get("type") != "message" or item.get("role") != "user"
                or not isinstance(content, list) or len(content) != 1
                or not isinstance(content[0], dict) or content[0].get("type") != "input_text"):
            raise ProtocolError("only a function_call_output or a user message with one "
                                "input_text part is understood")
        return ItemCreateText(_str(content[0], "text"), eid)
    raise ProtocolError(f"unknown client event type {str(kind)[:60]!r}")


def _loads(text: str | bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8
        raise ProtocolError(f"invalid JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("an event must be a JSON object")
    return obj


def encode_server(event: ServerEvent, dialect: Wire) -> str:  # noqa: PLR0912 - one branch per event type
    """A server event as JSON in the given dialect (for loopback servers and tests)."""
    ga = dialect == "ga"
    obj: dict[str, Any]
    if isinstance(event, SessionCreated | SessionUpdated):
        kind = "session.created" if isinstance(event, SessionCreated) else "session.updated"
        session = dict(event.raw)
        if event.session_id is not None:
            session["id"] = event.session_id
        obj = {"type": kind, "session": session}
    elif isinstance(event, ErrorEvent):
        obj = {"type": "error", "error": {"type": event.type, "code": event.code,
                                          "message": event.message, "param": event.param,
                                          "event_id": event.event_id}}
    elif isinstance(event, SpeechStarted):
        obj = {"type": "input_audio_buffer.speech_started",
               "audio_start_ms": event.audio_start_ms, "item_id": event.item_id}
    elif isinstance(event, SpeechStopped):
        obj = {"type": "input_audio_buffer.speech_stopped",
               "audio_end_ms": event.audio_end_ms, "item_id": event.item_id}
    elif isinstance(event, AudioCommitted):
        obj = {"type": "input_audio_buffer.committed", "item_id": event.item_id}
    elif isinstance(event, AudioCleared):
        obj = {"type": "input_audio_buffer.cleared"}
    elif isinstance(event, ResponseCreated):
        obj = {"type": "response.created",
               "response": {"id": event.response_id, "status": "in_progress"}}
    elif isinstance(event, OutputItemAdded):
        item: dict[str, Any] = {"id": event.item_id}
        if event.item_type is not None:
            item["type"] = event.item_type
        if event.item_type == "message":
            item["role"] = "assistant"
        obj = {"type": "response.output_item.added", "response_id": event.response_id,
               "output_index": 0, "item": item}
    elif isinstance(event, FunctionCall):
        obj = {"type": "response.output_item.done", "response_id": event.response_id,
               "output_index": 0, "item": {
                   "id": event.item_id, "object": "realtime.item", "type": "function_call",
                   "status": event.status, "name": event.name, "call_id": event.call_id,
                   "arguments": event.arguments}}
    elif isinstance(event, AudioDelta):
        obj = {"type": "response.output_audio.delta" if ga else "response.audio.delta",
               "response_id": event.response_id, "item_id": event.item_id,
               "output_index": 0, "content_index": event.content_index,
               "delta": _b64(event.pcm).decode("ascii")}
    elif isinstance(event, AudioDone):
        obj = {"type": "response.output_audio.done" if ga else "response.audio.done",
               "response_id": event.response_id, "item_id": event.item_id}
    elif isinstance(event, TranscriptDelta):
        kind = ("response.output_audio_transcript.delta" if ga
                else "response.audio_transcript.delta")
        obj = {"type": kind, "response_id": event.response_id, "item_id": event.item_id,
               "delta": event.text}
    elif isinstance(event, TranscriptDone):
        kind = ("response.output_audio_transcript.done" if ga
                else "response.audio_transcript.done")
        obj = {"type": kind, "response_id": event.response_id, "item_id": event.item_id,
               "transcript": event.transcript}
    elif isinstance(event, InputTranscriptCompleted):
        obj = {"type": "conversation.item.input_audio_transcription.completed",
               "item_id": event.item_id, "content_index": 0, "transcript": event.transcript}
    elif isinstance(event, InputTranscriptFailed):
        obj = {"type": "conversation.item.input_audio_transcription.failed",
               "item_id": event.item_id, "error": {"message": event.message}}
    elif isinstance(event, RateLimits):
        obj = {"type": "rate_limits.updated", "rate_limits": [
            {"name": r.name, "limit": r.limit, "remaining": r.remaining,
             "reset_seconds": r.reset_seconds} for r in event.limits]}
    else:
        details = None if event.reason is None else {"type": event.status,
                                                     "reason": event.reason}
        obj = {"type": "response.done", "response": {
            "id": event.response_id, "status": event.status, "status_details": details}}
    return _dumps(obj)
