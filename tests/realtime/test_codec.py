"""The codec against the protocol reference, both dialects, and its robustness."""

from __future__ import annotations

import base64
import json
import logging
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.realtime import codec
from edged.realtime.codec import Decoder, ProtocolError, encode
from edged.realtime.events import (
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
    ItemTruncate,
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
    session_changes,
)
from tests.realtime.codec_inverse import decode_client, encode_server

HANDSFREE = Session(voice="coral", instructions="Be brief.",
                    turn_detection=ServerVad(0.6, 200, 700, True, True),
                    transcription=Transcription("gpt-4o-mini-transcribe", "en"),
                    noise_reduction="far_field", max_output_tokens=512, speed=1.1)
TIMER = ToolSpec("set_timer", "Start a countdown timer.", {
    "type": "object", "properties": {"seconds": {"type": "integer", "minimum": 1}},
    "required": ["seconds"]})
VOLUME = ToolSpec("set_volume", "Change the speaker volume.", {
    "type": "object", "properties": {"level": {"type": "integer"}}})
TOOLED = Session(tools=(TIMER, VOLUME), tool_choice="required")
PTT = Session(voice="alloy", instructions="Hi", turn_detection=None, transcription=None,
              noise_reduction=None, max_output_tokens="inf", speed=1.0)


def _j(event: ClientEvent, dialect: codec.Wire) -> dict[str, Any]:
    out = json.loads(encode(event, dialect))
    assert isinstance(out, dict)
    return out


# --------------------------------------------------------------------------- session.update


def test_ga_session_update_has_the_ga_shape_field_by_field() -> None:
    obj = _j(SessionUpdate(HANDSFREE, event_id="e1"), "ga")
    assert obj["type"] == "session.update"
    assert obj["event_id"] == "e1"
    s = obj["session"]
    assert set(s) == {"type", "output_modalities", "instructions", "audio", "max_output_tokens",
                      "tools", "tool_choice"}
    assert (s["tools"], s["tool_choice"]) == ([], "auto")
    assert s["type"] == "realtime"
    assert s["output_modalities"] == ["audio"]
    assert s["instructions"] == "Be brief."
    assert s["max_output_tokens"] == 512
    ain, aout = s["audio"]["input"], s["audio"]["output"]
    assert set(s["audio"]) == {"input", "output"}
    assert ain["format"] == {"type": "audio/pcm", "rate": 24000}
    assert ain["noise_reduction"] == {"type": "far_field"}
    assert ain["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    assert ain["turn_detection"] == {
        "type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200,
        "silence_duration_ms": 700, "create_response": True, "interrupt_response": True}
    assert aout == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "coral",
                    "speed": 1.1}
    # beta-only names must not leak into GA
    flat = json.dumps(obj)
    for beta_name in ("input_audio_format", '"modalities"', "max_response_output_tokens",
                      "input_audio_transcription", "input_audio_noise_reduction"):
        assert beta_name not in flat


def test_beta_session_update_has_the_beta_shape_field_by_field() -> None:
    obj = _j(SessionUpdate(HANDSFREE), "beta")
    assert "event_id" not in obj
    s = obj["session"]
    assert set(s) == {"modalities", "instructions", "voice", "input_audio_format",
                      "output_audio_format", "input_audio_transcription",
                      "input_audio_noise_reduction", "turn_detection",
                      "max_response_output_tokens", "tools", "tool_choice"}
    assert (s["tools"], s["tool_choice"]) == ([], "auto")
    assert s["modalities"] == ["audio", "text"]
    assert s["voice"] == "coral"
    assert s["input_audio_format"] == "pcm16"
    assert s["output_audio_format"] == "pcm16"
    assert s["input_audio_transcription"] == {"model": "gpt-4o-mini-transcribe",
                                              "language": "en"}
    assert s["input_audio_noise_reduction"] == {"type": "far_field"}
    assert s["turn_detection"]["type"] == "server_vad"
    assert s["turn_detection"]["silence_duration_ms"] == 700
    assert s["max_response_output_tokens"] == 512


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_push_to_talk_sends_explicit_nulls_so_a_mode_switch_turns_vad_off(
        dialect: codec.Wire) -> None:
    s = _j(SessionUpdate(PTT), dialect)["session"]
    if dialect == "ga":
        ain = s["audio"]["input"]
        assert "turn_detection" in ain
        assert ain["turn_detection"] is None
        assert ain["transcription"] is None
        assert ain["noise_reduction"] is None
        assert s["max_output_tokens"] == "inf"
    else:
        assert "turn_detection" in s
        assert s["turn_detection"] is None
        assert s["input_audio_transcription"] is None
        assert s["input_audio_noise_reduction"] is None
        assert s["max_response_output_tokens"] == "inf"


