"""The simulator's server events and edged's client events, checked against the official SDK.

The ``openai`` package's models are generated from OpenAI's API spec, independently of
both the simulator and edged's codec, which were written from the same reading of the
docs and so can share a mistake that their tests against each other never see. Every
frame the simulator sends in full turns of both dialects (and under every fault that
sends events) is validated against the SDK's server event union, and every client event
edged can encode against its client event union.

The SDK's models accept unknown keys, so validation alone would let a misspelled key
through: ``undeclared`` walks each validated model beside its JSON and names every key
the model does not declare.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from edged.realtime import codec
from edged.realtime.codec import Decoder, Wire
from edged.realtime.events import (
    ClientEvent,
    FunctionCall,
    FunctionCallOutput,
    InputAudioAppend,
    InputAudioClear,
    InputAudioCommit,
    ItemCreateText,
    ItemTruncate,
    ResponseCancel,
    ResponseCreate,
    SemanticVad,
    ServerVad,
    Session,
    SessionUpdate,
    ToolSpec,
    Transcription,
)
from edged.simulator import AnswerKind, Fault, Simulator
from edged.simulator.faults import TURN_POINTS
from tests.rigs.openai_types import CLIENT, SDK_GAPS, SERVER, check
from tests.rigs.realtime_client import aio, quiet, tone

DIALECTS: tuple[Wire, ...] = ("ga", "beta")
OPEN: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 10,
                        "close_timeout": 1}


# --------------------------------------------------------------------------- the simulator


def _headers(dialect: Wire) -> dict[str, str]:
    return {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}


class Turns:
    """A raw client for the scenarios: edged's own encoder for what it can send."""

    def __init__(self, ws: ClientConnection, dialect: Wire) -> None:
        self.ws, self.dialect = ws, dialect

    async def send(self, event: ClientEvent) -> None:
        await self.ws.send(codec.encode(event, self.dialect))

    async def raw(self, type_: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": type_, **fields}))

    async def until(self, type_: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    event = json.loads(await self.ws.recv())
                except ValueError:  # the malformed fault's garbage
                    continue
                if isinstance(event, dict) and event.get("type") == type_:
                    return event

    async def closed(self, timeout: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed:
            return

    async def ptt(self) -> None:
        await self.send(SessionUpdate(PTT))
        await self.until("session.updated")

    async def spoken_turn(self, ms: int = 300) -> None:
        await self.send(InputAudioAppend(tone(ms), event_id="a1"))
        await self.send(InputAudioCommit("c1"))
        await self.send(ResponseCreate("r1"))
        await self.until("rate_limits.updated")


PTT = Session(transcription=Transcription("gpt-4o-transcribe", "en"))
Script = Callable[[Turns], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Script
    expect: frozenset[str]  # event types it must produce (GA names; beta ones mapped)
    fault: Fault | None = None
    codes: frozenset[str] = frozenset()  # error codes it must produce
    statuses: frozenset[str] = frozenset()  # response.done statuses it must produce
    answer: AnswerKind = "tone"
    pace: float = float("inf")
    tone_s: float = 0.5


async def _push_to_talk(c: Turns) -> None:
    await c.ptt()
    await c.spoken_turn()
    await c.send(InputAudioClear("x1"))
    await c.until("input_audio_buffer.cleared")


async def _hands_free(c: Turns) -> None:
    await c.send(SessionUpdate(Session(turn_detection=ServerVad(silence_duration_ms=300))))
    await c.until("session.updated")
    await c.send(InputAudioAppend(quiet(200) + tone(400, dbfs=-26.0) + quiet(600)))
    await c.until("rate_limits.updated")
    await c.send(SessionUpdate(Session(turn_detection=SemanticVad("high"))))
    await c.until("session.updated")


async def _cancel_and_truncate(c: Turns) -> None:
    await c.ptt()
    await c.send(ResponseCreate())
    first = await c.until("response.output_item.added")
    await c.until(DELTA[c.dialect])
    await c.send(ResponseCancel(first["response_id"]))
    await c.until("rate_limits.updated")
    await c.send(ItemTruncate(first["item"]["id"], 0, 50, "t1"))
    await c.until("conversation.item.truncated")


async def _barge_in(c: Turns) -> None:
    await c.send(SessionUpdate(Session(turn_detection=ServerVad(create_response=False))))
    await c.until("session.updated")
    await c.send(ResponseCreate())
    await c.until(DELTA[c.dialect])
    await c.send(InputAudioAppend(tone(200)))
    await c.until("rate_limits.updated")


async def _errors(c: Turns) -> None:
    await c.ptt()
    await c.raw("conversation.item.delete", item_id="item_x")  # unsupported by the simulator
    await c.until("error")
    await c.send(InputAudioCommit("c0"))  # nothing to commit
    await c.until("error")
    await c.send(ResponseCancel(event_id="k0"))  # nothing to cancel
    await c.until("error")
    await c.send(ItemTruncate("item_nope", 0, 10))
    await c.until("error")
    misspelled = {"voise": "alloy"}
    await c.raw("session.update", session={"type": "realtime", **misspelled}
                if c.dialect == "ga" else misspelled)
    await c.until("error")
    await c.raw("session.frobnicate")
    await c.until("error")
    await c.ws.send("{not json")
    await c.until("error")
    await c.spoken_turn()
    await c.send(SessionUpdate(Session(voice="shimmer")))  # the voice is locked now
    await c.until("error")
    await c.send(ResponseCreate())
    await c.send(ResponseCreate())  # one response at a time
    await c.until("error")
    await c.until("rate_limits.updated")


async def _typed(c: Turns) -> None:
    await c.ptt()
    await c.send(ItemCreateText("what time is it", "i1"))
    await c.until("conversation.item.added" if c.dialect == "ga" else "conversation.item.created")
    await c.send(ResponseCreate("r1"))
    await c.until("rate_limits.updated")


async def _a_turn(c: Turns) -> None:
    await c.ptt()
    await c.send(InputAudioAppend(tone(300)))
    await c.send(InputAudioCommit())
    await c.send(ResponseCreate())
    await c.until("response.done")


async def _a_turn_then_close(c: Turns) -> None:
    await c.ptt()
    await c.send(InputAudioAppend(tone(300)))
    await c.send(InputAudioCommit())
    await c.send(ResponseCreate())
    await c.closed()


async def _until_closed(c: Turns) -> None:
    await c.closed()


async def _updated_then_wait(c: Turns) -> None:
    await c.ptt()
    await asyncio.sleep(0.3)
    await c.send(InputAudioClear())
    await c.until("input_audio_buffer.cleared")


async def _silent(c: Turns) -> None:
    """Up, then nothing more: the client gives up waiting."""
    await c.ptt()
    await asyncio.sleep(0.6)
    await c.send(InputAudioClear())
    with pytest.raises(TimeoutError):
        await c.until("input_audio_buffer.cleared", timeout=0.5)


async def _turn_then_close_or_drop(c: Turns) -> None:
    await c.ptt()
    await c.send(ResponseCreate())
    await c.closed()


async def _rejected(c: Turns) -> None:
    await c.ptt()
    await c.send(ResponseCreate("r1"))
    await c.until("error")
    await c.send(ResponseCreate("r2"))
    await c.until("rate_limits.updated")


DELTA: dict[Wire, str] = {"ga": "response.output_audio.delta", "beta": "response.audio.delta"}
_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
_TURN = frozenset({
    "session.created", "session.updated", "input_audio_buffer.committed",
    "conversation.item.added", "conversation.item.input_audio_transcription.completed",
    "response.created", "response.output_item.added", "response.content_part.added",
    "response.output_audio.delta", "response.output_audio_transcript.delta",
    "response.output_audio.done", "response.output_audio_transcript.done",
    "response.content_part.done", "response.output_item.done", "response.done",
    "rate_limits.updated",
})
_START = frozenset({"session.created", "session.updated"})

_ERRORS = frozenset({
    "unsupported_by_simulator", "input_audio_buffer_commit_empty", "response_cancel_not_active",
    "item_truncate_invalid_item_id", "unknown_parameter", "invalid_value", "invalid_json",
    "cannot_update_voice", "conversation_already_has_active_response"})
_EXPIRED = frozenset({"session_expired"})
_COMPLETED = frozenset({"completed"})

SCENARIOS = [
    Scenario("push-to-talk", _push_to_talk, _TURN | {"input_audio_buffer.cleared"},
             statuses=_COMPLETED, answer="echo"),
    Scenario("typed", _typed, _TURN - {
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed"}, statuses=_COMPLETED,
             answer="echo"),
    Scenario("hands-free", _hands_free, (_TURN - {
        "conversation.item.input_audio_transcription.completed"}) | {
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"},
             statuses=_COMPLETED, answer="echo"),
    Scenario("cancel and truncate", _cancel_and_truncate, _START | {
        "response.created", "response.output_audio.delta", "response.output_item.done",
        "response.done", "conversation.item.truncated"}, statuses=frozenset({"cancelled"}),
             pace=1.0, tone_s=3.0),
    Scenario("barge-in", _barge_in, _START | {
        "response.output_audio.delta", "input_audio_buffer.speech_started",
        "response.done"}, statuses=frozenset({"cancelled"}), pace=1.0, tone_s=3.0),
    Scenario("errors", _errors, _TURN | {"error"}, codes=_ERRORS, pace=1.0),
    Scenario("expired", _until_closed, frozenset({"session.created", "error"}),
             Fault.session_expired(0.1), _EXPIRED),
    *(Scenario(f"expired:{point}", _a_turn_then_close, _START | {"error"},
               Fault.session_expired_at(point), _EXPIRED)
      for point in TURN_POINTS),
    Scenario("quotekey", _updated_then_wait, _START | {"error"}, Fault.quote_key(),
             frozenset({"invalid_api_key"})),
    Scenario("surrogate", _updated_then_wait, _START | {"error"}, Fault.surrogate(),
             frozenset({"server_error"})),
    Scenario("reject", _rejected, _START | {"error", "response.done"},
             Fault.reject("response.create", "invalid_value", nth=1),
             frozenset({"invalid_value"}), _COMPLETED),
    Scenario("reject noecho", _rejected, _START | {"error", "response.done"},
             Fault.reject("response.create", "server_error", nth=1, echo=False),
             frozenset({"server_error"}), _COMPLETED),
    Scenario("errorthenclose", _until_closed, frozenset({"session.created", "error"}),
             Fault.error_then_close("insufficient_quota", 0.1),
             frozenset({"insufficient_quota"})),
    Scenario("failed", _a_turn, _START | {"response.output_item.done", "response.done"},
             Fault.fail_answer(2), statuses=frozenset({"failed"})),
    Scenario("failed at once", _a_turn, _START | {"response.created", "response.done"},
             Fault.fail_answer(0, "server_error"), statuses=frozenset({"failed"})),
    Scenario("incomplete", _a_turn, _START | {"response.output_item.done", "response.done"},
             Fault.incomplete_answer(1, "max_output_tokens"),
             statuses=frozenset({"incomplete"})),
    Scenario("content filter", _a_turn, _START | {"response.done"},
             Fault.incomplete_answer(3, "content_filter"), statuses=frozenset({"incomplete"})),
    Scenario("bigframe", _updated_then_wait, _START | {
        "conversation.item.input_audio_transcription.delta"}, Fault.big_frame(0.05)),
    Scenario("delay", _a_turn, _TURN, Fault.delay_answers(0.1)),
    Scenario("drop", _turn_then_close_or_drop, _START | {"response.output_audio.delta"},
             Fault.drop_mid_answer(2)),
    Scenario("close", _until_closed, frozenset({"session.created"}),
             Fault.close_after_open(4000, 0.1)),
    Scenario("silent", _silent, _START, Fault.silent(0.5)),
    Scenario("malformed", _a_turn, _TURN, Fault.malformed(bad_audio=True)),
]

# What the malformed fault sends on purpose: no event at all, or one no SDK knows.
_GARBAGE = frozenset({'{"type": "session.updated", "session": {', "[1, 2, 3]"})


async def _run(dialect: Wire, scenario: Scenario) -> list[dict[str, Any]]:
    """Every frame the simulator sent during ``scenario``, parsed (the garbage left out)."""
    async with Simulator(answer=scenario.answer, pace=scenario.pace,
                         tone_s=scenario.tone_s) as sim:
        if scenario.fault is not None:
            sim.inject(scenario.fault)
        async with connect(sim.url + "/v1/realtime?model=gpt-realtime",
                           additional_headers=_headers(dialect), **OPEN) as ws:
            await scenario.script(Turns(ws, dialect))
    frames = [frame for _, frame in sim.sent]
    assert all(isinstance(f, str) for f in frames)  # only badutf8 sends anything else
    events = [json.loads(f) for f in frames if f not in _GARBAGE]
    return [e for e in events if e.get("type") != "simulator.unknown_event"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
@aio
async def test_every_event_the_simulator_sends_is_one_the_sdk_declares(
        dialect: Wire, scenario: Scenario) -> None:
    events = await _run(dialect, scenario)
    for event in events:
        check(SERVER[dialect], event, SDK_GAPS[dialect])
    names = _BETA_NAMES if dialect == "beta" else {}
    expect = {names.get(t, t) for t in scenario.expect}
    seen = {e["type"] for e in events}
    assert expect <= seen, f"missing {sorted(expect - seen)}"
    codes = {e["error"]["code"] for e in events if e["type"] == "error"}
    assert scenario.codes <= codes, f"missing errors {sorted(scenario.codes - codes)}"
    statuses = {e["response"]["status"] for e in events if e["type"] == "response.done"}
    assert scenario.statuses <= statuses, f"missing statuses {sorted(scenario.statuses - statuses)}"
    # and edged's decoder takes every one of them: nothing malformed, nothing unknown
    decoder = Decoder(dialect)
    for event in events:
        decoder.decode(json.dumps(event))
    bad_audio = scenario.fault is not None and scenario.fault.bad_audio
    assert decoder.malformed == (1 if bad_audio else 0)
    assert decoder.unknown == 0, decoder.unknown_types


# --------------------------------------------------------------------------- edged's encoder

_TOOLS = (
    ToolSpec("set_timer", "Start a countdown timer.", {
        "type": "object", "properties": {"seconds": {"type": "integer", "minimum": 1},
                                         "label": {"type": "string"}},
        "required": ["seconds"], "additionalProperties": False}),
    ToolSpec("end_conversation", "Stop listening until the button is pressed.",
             {"type": "object", "properties": {}}),
)
_FULL = Session(voice="marin", instructions="Be brief.", input_format="pcm16",
                output_format="pcm16", turn_detection=ServerVad(0.6, 250, 700, True, False),
                transcription=Transcription("gpt-4o-transcribe", "de"),
                noise_reduction="far_field", max_output_tokens=1024, speed=1.1,
                tools=_TOOLS, tool_choice="required")
_SESSIONS = [
    Session(),
    _FULL,
    Session(turn_detection=SemanticVad("low", False, True),
            transcription=Transcription("whisper-1"), noise_reduction="near_field"),
    Session(modalities=("text",), input_format="g711_ulaw", output_format="g711_alaw"),
    Session(tools=_TOOLS[1:], tool_choice="none"),
]
_FIELDS = [frozenset({"voice"}), frozenset({"instructions", "turn_detection"}),
           frozenset({"speed"}), frozenset({"transcription", "noise_reduction"}),
           frozenset({"max_output_tokens", "modalities"}),
           frozenset({"input_format", "output_format"}), frozenset({"tools", "tool_choice"}),
           frozenset({"tool_choice"}), frozenset()]
CLIENT_EVENTS: list[ClientEvent] = [
    *(SessionUpdate(s) for s in _SESSIONS),
    SessionUpdate(_FULL, "evt_s1"),
    *(SessionUpdate(_FULL, f"evt_f{i}", fields) for i, fields in enumerate(_FIELDS)),
    InputAudioAppend(tone(20)),
    InputAudioAppend(tone(20), "evt_a1"),
    InputAudioCommit(),
    InputAudioCommit("evt_c1"),
    InputAudioClear("evt_x1"),
    ResponseCreate(),
    ResponseCreate("evt_r1"),
    ResponseCancel(),
    ResponseCancel("resp_1", "evt_k1"),
    ItemTruncate("item_1", 0, 1500, "evt_t1"),
    ItemCreateText("turn the lights on", "evt_i1"),
    FunctionCallOutput("call_1", '{"ok": true, "seconds": 300}', "evt_o1"),
    FunctionCallOutput("call_2", ""),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("event", CLIENT_EVENTS, ids=repr)
def test_every_client_event_edged_sends_is_one_the_sdk_declares(
        dialect: Wire, event: ClientEvent) -> None:
    check(CLIENT[dialect], json.loads(codec.encode(event, dialect)))


def test_the_partial_session_updates_carry_only_their_fields() -> None:
    """So that the SDK check above saw the partial shapes, not whole sessions."""
    ga = json.loads(codec.encode(SessionUpdate(_FULL, None, frozenset({"voice"})), "ga"))
    assert ga["session"] == {"type": "realtime", "audio": {"output": {"voice": "marin"}}}
    beta = json.loads(codec.encode(SessionUpdate(_FULL, None, frozenset({"voice"})), "beta"))
    assert beta["session"] == {"voice": "marin"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_sdk_reads_back_the_tools_edged_offers(dialect: Wire) -> None:
    """Validation passing is not enough: the SDK must see each tool's name, description
    and schema where edged meant them, not drop them into an ignored extra."""
    event = json.loads(codec.encode(SessionUpdate(_FULL, None,
                                                  frozenset({"tools", "tool_choice"})), dialect))
    session = CLIENT[dialect]["session.update"].model_validate(event).session  # type: ignore[attr-defined]
    assert session.tool_choice == _FULL.tool_choice
    assert [(t.type, t.name, t.description, t.parameters) for t in session.tools] == [
        ("function", t.name, t.description, t.parameters) for t in _FULL.tools]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_sdk_reads_back_a_function_call_output(dialect: Wire) -> None:
    event = json.loads(codec.encode(FunctionCallOutput("call_7", "done", "evt_o7"), dialect))
    item = CLIENT[dialect]["conversation.item.create"].model_validate(event).item  # type: ignore[attr-defined]
    assert (item.type, item.call_id, item.output) == ("function_call_output", "call_7", "done")


# --------------------------------------------------------------------------- the checker


def _done_event() -> dict[str, Any]:
    return {"type": "response.done", "event_id": "event_1", "response": {
        "object": "realtime.response", "id": "resp_1", "status": "completed",
        "status_details": None, "output_modalities": ["audio"], "usage": None,
        "output": [{"id": "item_1", "object": "realtime.item", "type": "message",
                    "role": "assistant", "status": "completed",
                    "content": [{"type": "output_audio", "transcript": "Hi."}]}]}}


@pytest.mark.parametrize(("where", "path"), [
    (lambda e: e, "evnet_id"),
    (lambda e: e["response"], "response.stauts"),
    (lambda e: e["response"]["output"][0]["content"][0], "response.output[0].content[0].trnscript"),
])
def test_the_checker_catches_a_misspelled_key_that_validation_alone_lets_through(
        where: Callable[[dict[str, Any]], dict[str, Any]], path: str) -> None:
    event = _done_event()
    check(SERVER["ga"], event)  # the well-spelled event passes
    where(event)[path.rsplit(".", 1)[-1]] = "x"
    SERVER["ga"]["response.done"].model_validate(event)  # pydantic alone accepts it
    with pytest.raises(AssertionError, match=re.escape(f"does not declare: [{path!r}]")):
        check(SERVER["ga"], event)


@pytest.mark.parametrize(("dialect", "path"), [
    ("beta", ("session",)), ("ga", ("session", "audio", "output"))])
def test_the_checker_catches_a_misspelled_key_in_a_client_event(
        dialect: Wire, path: tuple[str, ...]) -> None:
    event = json.loads(codec.encode(SessionUpdate(_FULL, None, frozenset({"voice"})), dialect))
    check(CLIENT[dialect], event)
    where = event
    for key in path:
        where = where[key]
    where["voise"] = where.pop("voice")
    with pytest.raises(AssertionError, match=re.escape(repr(".".join((*path, "voise"))))):
        check(CLIENT[dialect], event)


def test_the_checker_refuses_a_value_the_sdk_does_not_allow() -> None:
    part = {"type": "output_audio", "transcript": ""}
    event = {"type": "response.content_part.added", "event_id": "e", "response_id": "r",
             "item_id": "i", "output_index": 0, "content_index": 0, "part": part}
    with pytest.raises(AssertionError, match="refuses it"):
        check(SERVER["ga"], event)
    part["type"] = "audio"
    check(SERVER["ga"], event)


# --------------------------------------------------------------------------- edged's decoder


def _part_events(part_type: str) -> Iterable[dict[str, Any]]:
    where = {"event_id": "e", "response_id": "resp_1", "item_id": "item_1",
             "output_index": 0, "content_index": 0}
    for kind in ("response.content_part.added", "response.content_part.done"):
        yield {"type": kind, **where, "part": {"type": part_type, "transcript": ""}}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("part_type", ["audio", "output_audio"])
def test_edged_takes_either_spelling_of_the_audio_part(dialect: Wire, part_type: str) -> None:
    """Servers (and the simulator, once) say ``output_audio`` where the SDK says ``audio``:
    neither may cost edged an event."""
    decoder = Decoder(dialect)
    for event in _part_events(part_type):
        assert decoder.decode(json.dumps(event)) is None
    item = {"id": "item_1", "object": "realtime.item", "type": "message", "role": "assistant",
            "status": "in_progress", "content": [{"type": part_type, "transcript": ""}]}
    added = decoder.decode(json.dumps({"type": "response.output_item.added", "event_id": "e",
                                       "response_id": "resp_1", "output_index": 0,
                                       "item": item}))
    assert added is not None and getattr(added, "item_id", None) == "item_1"
    done = _done_event()
    done["response"]["output"][0]["content"][0]["type"] = part_type
    finished = decoder.decode(json.dumps(done))
    assert finished is not None and getattr(finished, "status", None) == "completed"
    assert (decoder.malformed, decoder.unknown, decoder.decoded) == (0, 0, 2)


def _function_call_done(arguments: str, status: str) -> dict[str, Any]:
    """``response.output_item.done`` for a function call, as a server sends it."""
    return {"type": "response.output_item.done", "event_id": "event_8", "response_id": "resp_3",
            "output_index": 0, "item": {
                "id": "item_4", "object": "realtime.item", "type": "function_call",
                "status": status, "name": "set_timer", "call_id": "call_5",
                "arguments": arguments}}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("arguments", "status"), [
    ('{"seconds": 300, "label": "tea"}', "completed"), ("", "incomplete"),
    ('{"seco', "incomplete")])
def test_a_function_call_the_sdk_declares_is_one_edged_decodes_alike(
        dialect: Wire, arguments: str, status: str) -> None:
    event = _function_call_done(arguments, status)
    check(SERVER[dialect], event)
    sdk_item = SERVER[dialect][event["type"]].model_validate(event).item  # type: ignore[attr-defined]
    decoder = Decoder(dialect)
    call = decoder.decode(json.dumps(event))
    assert isinstance(call, FunctionCall)
    assert (call.call_id, call.name, call.arguments, call.status, call.item_id) == (
        sdk_item.call_id, sdk_item.name, sdk_item.arguments, sdk_item.status, sdk_item.id)
    assert call.response_id == event["response_id"]
    assert (decoder.malformed, decoder.unknown) == (0, 0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_argument_stream_the_sdk_declares_is_known_to_edged(dialect: Wire) -> None:
    where = {"event_id": "e", "response_id": "resp_3", "item_id": "item_4", "output_index": 0,
             "call_id": "call_5"}
    named = {"name": "set_timer"} if dialect == "ga" else {}  # the beta event has no name
    stream = [{"type": "response.function_call_arguments.delta", **where, "delta": '{"se'},
              {"type": "response.function_call_arguments.done", **where, **named,
               "arguments": '{"seconds": 300}'}]
    decoder = Decoder(dialect)
    for event in stream:
        check(SERVER[dialect], event)
        assert decoder.decode(json.dumps(event)) is None
    assert (decoder.ignored, decoder.unknown, decoder.malformed) == (len(stream), 0, 0)
