"""One simulated realtime session, sans I/O: client events in, server events out.

The shell feeds it parsed client events and, while an answer is active, asks
for one chunk at a time (``begin_output`` then ``step``) at the pace it
chooses. No clock here: voice activity is measured in audio time. A response
taken from the script queue (``scripts``) makes its MCP calls (GA), then speaks its
preface, if any, then sends its function calls, one per step. An MCP call that asks
for approval holds the response (``waiting``) until the client answers.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edged.simulator import protocol
from edged.simulator.audio import (
    BYTES_PER_MS,
    AnswerKind,
    EnergyVad,
    rms_threshold,
    speech_like_tone,
)
from edged.simulator.protocol import ClientError, Dialect, Event
from edged.simulator.script import (
    McpApproval,
    McpCallSent,
    ScriptedMcpCall,
    ScriptedResponse,
    ToolCall,
    ToolOutput,
)

MIN_COMMIT_MS = 100
DEFAULT_MCP_TOOLS = ("lookup",)  # what a server lists when nothing else is said
# The real servers' code (and param: none) for an output whose call_id names no call.
UNKNOWN_CALL_CODE = "invalid_tool_call_id"
CancelReason = Literal["client_cancelled", "turn_detected"]
# error.type for codes whose real errors are not invalid_request_error
_ERROR_TYPES = {"server_error": "server_error", "insufficient_quota": "insufficient_quota",
                "rate_limit_exceeded": "tokens"}

_TRANSCRIPTS: dict[str, str] = {
    "tone": "This is the edged simulator answering with a speech-like tone.",
    "silence": "(silence)",
}


@dataclass(slots=True)
class Answer:
    """One response: its audio, how much of it went out, and how it ended."""

    connection: int
    response_id: str
    item_id: str
    audio: bytes
    transcript: str
    sent: int = 0  # bytes of audio sent as deltas
    status: str = "in_progress"  # → completed | cancelled | failed | incomplete
    reason: str | None = None
    output_started: bool = False
    truncated_ms: int | None = None
    script: ScriptedResponse | None = None
    calls: list[ToolCall] = field(default_factory=list)  # function calls sent, in order
    message_done: bool = False  # the audio item's output_item.done went out
    held: bool = False  # the script's hold_s before response.done is over
    mcp: tuple[ScriptedMcpCall, ...] = ()  # the script's MCP calls (none on beta)
    mcp_done: int = 0  # MCP calls finished (made, or refused by the client)
    mcp_items: list[Event] = field(default_factory=list)  # MCP output items, as they ended
    asked: str | None = None  # the approval request of the MCP call under way
    waiting: bool = False  # held until the client answers ``asked``
    decisions: dict[str, bool] = field(default_factory=dict)  # request id → approved
    message_index: int = 0  # the audio item's output_index (after the MCP items)
    _words_sent: int = field(default=0, repr=False)

    @property
    def sent_audio(self) -> bytes:
        return self.audio[: self.sent]

    @property
    def duration_ms(self) -> int:
        return len(self.audio) // BYTES_PER_MS

    @property
    def calls_left(self) -> int:
        return len(self.script.calls) - len(self.calls) if self.script else 0

    @property
    def mcp_left(self) -> int:
        return len(self.mcp) - self.mcp_done

    @property
    def holding(self) -> bool:
        """The script holds response.done back and the hold has not happened yet."""
        return self.script is not None and self.script.hold_s > 0 and not self.held


def error_type(code: str) -> str:
    """``error.type`` as real servers pair it with ``code``."""
    return _ERROR_TYPES.get(code, "invalid_request_error")


class SessionCore:
    """Protocol state of one connection: session, input buffer, VAD, the active answer."""

    def __init__(self, dialect: Dialect, answer: AnswerKind, *, tone: bytes,
                 connection: int = 1, chunk_ms: int = 100, model: str = "gpt-realtime",
                 scripts: deque[ScriptedResponse] | None = None,
                 tool_calls: list[ToolCall] | None = None,
                 tool_outputs: list[ToolOutput] | None = None,
                 mcp_tools: Mapping[str, Sequence[str] | None] | None = None,
                 mcp_calls: list[McpCallSent] | None = None,
                 mcp_approvals: list[McpApproval] | None = None) -> None:
        """``scripts`` and the records (``tool_calls``, ``tool_outputs``, ``mcp_calls``,
        ``mcp_approvals``) may be shared between connections (the server's queue and
        records); by default each core has its own. ``mcp_tools``: what each MCP server
        (by label) lists; None fails the listing; a label not there lists the entry's
        ``allowed_tools``, else ``DEFAULT_MCP_TOOLS``."""
        if not 10 <= chunk_ms <= 1000:
            raise ValueError(f"chunk_ms must be 10–1000, got {chunk_ms}")
        self.dialect = dialect
        self.names = protocol.NAMES[dialect]
        self.answer_kind = answer
        self.chunk_bytes = chunk_ms * BYTES_PER_MS
        self.connection = connection
        self._tone = tone
        self._serial = itertools.count(1)
        self._event_ids = itertools.count(1)
        self.session = protocol.default_session(dialect, self._id("sess"), model)
        self.buffer = bytearray()
        self.buffer_start = 0  # absolute input offset of buffer[0]
        self.input_total = 0  # bytes of input audio appended in this session
        self.vad: EnergyVad | None = None
        self.vad_settings: protocol.VadSettings | None = None
        self._speech_item: str | None = None
        self.last_item: str | None = None
        self.last_utterance = b""
        self.response: Answer | None = None
        self.answers: list[Answer] = []
        self.items: dict[str, Answer] = {}
        self.user_items: set[str] = set()
        self.responses_done = 0
        self.scripts: deque[ScriptedResponse] = deque() if scripts is None else scripts
        self.tool_calls: list[ToolCall] = [] if tool_calls is None else tool_calls
        self.tool_outputs: list[ToolOutput] = [] if tool_outputs is None else tool_outputs
        self.call_ids: set[str] = set()  # every call_id sent on this connection
        self.mcp_tools: Mapping[str, Sequence[str] | None] = mcp_tools or {}
        self.mcp_calls: list[McpCallSent] = [] if mcp_calls is None else mcp_calls
        self.mcp_approvals: list[McpApproval] = [] if mcp_approvals is None else mcp_approvals
        self.mcp_listed: dict[str, Event] = {}  # label → the session entry last listed
        self.approval_ids: set[str] = set()  # approval requests sent on this connection
        self._apply_turn_detection()

    # ------------------------------------------------------------------ helpers

    def _id(self, prefix: str) -> str:
        return f"{prefix}_sim{self.connection}x{next(self._serial):04d}"

    def _ev(self, type_: str, **fields: Any) -> Event:
        return {"type": type_, "event_id": f"event_sim{next(self._event_ids)}", **fields}

    def error(self, code: str, message: str, param: str | None = None,
              event_id: str | None = None, type_: str = "invalid_request_error") -> Event:
        return self._ev("error", error={"type": type_, "code": code, "message": message,
                                        "param": param, "event_id": event_id})

    def key_quoting_error(self, key: str | None) -> Event:
        """An invalid_api_key error quoting ``key`` whole and without its first 3 characters
        (OpenAI's own message quotes it masked; a careless or hostile server may not)."""
        shown = key or "(none)"
        return self.error("invalid_api_key", f"Incorrect API key provided: {shown} (read as "
                          f"{shown[3:]}). You can find your API key in your account settings.")

    def coded_error(self, code: str, event_id: str | None = None) -> Event:
        """An error naming ``code`` (the reject and errorthenclose faults)."""
        return self.error(code, f"The request was refused: {code}.", None, event_id,
                          error_type(code))

    def expired_error(self) -> Event:
        return self.error("session_expired", "Your session hit the maximum duration of "
                          "60 minutes.")

    def padded_event(self, size: int) -> str:
        """A valid event that clients ignore (an input transcription delta), padded to
        ``size`` bytes of JSON text."""
        event = self._ev("conversation.item.input_audio_transcription.delta",
                         item_id=self.last_item or self._id("item"), content_index=0,
                         delta="")
        bare = json.dumps(event, separators=(",", ":"))
        event["delta"] = "a" * max(0, size - len(bare))
        return json.dumps(event, separators=(",", ":"))

    def bad_utf8_frame(self) -> bytes:
        """A server_error event whose message holds a byte UTF-8 never uses (0xFF)."""
        text = json.dumps(self.error("server_error", "The server failed on byte @ here.",
                                     type_="server_error"), separators=(",", ":"))
        return text.encode("ascii").replace(b"@", b"\xff")

    def surrogate_error(self) -> Event:
        """A server_error whose message holds a lone UTF-16 surrogate: JSON can carry it
        (as an escape), UTF-8 cannot."""
        return self.error("server_error", "The server failed on character \ud800 here.",
                          type_="server_error")

    def _apply_turn_detection(self) -> None:
        settings = protocol.vad_settings(protocol.turn_detection_of(self.dialect, self.session))
        self.vad_settings = settings
        if settings is None:
            self.vad = None
            return
        level = rms_threshold(settings.threshold)
        if self.vad is None:
            self.vad = EnergyVad(level, settings.silence_duration_ms, position=self.input_total)
        else:
            self.vad.level, self.vad.silence_ms = level, settings.silence_duration_ms

    # ------------------------------------------------------------------ events in

    def open(self) -> list[Event]:
        return [self._ev("session.created", session=self.session)]

    def not_json(self, detail: str) -> list[Event]:
        return [self.error("invalid_json", f"The server could not parse the event: {detail}.")]

    def receive(self, event: Mapping[str, Any]) -> list[Event]:
        """Handle one client event; errors become ``error`` events, never exceptions."""
        event_id = event.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        kind = event.get("type")
        try:
            if not isinstance(kind, str):
                raise ClientError("missing_required_parameter",
                                  "Missing required parameter: 'type'.", "type")
            handler = {
                "session.update": self._session_update,
                "input_audio_buffer.append": self._append,
                "input_audio_buffer.commit": self._commit,
                "input_audio_buffer.clear": self._clear,
                "response.create": self._response_create,
                "response.cancel": self._response_cancel,
                "conversation.item.truncate": self._truncate,
                "conversation.item.create": self._item_create,
            }.get(kind)
            if handler is None:
                if kind in protocol.UNSUPPORTED_EVENTS:
                    raise ClientError("unsupported_by_simulator",
                                      f"The simulator does not implement '{kind}'.", "type")
                raise ClientError("invalid_value", f"Invalid value: '{kind}'. Supported values "
                                  "are the realtime client event types.", "type")
            return handler(event)
        except ClientError as exc:
            return [self.error(exc.code, exc.message, exc.param, event_id)]

    def _session_update(self, event: Mapping[str, Any]) -> list[Event]:
        voice_locked = any(a.sent for a in self.answers)
        self.session = protocol.merge_session(self.dialect, self.session, event.get("session"),
                                              voice_locked)
        self._apply_turn_detection()
        return [self._ev("session.updated", session=_without_tokens(self.session)),
                *self._list_mcp_tools()]

    def _list_mcp_tools(self) -> list[Event]:
        """Each MCP server new to the session (or changed) lists its tools, as the API
        does once it has connected to the server: the list item added, in progress,
        completed (and the item done with the tools) or failed."""
        entries = [t for t in self.session.get("tools") or [] if isinstance(t, Mapping)
                   and t.get("type") == "mcp"] if self.dialect == "ga" else []
        out: list[Event] = []
        for entry in entries:
            label = entry["server_label"]
            if self.mcp_listed.get(label) == entry:
                continue
            self.mcp_listed[label] = dict(entry)
            names = (self.mcp_tools[label] if label in self.mcp_tools
                     else entry.get("allowed_tools") or DEFAULT_MCP_TOOLS)
            item_id = self._id("mcpl")
            item: Event = {"id": item_id, "type": "mcp_list_tools", "server_label": label,
                           "tools": []}
            previous, self.last_item = self.last_item, item_id
            out += [self._ev("conversation.item.added", previous_item_id=previous, item=item),
                    self._ev("mcp_list_tools.in_progress", item_id=item_id)]
            if names is None:
                out.append(self._ev("mcp_list_tools.failed", item_id=item_id))
                continue
            tools = [{"name": n, "description": f"The {n} tool of {label}.",
                      "input_schema": {"type": "object", "properties": {}}} for n in names]
            out += [self._ev("mcp_list_tools.completed", item_id=item_id),
                    self._ev("conversation.item.done", previous_item_id=previous,
                             item={**item, "tools": tools})]
        return out

    def _append(self, event: Mapping[str, Any]) -> list[Event]:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'audio'.", "audio")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientError("invalid_value", "Invalid 'audio': not valid base64.",
                              "audio") from None
        if len(pcm) % 2:
            raise ClientError("invalid_value", "Invalid 'audio': PCM16 needs an even number "
                              "of bytes.", "audio")
        self.buffer += pcm
        self.input_total += len(pcm)
        out: list[Event] = []
        if self.vad is not None:
            for edge in self.vad.feed(pcm):
                out += self._speech_started(edge.offset) if edge.kind == "start" \
                    else self._speech_stopped(edge.offset)
        return out

    def _speech_started(self, offset: int) -> list[Event]:
        assert self.vad_settings is not None
        keep_from = max(self.buffer_start, offset - self.vad_settings.prefix_padding_ms
                        * BYTES_PER_MS)
        del self.buffer[: keep_from - self.buffer_start]
        self.buffer_start = keep_from
        self._speech_item = self._id("item")
        out = [self._ev("input_audio_buffer.speech_started",
                        audio_start_ms=offset // BYTES_PER_MS, item_id=self._speech_item)]
        if self.response is not None and self.vad_settings.interrupt_response:
            out += self.cancel("turn_detected")
        return out

    def _speech_stopped(self, offset: int) -> list[Event]:
        assert self.vad_settings is not None
        item = self._speech_item or self._id("item")
        out = [self._ev("input_audio_buffer.speech_stopped", audio_end_ms=offset // BYTES_PER_MS,
                        item_id=item)]
        detected_at = offset + self.vad_settings.silence_duration_ms * BYTES_PER_MS
        out += self._commit_buffer(item, upto=detected_at)
        if self.vad_settings.create_response and self.response is None:
            out += self._start_response()
        return out

    def _commit(self, event: Mapping[str, Any]) -> list[Event]:
        have_ms = len(self.buffer) // BYTES_PER_MS
        if have_ms < MIN_COMMIT_MS:
            raise ClientError("input_audio_buffer_commit_empty",
                              "Error committing input audio buffer: buffer too small. Expected "
                              f"at least {MIN_COMMIT_MS}ms of audio, but buffer only has "
                              f"{have_ms:.2f}ms of audio.")
        item = self._speech_item or self._id("item")
        if self.vad is not None:
            self.vad.reset()
        return self._commit_buffer(item)

    def _commit_buffer(self, item: str, upto: int | None = None) -> list[Event]:
        """Commit the buffer, or (VAD) its part before absolute offset ``upto``."""
        cut = len(self.buffer) if upto is None else max(0, upto - self.buffer_start)
        self.last_utterance = bytes(self.buffer[:cut])
        del self.buffer[:cut]
        self.buffer_start += cut
        self._speech_item = None
        previous, self.last_item = self.last_item, item
        self.user_items.add(item)
        user_item = {"id": item, "object": "realtime.item", "type": "message", "role": "user",
                     "status": "completed", "content": [{"type": "input_audio",
                                                         "transcript": None}]}
        out = [self._ev("input_audio_buffer.committed", previous_item_id=previous, item_id=item),
               self._ev(self.names.item_added, previous_item_id=previous, item=user_item)]
        if protocol.transcription_on(self.dialect, self.session):
            ms = len(self.last_utterance) // BYTES_PER_MS
            audio_tokens = ms // 100 + 1  # the usage the event must carry (billed apart)
            out.append(self._ev("conversation.item.input_audio_transcription.completed",
                                item_id=item, content_index=0,
                                transcript=f"({ms} ms of audio)", usage={
                                    "type": "tokens", "input_tokens": audio_tokens,
                                    "output_tokens": 5, "total_tokens": audio_tokens + 5,
                                    "input_token_details": {"audio_tokens": audio_tokens,
                                                            "text_tokens": 0}}))
        return out

    def _item_create(self, event: Mapping[str, Any]) -> list[Event]:
        """A typed user message: it becomes the turn the next response answers (with
        the tone, since there is no audio to echo). Or a function call's output."""
        item = event.get("item")
        if not isinstance(item, Mapping):
            raise ClientError("missing_required_parameter", "Missing required parameter: "
                              "'item'.", "item")
        if item.get("type") == "function_call_output":
            return self._tool_output(item)
        if item.get("type") == "mcp_approval_response" and self.dialect == "ga":
            return self._approval(item)
        if item.get("type") != "message" or item.get("role") != "user":
            raise ClientError("unsupported_by_simulator", "The simulator only takes user "
                              "messages in conversation.item.create.", "item.type")
        content = item.get("content")
        parts = [p for p in content if isinstance(p, Mapping)
                 and p.get("type") == "input_text"] if isinstance(content, list) else []
        texts = [p["text"] for p in parts if isinstance(p.get("text"), str)]
        if not texts or len(texts) != len(parts):
            raise ClientError("invalid_value", "'item.content' must hold input_text parts "
                              "with their text.", "item.content")
        given = item.get("id")
        item_id = given if isinstance(given, str) else self._id("item")
        previous, self.last_item = self.last_item, item_id
        self.user_items.add(item_id)
        self.last_utterance = b""  # what is answered now is the text
        user_item = {"id": item_id, "object": "realtime.item", "type": "message",
                     "role": "user", "status": "completed",
                     "content": [{"type": "input_text", "text": " ".join(texts)}]}
        return [self._ev(self.names.item_added, previous_item_id=previous, item=user_item)]

    def _tool_output(self, item: Mapping[str, Any]) -> list[Event]:
        """Record the output; refuse it, as real servers do, unless its call_id names a
        function call sent on this connection. The next response answers with the tone."""
        fields: dict[str, str] = {}
        for key in ("call_id", "output"):
            value = item.get(key)
            if value is None:
                raise ClientError("missing_required_parameter", "Missing required parameter: "
                                  f"'item.{key}'.", f"item.{key}")
            if not isinstance(value, str):
                raise ClientError("invalid_type", f"Invalid type for 'item.{key}': expected a "
                                  "string.", f"item.{key}")
            fields[key] = value
        call_id, output = fields["call_id"], fields["output"]
        known = call_id in self.call_ids
        self.tool_outputs.append(ToolOutput(self.connection, call_id, output, known))
        if not known:
            raise ClientError(UNKNOWN_CALL_CODE,
                              f"Tool call ID '{call_id}' not found in conversation.")
        given = item.get("id")
        item_id = given if isinstance(given, str) else self._id("item")
        previous, self.last_item = self.last_item, item_id
        self.last_utterance = b""  # nothing to echo: the answer is about the output
        created = {"id": item_id, "object": "realtime.item", "type": "function_call_output",
                   "call_id": call_id, "output": output, "status": "completed"}
        return [self._ev(self.names.item_added, previous_item_id=previous, item=created)]

    def _approval(self, item: Mapping[str, Any]) -> list[Event]:
        """Record the client's answer to an approval request; refuse it unless it names a
        request sent on this connection. The response waiting for it goes on."""
        request, approve, reason = (item.get("approval_request_id"), item.get("approve"),
                                    item.get("reason"))
        for key, ok, what in (("approval_request_id", isinstance(request, str), "a string"),
                              ("approve", isinstance(approve, bool), "a boolean"),
                              ("reason", reason is None or isinstance(reason, str),
                               "a string")):
            if not ok:
                raise ClientError("invalid_type", f"Invalid type for 'item.{key}': expected "
                                  f"{what}.", f"item.{key}")
        assert isinstance(request, str) and isinstance(approve, bool)
        known = request in self.approval_ids
        self.mcp_approvals.append(McpApproval(self.connection, request, approve,
                                              reason if isinstance(reason, str) else None,
                                              known))
        if not known:
            raise ClientError("invalid_value", f"Approval request '{request}' not found in "
                              "conversation.", "item.approval_request_id")
        answer = self.response
        if answer is not None and answer.asked == request:
            answer.decisions[request] = approve
            answer.waiting = False
        given = item.get("id")
        item_id = given if isinstance(given, str) else self._id("item")
        previous, self.last_item = self.last_item, item_id
        created: Event = {"id": item_id, "type": "mcp_approval_response",
                          "approval_request_id": request, "approve": approve}
        if isinstance(reason, str):
            created["reason"] = reason
        return [self._ev(self.names.item_added, previous_item_id=previous, item=created)]

    def _clear(self, event: Mapping[str, Any]) -> list[Event]:
        self.buffer.clear()
        self.buffer_start = self.input_total
        self._speech_item = None
        if self.vad is not None:
            self.vad.reset()
        return [self._ev("input_audio_buffer.cleared")]

    def _response_create(self, event: Mapping[str, Any]) -> list[Event]:
        if self.response is not None:
            raise ClientError("conversation_already_has_active_response",
                              "Conversation already has an active response in progress: "
                              f"{self.response.response_id}. Wait until the response is "
                              "finished before creating a new one.")
        return self._start_response()

    def _start_response(self) -> list[Event]:
        script = self.scripts.popleft() if self.scripts else None
        if script is not None:
            return self._start_scripted(script)
        if self.answer_kind == "echo" and self.last_utterance:
            audio = self.last_utterance
            text = f"(echo of {len(audio) // BYTES_PER_MS} ms of your audio)"
        elif self.answer_kind == "silence":
            audio, text = bytes(len(self._tone)), _TRANSCRIPTS["silence"]
        else:  # tone, or echo with nothing said yet
            audio, text = self._tone, _TRANSCRIPTS["tone"]
        return self._begin(Answer(self.connection, self._id("resp"), self._id("item"), audio,
                                  text))

    def _start_scripted(self, script: ScriptedResponse) -> list[Event]:
        """A response from the script: its preface audio (tone, or silence for silent
        answers), then its calls."""
        if not script.speak_ms:
            audio = b""
        elif self.answer_kind == "silence":
            audio = bytes(script.speak_ms * BYTES_PER_MS)
        else:
            audio = speech_like_tone(script.speak_ms / 1000)
        return self._begin(Answer(self.connection, self._id("resp"), self._id("item"), audio,
                                  script.transcript if audio else "", script=script,
                                  mcp=script.mcp if self.dialect == "ga" else ()))

    def _begin(self, answer: Answer) -> list[Event]:
        self.response = answer
        self.answers.append(answer)
        if answer.audio:
            self.items[answer.item_id] = answer
        return [self._ev("response.created", response=self._response_body(answer))]

    def _response_cancel(self, event: Mapping[str, Any]) -> list[Event]:
        if self.response is None:
            raise ClientError("response_cancel_not_active",
                              "Cancellation failed: no active response found.")
        return self.cancel("client_cancelled")

    def _truncate(self, event: Mapping[str, Any]) -> list[Event]:
        item_id = event.get("item_id")
        end_ms = event.get("audio_end_ms")
        if not isinstance(item_id, str):
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'item_id'.", "item_id")
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            raise ClientError("invalid_value", "'audio_end_ms' must be an integer ≥ 0.",
                              "audio_end_ms")
        if event.get("content_index", 0) != 0:
            raise ClientError("invalid_value", "'content_index' must be 0.", "content_index")
        answer = self.items.get(item_id)
        if answer is None:
            if item_id in self.user_items:
                raise ClientError("invalid_value", "Only assistant messages can be truncated.",
                                  "item_id")
            raise ClientError("item_truncate_invalid_item_id",
                              f"Item with item_id not found: {item_id}.", "item_id")
        sent_ms = -(-answer.sent // BYTES_PER_MS)  # round up: a partial ms was still sent
        if end_ms > sent_ms:
            raise ClientError("invalid_value", f"audio_end_ms {end_ms} is beyond the audio "
                              f"sent for this item ({sent_ms} ms).", "audio_end_ms")
        answer.truncated_ms = end_ms
        return [self._ev("conversation.item.truncated", item_id=item_id, content_index=0,
                         audio_end_ms=end_ms)]

    # ------------------------------------------------------------------ answer out

    def _response_body(self, answer: Answer, output: list[Event] | None = None,
                       details: Event | None = None) -> Event:
        body: Event = {"object": "realtime.response", "id": answer.response_id,
                       "status": answer.status, "status_details": details,
                       "output": output or [], "usage": None}
        if self.dialect == "ga":
            body["output_modalities"] = ["audio"]
        else:
            body["modalities"] = ["audio", "text"]
        if answer.status != "in_progress":
            out_tokens = answer.sent // BYTES_PER_MS // 50 + 1 + sum(
                len(c.arguments) // 4 for c in answer.calls)
            body["usage"] = {"total_tokens": out_tokens + 10, "input_tokens": 10,
                             "output_tokens": out_tokens}
        return body

    def _item(self, answer: Answer, status: str) -> Event:
        content = [{"type": self.names.item_part_type, "transcript": answer.transcript}] \
            if status != "in_progress" else []
        return {"id": answer.item_id, "object": "realtime.item", "type": "message",
                "role": "assistant", "status": status, "content": content}

    def _where(self, answer: Answer) -> Event:
        return {"response_id": answer.response_id, "item_id": answer.item_id,
                "output_index": answer.message_index, "content_index": 0}

    def begin_output(self) -> list[Event]:
        """The assistant item and its audio part (sent before the first delta, once the
        MCP calls, which come first, are over)."""
        answer = self.response
        if answer is None or answer.output_started or not answer.audio or answer.mcp_left:
            return []
        answer.output_started = True
        answer.message_index = len(answer.mcp_items)
        previous, self.last_item = self.last_item, answer.item_id
        return [
            self._ev("response.output_item.added", response_id=answer.response_id,
                     output_index=answer.message_index,
                     item=self._item(answer, "in_progress")),
            self._ev(self.names.item_added, previous_item_id=previous,
                     item=self._item(answer, "in_progress")),
            self._ev("response.content_part.added", **self._where(answer),
                     part={"type": self.names.part_type, "transcript": ""}),
        ]

    def chunks_left(self) -> int:
        """Steps of output still to send: MCP calls, audio chunks, then scripted calls (one
        each)."""
        answer = self.response
        if answer is None:
            return 0
        return (answer.mcp_left + -(-(len(answer.audio) - answer.sent) // self.chunk_bytes)
                + answer.calls_left)

    def awaiting_approval(self) -> bool:
        """The active response holds until the client answers its approval request."""
        return self.response is not None and self.response.waiting

    def step(self) -> tuple[list[Event], bool]:
        """The next MCP call, audio chunk (and its share of the transcript), or scripted
        call; response.done with the last, unless a scripted hold is still due. True once
        finished. Nothing while an approval is awaited."""
        answer = self.response
        if answer is None:
            return [], True
        if answer.waiting:
            return [], False
        out = self.begin_output()
        if answer.mcp_left:
            out += self._mcp_step(answer)
        elif answer.audio and not answer.message_done:
            out += self._audio_step(answer)
        elif answer.calls_left:
            out += self._call_events(answer)
        if self.chunks_left() or answer.holding:
            return out, False
        status, reason = answer.script.ending if answer.script else ("completed", None)
        answer.status, answer.reason = status, reason
        return out + self._finish(answer, self._output(answer), _details(status, reason)), True

    def _audio_step(self, answer: Answer) -> list[Event]:
        out: list[Event] = []
        chunk = answer.audio[answer.sent : answer.sent + self.chunk_bytes]
        if chunk:
            answer.sent += len(chunk)
            out.append(self._ev(self.names.audio_delta, **self._where(answer),
                                delta=base64.b64encode(chunk).decode("ascii")))
        words = answer.transcript.split(" ")
        last = answer.sent >= len(answer.audio)
        upto = len(words) if last else min(len(words), answer._words_sent + 1)
        if upto > answer._words_sent:
            text = " ".join(words[answer._words_sent : upto])
            prefix = " " if answer._words_sent else ""
            answer._words_sent = upto
            out.append(self._ev(self.names.transcript_delta, **self._where(answer),
                                delta=prefix + text))
        if not last:
            return out
        answer.message_done = True
        ids = self._where(answer)
        part = {"type": self.names.part_type, "transcript": answer.transcript}
        out += [
            self._ev(self.names.audio_done, **ids),
            self._ev(self.names.transcript_done, **ids, transcript=answer.transcript),
            self._ev("response.content_part.done", **ids, part=part),
            self._ev("response.output_item.done", response_id=answer.response_id,
                     output_index=answer.message_index, item=self._item(answer, "completed")),
        ]
        return out

    def _mcp_step(self, answer: Answer) -> list[Event]:
        """The next scripted MCP call: its approval request (then the response waits), or
        the call itself, once approved (a denied call is never made)."""
        scripted = answer.mcp[answer.mcp_done]
        if scripted.ask and answer.asked is None:
            return self._approval_request(answer, scripted)
        request, answer.asked = answer.asked, None
        answer.mcp_done += 1
        if request is not None and not answer.decisions.get(request, False):
            return []
        return self._mcp_call(answer, scripted, request)

    def _approval_request(self, answer: Answer, scripted: ScriptedMcpCall) -> list[Event]:
        request = self._id("mcpr")
        answer.asked, answer.waiting = request, True
        self.approval_ids.add(request)
        item: Event = {"id": request, "type": "mcp_approval_request",
                       "server_label": scripted.server_label, "name": scripted.name,
                       "arguments": scripted.arguments}
        index = len(answer.mcp_items)
        answer.mcp_items.append(item)
        previous, self.last_item = self.last_item, request
        return [
            self._ev("response.output_item.added", response_id=answer.response_id,
                     output_index=index, item=item),
            self._ev("conversation.item.added", previous_item_id=previous, item=item),
            self._ev("response.output_item.done", response_id=answer.response_id,
                     output_index=index, item=item),
            self._ev("conversation.item.done", previous_item_id=previous, item=item),
        ]

    def _mcp_call(self, answer: Answer, scripted: ScriptedMcpCall,
                  request: str | None) -> list[Event]:
        """One call, whole: the item added, the arguments in deltas and done, in progress,
        completed or failed, the item done (with the output, or the error)."""
        item_id = self._id("mcp")
        index = len(answer.mcp_items)
        started: Event = {"id": item_id, "type": "mcp_call",
                          "server_label": scripted.server_label, "name": scripted.name,
                          "arguments": ""}
        if request is not None:
            started["approval_request_id"] = request
        failed = scripted.error is not None
        ended: Event = {**started, "arguments": scripted.arguments,
                        "output": None if failed else scripted.output,
                        "error": {"type": "tool_execution_error", "message": scripted.error}
                        if failed else None}
        answer.mcp_items.append(ended)
        self.mcp_calls.append(McpCallSent(self.connection, answer.response_id, item_id,
                                          scripted.server_label, scripted.name,
                                          scripted.arguments,
                                          "failed" if failed else "completed", request))
        previous, self.last_item = self.last_item, item_id
        where = {"item_id": item_id, "output_index": index}
        size = answer.script.delta_chars if answer.script else 16
        return [
            self._ev("response.output_item.added", response_id=answer.response_id,
                     output_index=index, item=started),
            self._ev("conversation.item.added", previous_item_id=previous, item=started),
            *(self._ev("response.mcp_call_arguments.delta", response_id=answer.response_id,
                       **where, delta=scripted.arguments[i : i + size])
              for i in range(0, len(scripted.arguments), size)),
            self._ev("response.mcp_call_arguments.done", response_id=answer.response_id,
                     **where, arguments=scripted.arguments),
            self._ev("response.mcp_call.in_progress", **where),
            self._ev("response.mcp_call.failed" if failed else "response.mcp_call.completed",
                     **where),
            self._ev("response.output_item.done", response_id=answer.response_id,
                     output_index=index, item=ended),
            self._ev("conversation.item.done", previous_item_id=previous, item=ended),
        ]

    def _call_item(self, call: ToolCall, status: str, arguments: str) -> Event:
        return {"id": call.item_id, "object": "realtime.item", "type": "function_call",
                "status": status, "name": call.name, "call_id": call.call_id,
                "arguments": arguments}

    def _call_events(self, answer: Answer) -> list[Event]:
        """The next scripted call, whole: its item added, the arguments in deltas, their
        done, the item done. Same event names in both dialects but the item's added; beta's
        arguments done does not repeat the name."""
        assert answer.script is not None
        scripted = answer.script.calls[len(answer.calls)]
        index = len(answer.mcp_items) + len(answer.calls) + (1 if answer.audio else 0)
        call = ToolCall(self.connection, answer.response_id, self._id("call"), scripted.name,
                        scripted.arguments, answer.script.call_status(scripted),
                        self._id("item"), index)
        answer.calls.append(call)
        self.tool_calls.append(call)
        self.call_ids.add(call.call_id)
        previous, self.last_item = self.last_item, call.item_id
        where = {"response_id": call.response_id, "item_id": call.item_id,
                 "output_index": index, "call_id": call.call_id}
        out = [
            self._ev("response.output_item.added", response_id=call.response_id,
                     output_index=index, item=self._call_item(call, "in_progress", "")),
            self._ev(self.names.item_added, previous_item_id=previous,
                     item=self._call_item(call, "in_progress", "")),
        ]
        size = answer.script.delta_chars
        out += [self._ev("response.function_call_arguments.delta", **where,
                         delta=call.arguments[i : i + size])
                for i in range(0, len(call.arguments), size)]
        out += [
            self._ev("response.function_call_arguments.done", **where,
                     **({"name": call.name} if self.names.args_done_name else {}),
                     arguments=call.arguments),
            self._ev("response.output_item.done", response_id=call.response_id,
                     output_index=index, item=self._call_item(call, call.status,
                                                              call.arguments)),
        ]
        return out

    def _output(self, answer: Answer) -> list[Event]:
        """response.done's ``output``: the audio item as it stands, then the calls sent."""
        items = [self._item(answer, "completed" if answer.message_done else "incomplete")] \
            if answer.output_started else []
        return [*answer.mcp_items, *items,
                *(self._call_item(c, c.status, c.arguments) for c in answer.calls)]

    def cancel(self, reason: CancelReason) -> list[Event]:
        """Stop the active answer where it is: response.done status cancelled."""
        return self._stop("cancelled", reason)

    def fail(self, code: str) -> list[Event]:
        """End the active answer where it is with status failed (the failed fault)."""
        return self._stop("failed", code)

    def cut_off(self, reason: str) -> list[Event]:
        """End the active answer where it is with status incomplete (a token limit or
        the content filter, as far as the client can tell)."""
        return self._stop("incomplete", reason)

    def _stop(self, status: str, reason: str) -> list[Event]:
        """The audio item, if unfinished, ends incomplete; calls sent stay as sent (each
        goes out whole) and calls not yet sent never are."""
        answer = self.response
        if answer is None:
            return []
        answer.status, answer.reason = status, reason
        out: list[Event] = []
        if answer.output_started and not answer.message_done:
            out.append(self._ev("response.output_item.done", response_id=answer.response_id,
                                output_index=answer.message_index,
                                item=self._item(answer, "incomplete")))
        return out + self._finish(answer, self._output(answer), _details(status, reason))

    def _finish(self, answer: Answer, output: list[Event], details: Event | None) -> list[Event]:
        self.response = None
        self.responses_done += 1
        left = max(0, 1000 - self.responses_done)
        return [
            self._ev("response.done", response=self._response_body(answer, output, details)),
            self._ev("rate_limits.updated", rate_limits=[
                {"name": "requests", "limit": 1000, "remaining": left, "reset_seconds": 60.0},
                {"name": "tokens", "limit": 50000, "remaining": 50000 - 10 * self.responses_done,
                 "reset_seconds": 60.0},
            ]),
        ]

    def bad_audio_delta(self) -> Event | None:
        """An audio delta whose payload is not base64 (the malformed fault)."""
        if self.response is None or not self.response.audio:
            return None
        return self._ev(self.names.audio_delta, **self._where(self.response),
                        delta="*** not base64 ***")


def _without_tokens(session: Event) -> Event:
    """The session as the server shows it: an MCP server's token is not sent back."""
    tools = session.get("tools")
    if not isinstance(tools, list) or not any(
            isinstance(t, Mapping) and "authorization" in t for t in tools):
        return session
    shown = [{k: v for k, v in t.items() if k != "authorization"} if isinstance(t, Mapping)
             else t for t in tools]
    return {**session, "tools": shown}


def _details(status: str, reason: str | None) -> Event | None:
    """response.done's status_details; for failed, ``reason`` is the error code."""
    if status == "completed":
        return None
    if status == "failed":
        code = reason or "server_error"
        return {"type": "failed", "error": {
            "type": error_type(code), "code": code,
            "message": "The server had an error while processing your request."}}
    return {"type": status, "reason": reason}