def test_semantic_vad_and_g711_formats_per_dialect() -> None:
    session = Session(turn_detection=SemanticVad("low", True, False),
                      input_format="g711_ulaw", output_format="g711_alaw")
    ga = _j(SessionUpdate(session), "ga")["session"]
    assert ga["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "low", "create_response": True,
        "interrupt_response": False}
    assert ga["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert ga["audio"]["output"]["format"] == {"type": "audio/pcma"}
    beta = _j(SessionUpdate(session), "beta")["session"]
    assert beta["input_audio_format"] == "g711_ulaw"
    assert beta["output_audio_format"] == "g711_alaw"


def test_text_only_modality_per_dialect() -> None:
    session = Session(modalities=("text",))
    assert _j(SessionUpdate(session), "ga")["session"]["output_modalities"] == ["text"]
    assert _j(SessionUpdate(session), "beta")["session"]["modalities"] == ["text"]


def _tool_json(t: ToolSpec) -> dict[str, Any]:
    return {"type": "function", "name": t.name, "description": t.description,
            "parameters": dict(t.parameters)}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_tools_and_tool_choice_sit_at_the_top_of_the_session_in_both_dialects(
        dialect: codec.Wire) -> None:
    s = _j(SessionUpdate(TOOLED), dialect)["session"]
    assert s["tools"] == [_tool_json(TIMER), _tool_json(VOLUME)]
    assert s["tool_choice"] == "required"


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_partial_update_of_the_tools_carries_only_the_tools(dialect: codec.Wire) -> None:
    old = Session(tools=(TIMER,))
    changed = session_changes(old, TOOLED)
    assert changed == {"tools", "tool_choice"}
    s = _j(SessionUpdate(TOOLED, "u1", changed), dialect)["session"]
    head = {"type": "realtime"} if dialect == "ga" else {}
    assert s == {**head, "tools": [_tool_json(TIMER), _tool_json(VOLUME)],
                 "tool_choice": "required"}
    only_choice = _j(SessionUpdate(TOOLED, None, frozenset({"tool_choice"})), dialect)
    assert only_choice["session"] == {**head, "tool_choice": "required"}


def test_session_changes_sees_a_changed_tool_schema_by_value() -> None:
    same = ToolSpec(TIMER.name, TIMER.description, json.loads(json.dumps(TIMER.parameters)))
    assert session_changes(Session(tools=(TIMER,)), Session(tools=(same,))) == frozenset()
    edited = ToolSpec(TIMER.name, TIMER.description, {**TIMER.parameters, "required": []})
    assert session_changes(Session(tools=(TIMER,)), Session(tools=(edited,))) == {"tools"}


def test_read_only_tool_schemas_are_written_as_plain_json() -> None:
    frozen = ToolSpec("f", "d", MappingProxyType({
        "type": "object", "properties": MappingProxyType({"x": {"enum": ("a", "b")}})}))
    tools = _j(SessionUpdate(Session(tools=(frozen,))), "ga")["session"]["tools"]
    assert tools[0]["parameters"] == {"type": "object",
                                      "properties": {"x": {"enum": ["a", "b"]}}}


# --------------------------------------------------------------------------- other client events


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_append_carries_standard_base64_of_the_exact_bytes(dialect: codec.Wire) -> None:
    pcm = bytes(range(256)) * 7  # every byte value, odd-sized base64 padding
    obj = _j(InputAudioAppend(pcm), dialect)
    assert obj == {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    with_id = _j(InputAudioAppend(b"\x01\x02", event_id='id"quoted'), dialect)
    assert with_id["event_id"] == 'id"quoted'
    assert base64.b64decode(with_id["audio"]) == b"\x01\x02"


def test_encode_bytes_is_the_utf8_of_encode() -> None:
    for event in (InputAudioAppend(b"\x00\xff" * 10), SessionUpdate(Session(instructions="ß😀")),
                  ItemTruncate("item_1", 0, 1234), FunctionCallOutput("c", '{"ok":"ß"}'),
                  SessionUpdate(TOOLED)):
        for dialect in ("ga", "beta"):
            assert codec.encode_bytes(event, dialect) == encode(event, dialect).encode()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_the_small_client_events_are_exactly_as_the_reference_lists(dialect: codec.Wire) -> None:
    assert _j(InputAudioCommit(), dialect) == {"type": "input_audio_buffer.commit"}
    assert _j(InputAudioClear(), dialect) == {"type": "input_audio_buffer.clear"}
    assert _j(ResponseCreate(), dialect) == {"type": "response.create"}
    assert _j(ResponseCancel(), dialect) == {"type": "response.cancel"}
    assert _j(ResponseCancel("resp_9"), dialect) == {"type": "response.cancel",
                                                     "response_id": "resp_9"}
    assert _j(ItemTruncate("item_7", 0, 1520, event_id="t1"), dialect) == {
        "type": "conversation.item.truncate", "event_id": "t1", "item_id": "item_7",
        "content_index": 0, "audio_end_ms": 1520}
    assert _j(ItemCreateText("what time is it?"), dialect) == {
        "type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "what time is it?"}]}}
    assert _j(FunctionCallOutput("call_1", '{"seconds_left": 60}', event_id="o1"), dialect) == {
        "type": "conversation.item.create", "event_id": "o1", "item": {
            "type": "function_call_output", "call_id": "call_1",
            "output": '{"seconds_left": 60}'}}
    assert _j(FunctionCallOutput("call_2", ""), dialect) == {
        "type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_2", "output": ""}}


# --------------------------------------------------------------------------- round trips

_ids = st.text(st.characters(codec="utf-8"), max_size=12)
_opt_ids = st.none() | _ids
_schemas = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=8), children, max_size=3), max_leaves=8,
).map(lambda v: {"type": "object", "x": v})
_tools = st.lists(st.builds(ToolSpec, _ids, st.text(max_size=20), _schemas),
                  max_size=3).map(tuple)
