"""The simulated session core: client events in, server events out, no I/O."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.simulator.audio import BYTES_PER_MS, speech_like_tone
from edged.simulator.script import ScriptedCall, ScriptedResponse, ToolOutput
from edged.simulator.session import UNKNOWN_CALL_CODE, SessionCore
from tests.rigs.realtime_client import PTT_BETA, PTT_GA, chunks, quiet, tone

TONE = speech_like_tone(1.0)


def core(dialect: str = "ga", answer: str = "echo", **kw: Any) -> SessionCore:
    return SessionCore(dialect, answer, tone=TONE, **kw)  # type: ignore[arg-type]


def append(c: SessionCore, pcm: bytes) -> list[dict[str, Any]]:
    return c.receive({"type": "input_audio_buffer.append",
                      "audio": base64.b64encode(pcm).decode()})


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def run_answer(c: SessionCore) -> list[dict[str, Any]]:
    out = c.begin_output()
    done = False
    while not done:
        events, done = c.step()
        out += events
    return out


def ptt(c: SessionCore, pcm: bytes) -> list[dict[str, Any]]:
    update = PTT_GA if c.dialect == "ga" else PTT_BETA
    assert types(c.receive({"type": "session.update", "session": update})) == ["session.updated"]
    for piece in chunks(pcm):
        assert append(c, piece) == []
    return c.receive({"type": "input_audio_buffer.commit"})


def test_created_session_has_the_dialects_shape_and_server_vad_on() -> None:
    ga = core("ga").open()[0]["session"]
    assert ga["type"] == "realtime"
    assert ga["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert ga["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    beta = core("beta").open()[0]["session"]
    assert beta["input_audio_format"] == "pcm16"
    assert beta["turn_detection"]["type"] == "server_vad"
    assert "audio" not in beta and "voice" not in ga


def test_session_update_merges_only_the_fields_sent() -> None:
    c = core("ga")
    out = c.receive({"type": "session.update", "session": {
        "type": "realtime", "instructions": "be brief",
        "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": {
            "type": "semantic_vad", "eagerness": "high"}}}}})
    s = out[0]["session"]
    assert out[0]["type"] == "session.updated"
    assert s["instructions"] == "be brief"
    assert s["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000},
                                    "voice": "marin", "speed": 1.0}
    # turn detection is replaced, starting from the new type's defaults
    assert s["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "high", "create_response": True,
        "interrupt_response": True}
    assert c.vad_settings is not None and c.vad_settings.silence_duration_ms == 400


@pytest.mark.parametrize(("dialect", "session", "code", "param"), [
    ("ga", {"instructions": "x"}, "missing_required_parameter", "session.type"),
    ("ga", {"type": "realtime", "voice": "alloy"}, "unknown_parameter", "session.voice"),
    ("ga", {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
     "invalid_value", "session.audio.input.format"),
    ("ga", {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "magic"}}}},
     "invalid_value", "session.audio.input.turn_detection.type"),
    ("beta", {"audio": {}}, "unknown_parameter", "session.audio"),
    ("beta", {"temperature": 0.2}, "decimal_below_min_value", "session.temperature"),
    ("beta", {"input_audio_format": "g711_ulaw"}, "invalid_value", "session.input_audio_format"),
    ("beta", {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5}},
     "unknown_parameter", "session.turn_detection.idle_timeout_ms"),
    ("beta", "not an object", "invalid_type", "session"),
    ("beta", {"turn_detection": {"type": ["server_vad"]}}, "invalid_value",
     "session.turn_detection.type"),
    ("beta", {"turn_detection": {"type": "semantic_vad", "eagerness": []}}, "invalid_value",
     "session.turn_detection.eagerness"),
])
def test_bad_session_updates_are_refused_and_change_nothing(
        dialect: str, session: Any, code: str, param: str) -> None:
    c = core(dialect)
    before = c.open()[0]["session"]
    out = c.receive({"type": "session.update", "session": session, "event_id": "e1"})
    assert types(out) == ["error"]
    assert out[0]["error"]["code"] == code
    assert out[0]["error"]["param"] == param
    assert out[0]["error"]["event_id"] == "e1"
    assert c.session == before


def test_voice_cannot_change_once_the_model_has_spoken() -> None:
    c = core("beta")
    ptt(c, tone(200))
    c.receive({"type": "response.create"})
    run_answer(c)
    out = c.receive({"type": "session.update", "session": {"voice": "echo"}})
    assert out[0]["error"]["code"] == "cannot_update_voice"
    assert out[0]["error"]["param"] is None  # as the real servers send it
    assert types(c.receive({"type": "session.update", "session": {"voice": "alloy"}})) == [
        "session.updated"]


@pytest.mark.parametrize(("dialect", "delta", "transcript", "part"), [
    ("ga", "response.output_audio.delta", "response.output_audio_transcript.delta",
     "output_audio"),
    ("beta", "response.audio.delta", "response.audio_transcript.delta", "audio"),
])
def test_push_to_talk_turn_echoes_the_committed_audio(
        dialect: str, delta: str, transcript: str, part: str) -> None:
    c = core(dialect, chunk_ms=100)
    pcm = tone(250)
    committed = ptt(c, pcm)
    assert types(committed)[0] == "input_audio_buffer.committed"
    created = c.receive({"type": "response.create"})
    assert types(created) == ["response.created"]
    events = run_answer(c)
    names = types(events)
    assert names[:3] == ["response.output_item.added",
                         "conversation.item.added" if dialect == "ga"
                         else "conversation.item.created",
                         "response.content_part.added"]
    assert names.count(delta) == 3  # 250 ms in 100 ms chunks
    assert names[-6:] == [delta.replace(".delta", ".done"),
                          transcript.replace(".delta", ".done"), "response.content_part.done",
                          "response.output_item.done", "response.done", "rate_limits.updated"]
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == delta)
    assert audio == pcm
    text = "".join(e["delta"] for e in events if e["type"] == transcript)
    assert text == "(echo of 250 ms of your audio)"
    done = events[-2]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["type"] == part
    # the part events say "audio" in both dialects (the SDK's models take text or audio)
    assert [e["part"]["type"] for e in events if e["type"].startswith(
        "response.content_part.")] == ["audio", "audio"]
    assert c.answers[0].sent_audio == pcm and c.response is None


def test_commit_needs_100ms_and_says_how_much_it_had() -> None:
    c = core()
    c.receive({"type": "session.update", "session": PTT_GA})
    append(c, tone(60))
    out = c.receive({"type": "input_audio_buffer.commit"})
    assert out[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "60.00ms" in out[0]["error"]["message"]
    append(c, tone(40))
    assert types(c.receive({"type": "input_audio_buffer.commit"}))[0] == (
        "input_audio_buffer.committed")


def test_clear_empties_the_buffer() -> None:
    c = core()
    c.receive({"type": "session.update", "session": PTT_GA})
    append(c, tone(300))
    assert types(c.receive({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    out = c.receive({"type": "input_audio_buffer.commit"})
    assert out[0]["error"]["code"] == "input_audio_buffer_commit_empty"


def test_cancel_stops_the_answer_and_one_response_at_a_time() -> None:
    c = core(answer="tone")
    c.receive({"type": "response.create"})
    c.begin_output()
    _, done = c.step()
    assert not done
    again = c.receive({"type": "response.create"})
    assert again[0]["error"]["code"] == "conversation_already_has_active_response"
    out = c.receive({"type": "response.cancel"})
    assert types(out) == ["response.output_item.done", "response.done", "rate_limits.updated"]
    assert out[1]["response"]["status"] == "cancelled"
    assert out[1]["response"]["status_details"] == {"type": "cancelled",
                                                    "reason": "client_cancelled"}
    assert c.step() == ([], True)
    assert c.receive({"type": "response.cancel"})[0]["error"]["code"] == (
        "response_cancel_not_active")
    assert c.answers[0].sent == 100 * BYTES_PER_MS


def test_truncate_checks_the_item_and_the_audio_really_sent() -> None:
    c = core(answer="tone")
    committed = ptt(c, tone(200))
    user_item = committed[0]["item_id"]
    c.receive({"type": "response.create"})
    c.begin_output()
    c.step()
    c.step()  # 200 ms sent
    item = c.answers[0].item_id
    out = c.receive({"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
                     "audio_end_ms": 150})
    assert out[0] | {"event_id": None} == {
        "type": "conversation.item.truncated", "event_id": None, "item_id": item,
        "content_index": 0, "audio_end_ms": 150}
    assert c.answers[0].truncated_ms == 150
    beyond = c.receive({"type": "conversation.item.truncate", "item_id": item,
                        "content_index": 0, "audio_end_ms": 201})
    assert beyond[0]["error"]["param"] == "audio_end_ms"
    user = c.receive({"type": "conversation.item.truncate", "item_id": user_item,
                      "content_index": 0, "audio_end_ms": 0})
    assert "assistant" in user[0]["error"]["message"]
    unknown = c.receive({"type": "conversation.item.truncate", "item_id": "item_nope",
                         "content_index": 0, "audio_end_ms": 0})
    assert unknown[0]["error"]["code"] == "item_truncate_invalid_item_id"


@pytest.mark.parametrize(("event", "code"), [
    ({"type": "no.such.event"}, "invalid_value"),
    ({"type": "conversation.item.create", "item": {}}, "unsupported_by_simulator"),
    ({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                   "content": [{"type": "input_text"}]}},
     "invalid_value"),
    ({"type": "conversation.item.delete", "item_id": "item_1"}, "unsupported_by_simulator"),
    ({"audio": "AAAA"}, "missing_required_parameter"),
    ({"type": "input_audio_buffer.append", "audio": "!!not base64!!"}, "invalid_value"),
    ({"type": "input_audio_buffer.append", "audio": "AA=="}, "invalid_value"),  # odd bytes
])
def test_bad_client_events_get_an_error_and_the_session_carries_on(
        event: dict[str, Any], code: str) -> None:
    c = core()
    out = c.receive(event)
    assert types(out) == ["error"] and out[0]["error"]["code"] == code
    assert out[0]["error"]["type"] == "invalid_request_error"
    assert types(c.receive({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]


def test_server_vad_turn_commits_and_answers_by_itself() -> None:
    c = core("beta", answer="echo")
    c.receive({"type": "session.update", "session": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 300, "prefix_padding_ms": 100}}})
    out: list[dict[str, Any]] = []
    for piece in chunks(quiet(400) + tone(500) + quiet(400)):
        out += append(c, piece)
    assert types(out) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                          "input_audio_buffer.committed", "conversation.item.created",
                          "response.created"]
    started, stopped, committed = out[:3]
    assert started["audio_start_ms"] == 400 and stopped["audio_end_ms"] == 900
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    # the committed utterance keeps prefix_padding_ms of audio before the speech
    # and ends where the silence was detected (900 ms + 300 ms)
    audio = quiet(400) + tone(500) + quiet(400)
    assert c.last_utterance == audio[300 * BYTES_PER_MS : 1200 * BYTES_PER_MS]
    assert c.buffer == audio[1200 * BYTES_PER_MS :]


def test_speech_during_an_answer_interrupts_it_as_turn_detected() -> None:
    c = core("ga", answer="tone")
    c.receive({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 200}}}}})
    c.receive({"type": "response.create"})
    c.begin_output()
    c.step()
    out = append(c, tone(100))
    assert types(out) == ["input_audio_buffer.speech_started", "response.output_item.done",
                          "response.done", "rate_limits.updated"]
    assert out[2]["response"]["status_details"]["reason"] == "turn_detected"
    assert c.response is None


def test_without_interrupt_response_the_answer_keeps_going() -> None:
    c = core("ga", answer="tone")
    c.receive({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "interrupt_response": False}}}}})
    c.receive({"type": "response.create"})
    assert types(append(c, tone(100))) == ["input_audio_buffer.speech_started"]
    assert c.response is not None


def test_transcription_of_the_committed_utterance_when_enabled() -> None:
    c = core("beta")
    c.receive({"type": "session.update", "session": {
        "turn_detection": None, "input_audio_transcription": {"model": "whisper-1"}}})
    append(c, tone(300))
    out = c.receive({"type": "input_audio_buffer.commit"})
    assert out[-1]["type"] == "conversation.item.input_audio_transcription.completed"
    assert out[-1]["transcript"] == "(300 ms of audio)"


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)
_field = st.sampled_from(["session", "audio", "item_id", "audio_end_ms", "content_index",
                          "event_id", "response", "type", "turn_detection", "audio", "item"])


@settings(max_examples=300, deadline=None)
@given(dialect=st.sampled_from(["ga", "beta"]),
       kind=st.sampled_from(["session.update", "input_audio_buffer.append",
                             "input_audio_buffer.commit", "input_audio_buffer.clear",
                             "response.create", "response.cancel",
                             "conversation.item.truncate", "conversation.item.create",
                             "bogus"]),
       fields=st.dictionaries(_field, _json, max_size=4))
def test_any_client_event_gets_events_back_never_an_exception(
        dialect: str, kind: str, fields: dict[str, Any]) -> None:
    c = core(dialect)
    out = c.receive({**fields, "type": kind})
    assert all(isinstance(e, dict) and isinstance(e["type"], str) for e in out)
    assert c.receive({"type": "input_audio_buffer.clear"})[-1]["type"] == (
        "input_audio_buffer.cleared")


@settings(max_examples=300, deadline=None)
@given(dialect=st.sampled_from(["ga", "beta"]),
       td=_json | st.fixed_dictionaries({"type": st.sampled_from(["server_vad", "semantic_vad"])},
                                        optional={"threshold": _json, "eagerness": _json,
                                                  "silence_duration_ms": _json,
                                                  "prefix_padding_ms": _json}),
       fmt=_json, voice=_json)
def test_any_session_update_is_applied_or_refused_cleanly(
        dialect: str, td: Any, fmt: Any, voice: Any) -> None:
    c = core(dialect)
    if dialect == "ga":
        session = {"type": "realtime", "audio": {"input": {"turn_detection": td, "format": fmt},
                                                 "output": {"voice": voice}}}
    else:
        session = {"turn_detection": td, "input_audio_format": fmt, "voice": voice}
    before = c.session
    out = c.receive({"type": "session.update", "session": session})
    assert [e["type"] for e in out] in (["session.updated"], ["error"])
    if out[0]["type"] == "error":
        assert c.session == before
    for piece in chunks(tone(300) + quiet(300)):  # the VAD copes with whatever was accepted
        append(c, piece)


def test_a_typed_message_is_the_turn_the_next_response_answers() -> None:
    c = core()
    out = c.receive({"type": "conversation.item.create", "event_id": "e1", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text",
                                                        "text": "what time is it"}]}})
    assert len(out) == 1 and out[0]["item"]["content"][0]["text"] == "what time is it"
    assert out[0]["item"]["role"] == "user"
    created = c.receive({"type": "response.create"})
    assert types(created) == ["response.created"]


# --------------------------------------------------------------------------- function calls


def scripted(c: SessionCore, *responses: ScriptedResponse) -> list[dict[str, Any]]:
    """Queue ``responses``, create one, and run it to its end."""
    c.scripts.extend(responses)
    assert types(c.receive({"type": "response.create"})) == ["response.created"]
    return run_answer(c)


def output(call_id: Any, text: Any = "ok", **item: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", "event_id": "o1", "item": {
        "type": "function_call_output", "call_id": call_id, "output": text, **item}}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_scripted_call_goes_out_whole_and_only_that_connection_knows_its_id(
        dialect: str) -> None:
    c = core(dialect, answer="echo")
    events = scripted(c, ScriptedResponse.of("set_timer", '{"seconds": 300, "label": "tea"}',
                                             delta_chars=10))
    added = "conversation.item.added" if dialect == "ga" else "conversation.item.created"
    assert types(events) == ["response.output_item.added", added,
                             *["response.function_call_arguments.delta"] * 4,
                             "response.function_call_arguments.done",
                             "response.output_item.done", "response.done", "rate_limits.updated"]
    call_id = events[0]["item"]["call_id"]
    assert "".join(e["delta"] for e in events[2:6]) == '{"seconds": 300, "label": "tea"}'
    assert c.tool_calls[0].call_id == call_id and c.call_ids == {call_id}
    assert c.answers[0].sent == 0 and c.items == {}  # nothing spoken, nothing to truncate
    other = core(dialect, connection=2, tool_outputs=c.tool_outputs)
    refused = other.receive(output(call_id))
    assert refused[0]["error"]["code"] == UNKNOWN_CALL_CODE
    accepted = c.receive(output(call_id, '{"ok": true}'))
    assert types(accepted) == [added]
    assert accepted[0]["item"]["type"] == "function_call_output"
    assert c.tool_outputs == [ToolOutput(2, call_id, "ok", False),
                              ToolOutput(1, call_id, '{"ok": true}', True)]
    # the answer after the output is the usual one (the tone: there is nothing to echo)
    c.receive({"type": "response.create"})
    assert c.answers[-1].transcript.startswith("This is the edged simulator")


@pytest.mark.parametrize(("event", "code", "param"), [
    (output(None), "missing_required_parameter", "item.call_id"),
    (output(7), "invalid_type", "item.call_id"),
    (output("call_x", None), "missing_required_parameter", "item.output"),
    (output("call_x", {"ok": True}), "invalid_type", "item.output"),
    (output("call_nope"), UNKNOWN_CALL_CODE, None),
])
def test_bad_function_call_outputs_are_refused(
        event: dict[str, Any], code: str, param: str | None) -> None:
    c = core()
    scripted(c, ScriptedResponse.of("get_time"))
    out = c.receive(event)
    assert types(out) == ["error"]
    assert (out[0]["error"]["code"], out[0]["error"]["param"]) == (code, param)
    assert out[0]["error"]["event_id"] == "o1"
    # only an output that can be read is recorded (as unknown)
    assert c.tool_outputs == ([ToolOutput(1, "call_nope", "ok", False)]
                              if code == UNKNOWN_CALL_CODE else [])


def test_scripts_are_taken_in_order_then_answers_are_as_usual() -> None:
    c = core(answer="tone")
    c.scripts.extend([ScriptedResponse.of("a"), ScriptedResponse.of("b")])
    names = []
    for _ in range(3):
        c.receive({"type": "response.create"})
        events = run_answer(c)
        names.append([e["item"]["name"] for e in events
                      if e["type"] == "response.output_item.done"
                      and e["item"]["type"] == "function_call"])
    assert names == [["a"], ["b"], []]
    assert c.answers[2].sent == len(TONE)


def test_server_vad_creates_the_scripted_response_too() -> None:
    c = core("ga")
    c.receive({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 200}}}}})
    c.scripts.append(ScriptedResponse.of("get_time", speak_ms=200))
    out: list[dict[str, Any]] = []
    for piece in chunks(tone(300) + quiet(300)):
        out += append(c, piece)
    assert types(out)[-1] == "response.created"
    events = run_answer(c)
    assert [e["item"]["type"] for e in events if e["type"] == "response.output_item.done"] == [
        "message", "function_call"]
    assert c.answers[0].sent == 200 * BYTES_PER_MS  # the preface, not an echo


def test_a_cancel_during_the_hold_keeps_the_calls_as_sent() -> None:
    c = core(answer="tone")
    c.scripts.append(ScriptedResponse((ScriptedCall("a", "{}"), ScriptedCall("b", "{}")),
                                      speak_ms=100, hold_s=5.0))
    c.receive({"type": "response.create"})
    out = c.begin_output()
    for _ in range(3):  # the preface, then a call a step
        events, done = c.step()
        out += events
        assert not done
    assert c.chunks_left() == 0 and c.response is not None and c.response.holding
    cancelled = c.receive({"type": "response.cancel"})
    assert types(cancelled) == ["response.done", "rate_limits.updated"]
    body = cancelled[0]["response"]
    assert body["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert [(i["type"], i["status"]) for i in body["output"]] == [
        ("message", "completed"), ("function_call", "completed"),
        ("function_call", "completed")]


def test_a_cancel_before_the_calls_sends_none_of_them() -> None:
    c = core(answer="tone")
    c.scripts.append(ScriptedResponse.of("a", speak_ms=300))
    c.receive({"type": "response.create"})
    c.begin_output()
    c.step()
    cancelled = c.receive({"type": "response.cancel"})
    assert [i["type"] for i in cancelled[-2]["response"]["output"]] == ["message"]
    assert c.tool_calls == [] and c.call_ids == set()


def test_a_scripted_failure_names_its_error() -> None:
    c = core()
    events = scripted(c, ScriptedResponse.of("a", status="failed", reason="server_error"))
    body = events[-2]["response"]
    assert body["status"] == "failed"
    assert body["status_details"]["error"]["code"] == "server_error"
    assert body["output"][0]["status"] == "incomplete"


_TOOL = {"type": "function", "name": "set_timer", "description": "Start a timer.",
         "parameters": {"type": "object", "properties": {"seconds": {"type": "integer"}}}}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_tools_and_tool_choice_are_kept_and_echoed(dialect: str) -> None:
    c = core(dialect)
    extra = {"type": "realtime"} if dialect == "ga" else {}
    for choice in ("required", {"type": "function", "name": "set_timer"}, "none"):
        out = c.receive({"type": "session.update", "session": {
            **extra, "tools": [_TOOL], "tool_choice": choice}})
        assert types(out) == ["session.updated"]
        assert out[0]["session"]["tools"] == [_TOOL]
        assert out[0]["session"]["tool_choice"] == choice
    # a later update without them keeps them; an empty list removes them
    out = c.receive({"type": "session.update", "session": {**extra, "instructions": "hi"}})
    assert out[0]["session"]["tools"] == [_TOOL]
    out = c.receive({"type": "session.update", "session": {**extra, "tools": []}})
    assert out[0]["session"]["tools"] == [] and c.session["tools"] == []


@pytest.mark.parametrize(("dialect", "session", "code", "param"), [
    ("ga", {"tools": {"name": "x"}}, "invalid_type", "session.tools"),
    ("ga", {"tools": ["set_timer"]}, "invalid_type", "session.tools[0]"),
    ("ga", {"tools": [_TOOL, {"name": "x"}]}, "invalid_value", "session.tools[1].type"),
    ("ga", {"tools": [{"type": "mcp", "server_label": "s"}]}, "missing_required_parameter",
     "session.tools[0].server_url"),
    ("ga", {"tools": [{"type": "mcp", "server_label": "s", "server_url": "http://m/"}]},
     "invalid_value", "session.tools[0].server_url"),
    ("ga", {"tools": [{"type": "mcp", "server_label": "s", "server_url": "https://m/",
                       "require_approval": "sometimes"}]}, "invalid_value",
     "session.tools[0].require_approval"),
    ("ga", {"tools": [{"type": "mcp", "server_label": "s", "server_url": "https://m/",
                       "connector_id": "connector_gmail"}]}, "unknown_parameter",
     "session.tools[0].connector_id"),
    ("ga", {"tools": [{"type": "function"}]}, "missing_required_parameter",
     "session.tools[0].name"),
    ("ga", {"tools": [{"type": "function", "name": 3}]}, "invalid_type",
     "session.tools[0].name"),
    ("ga", {"tools": [{**_TOOL, "strict": True}]}, "unknown_parameter",
     "session.tools[0].strict"),
    ("ga", {"tools": [{**_TOOL, "parameters": "{}"}]}, "invalid_type",
     "session.tools[0].parameters"),
    ("ga", {"tool_choice": "always"}, "invalid_value", "session.tool_choice"),
    ("ga", {"tool_choice": {"type": "function"}}, "invalid_value", "session.tool_choice"),
    ("beta", {"tools": [{"type": "mcp", "server_label": "s"}]}, "invalid_value",
     "session.tools[0].type"),
    ("beta", {"tools": [{"type": "function", "name": None}]}, "invalid_type",
     "session.tools[0].name"),
    ("beta", {"tools": [{**_TOOL, "description": 5}]}, "invalid_type",
     "session.tools[0].description"),
    ("beta", {"tool_choice": 1}, "invalid_value", "session.tool_choice"),
])
def test_bad_tools_are_refused_and_change_nothing(
        dialect: str, session: dict[str, Any], code: str, param: str) -> None:
    c = core(dialect)
    before = c.open()[0]["session"]
    sent = {"type": "realtime", **session} if dialect == "ga" else session
    out = c.receive({"type": "session.update", "session": sent, "event_id": "t1"})
    assert types(out) == ["error"]
    assert (out[0]["error"]["code"], out[0]["error"]["param"]) == (code, param)
    assert out[0]["error"]["event_id"] == "t1"
    assert c.session == before