_sessions = st.builds(
    Session,
    voice=_ids,
    instructions=st.text(max_size=40),
    modalities=st.sampled_from([("audio",), ("text",)]),
    input_format=st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
    output_format=st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
    turn_detection=st.none() | st.builds(
        ServerVad, st.floats(0, 1), st.integers(0, 5000), st.integers(0, 10000),
        st.booleans(), st.booleans()) | st.builds(
        SemanticVad, st.sampled_from(["low", "medium", "high", "auto"]), st.booleans(),
        st.booleans()),
    transcription=st.none() | st.builds(Transcription, _ids, _opt_ids),
    noise_reduction=st.sampled_from([None, "near_field", "far_field"]),
    max_output_tokens=st.sampled_from(["inf"]) | st.integers(1, 4096),
    speed=st.floats(0.25, 1.5),
    tools=_tools,
    tool_choice=st.sampled_from(["auto", "none", "required"]),
)
_client_events = st.one_of(
    st.builds(SessionUpdate, _sessions, _opt_ids),
    st.builds(InputAudioAppend, st.binary(max_size=300), _opt_ids),
    st.builds(InputAudioCommit, _opt_ids),
    st.builds(InputAudioClear, _opt_ids),
    st.builds(ResponseCreate, _opt_ids),
    st.builds(ResponseCancel, _opt_ids, _opt_ids),
    st.builds(ItemTruncate, _ids, st.integers(0, 3), st.integers(0, 10**7), _opt_ids),
    st.builds(ItemCreateText, st.text(max_size=40), _opt_ids),
    st.builds(FunctionCallOutput, _ids, st.text(max_size=40), _opt_ids),
)


@settings(max_examples=300, deadline=None)
@given(event=_client_events, dialect=st.sampled_from(["ga", "beta"]))
def test_client_events_round_trip_in_both_dialects(event: ClientEvent, dialect: codec.Wire) -> None:
    back = decode_client(encode(event, dialect), dialect)
    if isinstance(event, SessionUpdate) and dialect == "beta":
        # speed is GA-only: the beta shape has no field for it
        assert isinstance(back, SessionUpdate)
        assert back.session == Session(**{**_fields(event.session), "speed": 1.0})
    else:
        assert back == event


def _fields(s: Session) -> dict[str, Any]:
    return {name: getattr(s, name) for name in Session.__dataclass_fields__}


_pcm = st.binary(max_size=200).map(lambda b: b[: len(b) // 2 * 2])
_server_events = st.one_of(
    st.builds(SessionCreated, _opt_ids), st.builds(SessionUpdated, _opt_ids),
    st.builds(ErrorEvent, _ids.filter(bool), _opt_ids, st.text(max_size=30), _opt_ids, _opt_ids),
    st.builds(SpeechStarted, st.integers(0, 10**6), _opt_ids),
    st.builds(SpeechStopped, st.integers(0, 10**6), _opt_ids),
    st.builds(AudioCommitted, _opt_ids), st.just(AudioCleared()),
    st.builds(ResponseCreated, _ids),
    st.builds(OutputItemAdded, _ids, _opt_ids,
              st.sampled_from([None, "message", "function_call", "mcp_call"])),
    st.builds(FunctionCall, _ids, _ids, _ids, _ids, st.text(max_size=30),
              st.sampled_from(["completed", "incomplete", "in_progress"])),
    st.builds(AudioDelta, _ids, _ids, _pcm, st.integers(0, 2)),
    st.builds(AudioDone, _ids, _ids),
    st.builds(TranscriptDelta, _ids, _ids, st.text(max_size=20)),
    st.builds(TranscriptDone, _ids, _ids, st.text(max_size=20)),
    st.builds(InputTranscriptCompleted, _ids, st.text(max_size=20)),
    st.builds(InputTranscriptFailed, _ids, st.text(max_size=20)),
    st.builds(RateLimits, st.lists(st.builds(RateLimit, _ids, st.integers(0, 10**6),
                                             st.integers(0, 10**6), st.floats(0, 100)),
                                   max_size=3).map(tuple)),
    st.builds(ResponseDone, _ids, st.sampled_from(["completed", "cancelled", "failed",
                                                   "incomplete"]),
              st.sampled_from([None, "turn_detected", "client_cancelled"])),
)


@settings(max_examples=300, deadline=None)
@given(event=_server_events, dialect=st.sampled_from(["ga", "beta"]))
def test_server_events_round_trip_in_both_dialects(event: ServerEvent, dialect: codec.Wire) -> None:
    decoder = Decoder(dialect)
    assert decoder.decode(encode_server(event, dialect)) == event
    assert decoder.malformed == decoder.unknown == 0


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("prefix", ["response.output_audio", "response.audio"])
def test_both_audio_namings_decode_in_either_dialect(prefix: str) -> None:
    pcm = b"\x01\x00\xff\x7f" * 5
    delta = {"type": f"{prefix}.delta", "response_id": "r", "item_id": "i", "output_index": 0,
             "content_index": 0, "delta": base64.b64encode(pcm).decode()}
    tdelta = {"type": prefix.replace("audio", "audio_transcript") + ".delta",
              "response_id": "r", "item_id": "i", "delta": "hel"}
    for dialect in ("ga", "beta"):
        d = Decoder(dialect)
        assert d.decode(json.dumps(delta)) == AudioDelta("r", "i", pcm)
        assert d.decode(json.dumps({**delta, "type": f"{prefix}.done"})) == AudioDone("r", "i")
        assert d.decode(json.dumps(tdelta)) == TranscriptDelta("r", "i", "hel")


def test_error_response_done_and_rate_limits_decode_from_reference_shapes() -> None:
    d = Decoder()
    err = d.decode(json.dumps({"type": "error", "event_id": "ev", "error": {
        "type": "invalid_request_error", "code": "conversation_already_has_active_response",
        "message": "busy", "param": None, "event_id": "mine_3"}}))
    assert err == ErrorEvent("invalid_request_error", "conversation_already_has_active_response",
                             "busy", None, "mine_3")
    done = d.decode(json.dumps({"type": "response.done", "response": {
        "id": "resp_1", "status": "cancelled", "status_details": {
            "type": "cancelled", "reason": "turn_detected"}, "usage": {}}}))
    assert done == ResponseDone("resp_1", "cancelled", "turn_detected")
    failed = d.decode(json.dumps({"type": "response.done", "response": {
        "id": "resp_2", "status": "failed", "status_details": {
            "type": "failed", "error": {"type": "server_error", "code": "overloaded"}}}}))
    assert failed == ResponseDone("resp_2", "failed", "overloaded")
    limits = d.decode(json.dumps({"type": "rate_limits.updated", "rate_limits": [
        {"name": "tokens", "limit": 1000, "remaining": 900, "reset_seconds": 1.5}]}))
    assert limits == RateLimits((RateLimit("tokens", 1000, 900, 1.5),))


def test_unknown_types_are_counted_and_ignored_known_extras_are_not() -> None:
    d = Decoder()
    assert d.decode('{"type": "response.brand_new_thing", "x": 1}') is None
    assert d.decode('{"type": "response.brand_new_thing"}') is None
    assert d.decode('{"type": "response.content_part.added", "part": {}}') is None
    assert d.unknown == 2
    assert d.ignored == 1
    assert d.unknown_types["response.brand_new_thing"] == 2
    assert d.malformed == 0


def test_unknown_type_names_do_not_grow_without_bound() -> None:
    d = Decoder()
    for i in range(1000):
        d.decode(json.dumps({"type": f"junk.{i}"}))
    assert d.unknown == 1000
    assert len(d.unknown_types) <= 64


@pytest.mark.parametrize("text", [
    "{not json", "[1, 2]", '"a string"', "null", '{"no_type": 1}', '{"type": 5}',
    '{"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", '
    '"delta": "@@@not base64@@@"}',
    # one byte is not a whole PCM16 sample
    '{"type": "response.audio.delta", "response_id": "r", "item_id": "i", "delta": "AA=="}',
    '{"type": "response.done", "response": "done"}',
    '{"type": "response.created"}',
    '{"type": "rate_limits.updated", "rate_limits": [{"name": 1}]}',
    '{"type": "input_audio_buffer.speech_started", "audio_start_ms": "soon"}',
    b"\xff\xfe\x00garbage",
])
def test_malformed_messages_are_dropped_counted_and_logged(
        text: str | bytes, caplog: pytest.LogCaptureFixture) -> None:
    d = Decoder()
    caplog.set_level(logging.WARNING, logger="edged.realtime")
    assert d.decode(text) is None
    assert d.malformed == 1
    assert any("malformed" in r.getMessage() for r in caplog.records)


def test_a_whole_sample_delta_is_accepted_where_half_a_sample_is_not() -> None:
    d = Decoder()
    ok = '{"type": "response.audio.delta", "response_id": "r", "item_id": "i", "delta": "AAA="}'
    assert d.decode(ok) == AudioDelta("r", "i", b"\x00\x00")
    assert d.decode(ok.replace("AAA=", "AA==")) is None
    assert (d.decoded, d.malformed) == (1, 1)


def test_malformed_logging_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    d = Decoder()
    caplog.set_level(logging.WARNING, logger="edged.realtime")
    for _ in range(1000):
        d.decode("{broken")
    assert d.malformed == 1000
    assert len(caplog.records) <= 10 + 10


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_text_never_raises(text: str | bytes) -> None:
    Decoder().decode(text)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=8), children, max_size=3), max_leaves=10)


@settings(max_examples=500, deadline=None)
@given(kind=st.sampled_from(sorted(codec._PARSERS)), body=st.dictionaries(
    st.sampled_from(["response", "session", "error", "delta", "item", "item_id",
                     "call_id", "name", "arguments", "status",
                     "response_id", "rate_limits", "transcript", "audio_start_ms",
                     "status_details"]), _json_values, max_size=6))
def test_known_types_with_arbitrary_shapes_never_raise(kind: str, body: dict[str, Any]) -> None:
    d = Decoder()
    d.decode(json.dumps({**body, "type": kind}))
    assert d.decoded + d.ignored + d.malformed == 1
    assert d.unknown == 0


def test_decode_client_rejects_bad_input_with_protocol_error() -> None:
    no_output = {"type": "conversation.item.create",
                 "item": {"type": "function_call_output", "call_id": "c"}}
    for bad in (json.dumps(no_output), "{", '{"type": "nope"}',
                '{"type": "input_audio_buffer.append", "audio": 3}',
                '{"type": "session.update", "session": {"voice": "x"}}'):
        with pytest.raises(ProtocolError):
            decode_client(bad, "ga")


# --------------------------------------------------------------------------- function calls


def _call_item(**item: Any) -> dict[str, Any]:
    base = {"id": "item_5", "object": "realtime.item", "type": "function_call",
            "status": "completed", "name": "set_timer", "call_id": "call_9",
            "arguments": '{"seconds": 300}'}
    return {"type": "response.output_item.done", "event_id": "ev_3", "response_id": "resp_4",
            "output_index": 1, "item": {**base, **item}}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_finished_function_call_item_decodes_to_a_function_call(dialect: codec.Wire) -> None:
    d = Decoder(dialect)
    assert d.decode(json.dumps(_call_item())) == FunctionCall(
        "resp_4", "item_5", "call_9", "set_timer", '{"seconds": 300}', "completed")
    cut = d.decode(json.dumps(_call_item(status="incomplete", arguments="")))
    assert cut == FunctionCall("resp_4", "item_5", "call_9", "set_timer", "", "incomplete")
    assert (d.decoded, d.ignored, d.unknown, d.malformed) == (2, 0, 0, 0)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_other_finished_items_and_argument_streams_are_known_and_ignored(
        dialect: codec.Wire) -> None:
    d = Decoder(dialect)
    message = {"id": "item_1", "object": "realtime.item", "type": "message",
               "role": "assistant", "status": "completed",
               "content": [{"type": "audio", "transcript": "Hi."}]}
    others = [
        {"type": "response.output_item.done", "response_id": "r", "output_index": 0,
         "item": message},
        {"type": "response.output_item.done", "response_id": "r", "output_index": 0,
         "item": {"id": "item_2", "type": "reasoning", "name": 7}},  # MCP: test_mcp.py
        {"type": "response.output_item.done", "response_id": "r", "output_index": 0,
         "item": {"id": "item_3"}},
        {"type": "response.function_call_arguments.delta", "response_id": "r",
         "item_id": "item_5", "output_index": 0, "call_id": "call_9", "delta": '{"sec'},
        {"type": "response.function_call_arguments.done", "response_id": "r",
         "item_id": "item_5", "output_index": 0, "call_id": "call_9", "name": "set_timer",
         "arguments": '{"seconds": 300}'},
    ]
    for event in others:
        assert d.decode(json.dumps(event)) is None
    assert (d.decoded, d.ignored, d.unknown, d.malformed) == (0, len(others), 0, 0)


@pytest.mark.parametrize("broken", [
    {"call_id": None}, {"call_id": 9}, {"name": None}, {"arguments": None},
    {"arguments": {"seconds": 300}}, {"id": None}, {"status": None},
])
def test_a_function_call_item_without_its_strings_is_malformed(
        broken: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edged.realtime")
    event = _call_item()
    for key, value in broken.items():
        if value is None:
            del event["item"][key]
        else:
            event["item"][key] = value
    d = Decoder()
    assert d.decode(json.dumps(event)) is None
    assert (d.decoded, d.ignored, d.malformed) == (0, 0, 1)
    assert any("response.output_item.done" in r.getMessage() for r in caplog.records)


def test_a_finished_item_that_is_not_an_object_is_malformed() -> None:
    d = Decoder()
    assert d.decode('{"type": "response.output_item.done", "response_id": "r", "item": 3}') is None
    assert d.malformed == 1


@pytest.mark.parametrize("item_type", ["message", "function_call", None])
def test_output_item_added_names_the_item_type(item_type: str | None) -> None:
    item = {"id": "item_1", "object": "realtime.item", "status": "in_progress"}
    if item_type is not None:
        item["type"] = item_type
    event = {"type": "response.output_item.added", "event_id": "e", "response_id": "resp_1",
             "output_index": 0, "item": item}
    assert Decoder().decode(json.dumps(event)) == OutputItemAdded("item_1", "resp_1", item_type)
