"""Scripted function calls over real loopback WebSockets, driven by a raw websockets client.

Every frame the simulator sends here is also validated against the official SDK's server
event models (``openai.types.realtime`` for GA, ``openai.types.beta.realtime`` for beta),
key for key, so the call events' shape is checked against a source independent of the
simulator's own reading of the protocol.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from edged.realtime.codec import Wire
from edged.simulator import Fault, ScriptedCall, ScriptedResponse, Simulator, parse_spec
from edged.simulator.session import UNKNOWN_CALL_CODE
from tests.rigs.openai_types import SDK_GAPS, SERVER, check
from tests.rigs.realtime_client import (
    PTT_BETA,
    PTT_GA,
    aio,
    append,
    audio_of,
    chunks,
    quiet,
    recv_until,
    send,
    tone,
)

OPEN: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 10}
DIALECTS = ("ga", "beta")
HEADERS = {"ga": {}, "beta": {"OpenAI-Beta": "realtime=v1"}}
ITEM_ADDED = {"ga": "conversation.item.added", "beta": "conversation.item.created"}
DELTA = {"ga": "response.output_audio.delta", "beta": "response.audio.delta"}
TOOLS = [{"type": "function", "name": "set_timer", "description": "Start a timer.",
          "parameters": {"type": "object", "properties": {"seconds": {"type": "integer"}},
                         "required": ["seconds"]}},
         {"type": "function", "name": "get_time", "description": "The time of day.",
          "parameters": {"type": "object", "properties": {}}}]
ARGS = '{"seconds": 300, "label": "tea"}'

def sdk_check(dialect: Wire, event: Mapping[str, Any]) -> None:
    """Fail unless the SDK's model of ``event``'s type takes it, every key declared."""
    check(SERVER[dialect], event, SDK_GAPS[dialect])


def sent_events(sim: Simulator) -> list[dict[str, Any]]:
    return [json.loads(frame) for _, frame in sim.sent]


async def setup(ws: ClientConnection, dialect: str, **session: Any) -> dict[str, Any]:
    """Push-to-talk with the tools offered; the session.updated event."""
    base = PTT_GA if dialect == "ga" else PTT_BETA
    await recv_until(ws, "session.created")
    await send(ws, "session.update", session={**base, "tools": TOOLS, "tool_choice": "auto",
                                              **session})
    updated, _ = await recv_until(ws, "session.updated")
    return updated


async def turn(ws: ClientConnection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A spoken turn and its response: (response.done, the events before it)."""
    await append(ws, tone(300))
    await send(ws, "input_audio_buffer.commit")
    await send(ws, "response.create", event_id="r1")
    return await recv_until(ws, "response.done")


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def after(events: list[dict[str, Any]], first: str) -> list[dict[str, Any]]:
    """``events`` from the first of type ``first`` on."""
    return events[kinds(events).index(first):]


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_a_call_round_trip_in_each_dialect(dialect: str) -> None:
    async with Simulator(answer="echo", pace=float("inf")) as sim, \
            connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
        updated = await setup(ws, dialect)
        assert updated["session"]["tools"] == TOOLS
        assert updated["session"]["tool_choice"] == "auto"
        sim.script(ScriptedResponse.of("set_timer", ARGS, delta_chars=8))
        done, events = await turn(ws)
        calls = after(events, "response.created")
        response_id = calls[0]["response"]["id"]
        assert kinds(calls) == [
            "response.created", "response.output_item.added", ITEM_ADDED[dialect],
            *["response.function_call_arguments.delta"] * 4,
            "response.function_call_arguments.done", "response.output_item.done"]
        added, conv_added = calls[1], calls[2]
        item_id, call_id = added["item"]["id"], added["item"]["call_id"]
        assert call_id.startswith("call_") and item_id != call_id
        assert added["response_id"] == response_id and added["output_index"] == 0
        assert added["item"] | {"id": None, "call_id": None} == {
            "id": None, "object": "realtime.item", "type": "function_call",
            "status": "in_progress", "name": "set_timer", "call_id": None, "arguments": ""}
        assert conv_added["item"] == added["item"]
        assert conv_added["previous_item_id"] == events[kinds(events).index(
            "input_audio_buffer.committed")]["item_id"]
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0,
                 "call_id": call_id}
        deltas = calls[3:7]
        assert all(d.items() >= where.items() for d in deltas)
        assert "".join(d["delta"] for d in deltas) == ARGS
        args_done, item_done = calls[7], calls[8]
        assert args_done.items() >= (where | {"arguments": ARGS}).items()
        assert args_done.get("name") == ("set_timer" if dialect == "ga" else None)
        assert item_done["item"] == added["item"] | {"status": "completed", "arguments": ARGS}
        assert done["response"]["status"] == "completed"
        assert done["response"]["status_details"] is None
        assert done["response"]["output"] == [item_done["item"]]
        assert DELTA[dialect] not in kinds(events)  # a call is not spoken
        # the client answers: the output, then a response.create for the spoken answer
        await send(ws, "conversation.item.create", event_id="o1", item={
            "type": "function_call_output", "call_id": call_id, "output": '{"ok": true}'})
        created, _ = await recv_until(ws, ITEM_ADDED[dialect])
        assert created["previous_item_id"] == item_id
        assert created["item"] | {"id": None} == {
            "id": None, "object": "realtime.item", "type": "function_call_output",
            "call_id": call_id, "output": '{"ok": true}', "status": "completed"}
        await send(ws, "response.create", event_id="r2")
        second, spoken = await recv_until(ws, "response.done")
        assert second["response"]["status"] == "completed"
        assert audio_of(spoken, DELTA[dialect])  # the answer is spoken: the tone
        assert [i["type"] for i in second["response"]["output"]] == ["message"]
    [call] = sim.tool_calls
    assert (call.connection, call.response_id, call.call_id, call.name, call.arguments,
            call.status, call.item_id, call.output_index) == (
        1, response_id, call_id, "set_timer", ARGS, "completed", item_id, 0)
    assert [(o.connection, o.call_id, o.output, o.known) for o in sim.tool_outputs] == [
        (1, call_id, '{"ok": true}', True)]
    assert sim.answer_audio(1)[1] == sim.answers[1].audio  # the second answer, whole
    for event in sent_events(sim):
        sdk_check(dialect, event)


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_two_calls_in_one_response_then_both_outputs(dialect: str) -> None:
    script = ScriptedResponse((ScriptedCall("set_timer", '{"seconds": 60}'),
                               ScriptedCall("get_time", "{}")))
    async with Simulator(answer="tone", pace=float("inf")) as sim, \
            connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
        await setup(ws, dialect)
        sim.script(script)
        done, events = await turn(ws)
        items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        indexes = [e["output_index"] for e in events
                   if e["type"] == "response.function_call_arguments.done"]
        assert [(i["name"], i["arguments"]) for i in items] == [
            ("set_timer", '{"seconds": 60}'), ("get_time", "{}")]
        assert indexes == [0, 1]
        assert len({i["call_id"] for i in items}) == 2 and len({i["id"] for i in items}) == 2
        assert done["response"]["output"] == items
        for item in items:
            await send(ws, "conversation.item.create", item={
                "type": "function_call_output", "call_id": item["call_id"], "output": "done"})
            await recv_until(ws, ITEM_ADDED[dialect])
        await send(ws, "response.create")
        second, _ = await recv_until(ws, "response.done")
        assert second["response"]["status"] == "completed"
    assert [c.call_id for c in sim.tool_calls] == [i["call_id"] for i in items]
    assert [c.output_index for c in sim.tool_calls] == [0, 1]
    assert [o.call_id for o in sim.tool_outputs] == [c.call_id for c in sim.tool_calls]
    assert all(o.known for o in sim.tool_outputs)
    for event in sent_events(sim):
        sdk_check(dialect, event)


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_speak_then_call(dialect: str) -> None:
    async with Simulator(answer="echo", pace=float("inf"), chunk_ms=100) as sim, \
            connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
        await setup(ws, dialect)
        sim.script(ScriptedResponse.of("set_timer", ARGS, speak_ms=300,
                                       transcript="Sure, setting a timer."))
        done, events = await turn(ws)
        response = after(events, "response.created")
        names = kinds(response)
        # the preface is an ordinary audio item, finished before the call begins
        assert names.count(DELTA[dialect]) == 3
        message_done = names.index("response.output_item.done")
        assert response[message_done]["item"]["type"] == "message"
        assert message_done < names.index("response.function_call_arguments.delta")
        call_added = [e for e in response if e["type"] == "response.output_item.added"]
        assert [(e["item"]["type"], e["output_index"]) for e in call_added] == [
            ("message", 0), ("function_call", 1)]
        assert len(audio_of(events, DELTA[dialect])) == 300 * 48
        output = done["response"]["output"]
        assert [(i["type"], i["status"]) for i in output] == [
            ("message", "completed"), ("function_call", "completed")]
        assert output[0]["content"][0]["transcript"] == "Sure, setting a timer."
    assert sim.tool_calls[0].output_index == 1
    for event in sent_events(sim):
        sdk_check(dialect, event)


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_an_incomplete_response_leaves_its_calls_incomplete(dialect: str) -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim, \
            connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
        await setup(ws, dialect)
        sim.script(ScriptedResponse.of("set_timer", '{"seconds": 3', status="incomplete"),
                   ScriptedResponse((ScriptedCall("get_time", "{}", status="completed"),
                                     ScriptedCall("set_timer", '{"sec')), status="cancelled"))
        done, events = await turn(ws)
        item_done = next(e for e in events if e["type"] == "response.output_item.done")
        assert item_done["item"]["status"] == "incomplete"
        assert item_done["item"]["arguments"] == '{"seconds": 3'  # sent as is, not JSON
        assert done["response"]["status"] == "incomplete"
        assert done["response"]["status_details"] == {"type": "incomplete",
                                                      "reason": "max_output_tokens"}
        assert [i["status"] for i in done["response"]["output"]] == ["incomplete"]
        await send(ws, "response.create")
        cancelled, _ = await recv_until(ws, "response.done")
        assert cancelled["response"]["status_details"] == {"type": "cancelled",
                                                           "reason": "turn_detected"}
        assert [i["status"] for i in cancelled["response"]["output"]] == [
            "completed", "incomplete"]
    assert [c.status for c in sim.tool_calls] == ["incomplete", "completed", "incomplete"]
    for event in sent_events(sim):
        sdk_check(dialect, event)


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_an_unknown_call_id_is_an_error_naming_the_event(dialect: str) -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        async with connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
            await setup(ws, dialect)
            sim.script(ScriptedResponse.of("get_time"))
            done, _ = await turn(ws)
            call_id = done["response"]["output"][0]["call_id"]
            await send(ws, "conversation.item.create", event_id="evt_out_1", item={
                "type": "function_call_output", "call_id": "call_made_up", "output": "12:00"})
            error, _ = await recv_until(ws, "error")
            assert error["error"] == {
                "type": "invalid_request_error", "code": UNKNOWN_CALL_CODE,
                "message": "Tool call ID 'call_made_up' not found in conversation.",
                "param": None, "event_id": "evt_out_1"}
        # another connection did not make that call: the id is unknown there too
        async with connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
            await setup(ws, dialect)
            await send(ws, "conversation.item.create", event_id="evt_out_2", item={
                "type": "function_call_output", "call_id": call_id, "output": "12:00"})
            error, _ = await recv_until(ws, "error")
            assert error["error"]["event_id"] == "evt_out_2"
            assert call_id in error["error"]["message"]
            # and the session carries on
            await send(ws, "response.create")
            after_error, _ = await recv_until(ws, "response.done")
            assert after_error["response"]["status"] == "completed"
    assert [(o.connection, o.call_id, o.known) for o in sim.tool_outputs] == [
        (1, "call_made_up", False), (2, call_id, False)]
    assert [(c.connection, c.call_id) for c in sim.tool_calls] == [(1, call_id)]
    for event in sent_events(sim):
        sdk_check(dialect, event)


@aio
async def test_a_barge_in_during_the_hold_cancels_with_the_call_sent() -> None:
    async with Simulator(answer="echo", pace=float("inf")) as sim, \
            connect(sim.url, **OPEN) as ws:
        await setup(ws, "ga", audio={"input": {"turn_detection": {
            "type": "server_vad", "silence_duration_ms": 200}}})
        sim.script(ScriptedResponse.of("set_timer", ARGS, hold_s=30.0))
        for piece in chunks(tone(300) + quiet(300)):  # server VAD creates the response
            await append(ws, piece)
        item_done, _ = await recv_until(ws, "response.output_item.done")
        assert item_done["item"]["type"] == "function_call"
        with pytest.raises(TimeoutError):  # held: no response.done yet
            await asyncio.wait_for(recv_until(ws, "response.done"), 0.3)
        await append(ws, tone(100))  # the user speaks again
        await recv_until(ws, "input_audio_buffer.speech_started")
        done, _ = await recv_until(ws, "response.done")
        assert done["response"]["status_details"] == {"type": "cancelled",
                                                      "reason": "turn_detected"}
        assert done["response"]["output"] == [item_done["item"]]
    for event in sent_events(sim):
        sdk_check("ga", event)


@aio
async def test_a_link_drop_during_the_hold_leaves_the_call_unanswered() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim, \
            connect(sim.url, **OPEN) as ws:
        await setup(ws, "ga")
        sim.script(ScriptedResponse.of("set_timer", ARGS, hold_s=30.0))
        await send(ws, "response.create")
        await recv_until(ws, "response.function_call_arguments.done")
        await sim.drop_all()
        with pytest.raises(ConnectionClosed):
            await recv_until(ws, "response.done")
    assert [c.name for c in sim.tool_calls] == ["set_timer"] and sim.tool_outputs == []


@aio
async def test_call_faults_script_the_next_responses_on_any_connection() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        fault, times = parse_spec('call:get_time:{"zone": "UTC"}')
        assert times == 1
        sim.inject(fault, 2)
        sim.inject(Fault.call("set_timer", "not json"))
        assert sim.pending_faults() == []  # no connection's fault
        assert [s.calls[0].name for s in sim.pending_scripts()] == [
            "get_time", "get_time", "set_timer"]
        names = []
        for _ in range(2):
            async with connect(sim.url, **OPEN) as ws:
                await setup(ws, "ga")
                for _ in range(2):
                    await send(ws, "response.create")
                    done, _ = await recv_until(ws, "response.done")
                    names.append([i.get("name") for i in done["response"]["output"]])
        assert names == [["get_time"], ["get_time"], ["set_timer"], [None]]
        assert sim.tool_calls[2].arguments == "not json"
        assert [c.connection for c in sim.tool_calls] == [1, 1, 2]
        sim.script(ScriptedResponse.of("get_time"))
        sim.clear_scripts()
        assert sim.pending_scripts() == []
        with pytest.raises(TypeError, match="ScriptedResponse"):
            sim.script(fault)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
@aio
async def test_bad_tools_in_session_update_get_an_error(dialect: str) -> None:
    async with Simulator() as sim, \
            connect(sim.url, additional_headers=HEADERS[dialect], **OPEN) as ws:
        await setup(ws, dialect)
        extra = {"type": "realtime"} if dialect == "ga" else {}
        await send(ws, "session.update", event_id="s2", session={
            **extra, "tools": [{"type": "function", "description": "no name"}]})
        error, _ = await recv_until(ws, "error")
        assert error["error"]["code"] == "missing_required_parameter"
        assert error["error"]["param"] == "session.tools[0].name"
        assert error["error"]["event_id"] == "s2"
        session = sim.session(1)
        assert session is not None and session["tools"] == TOOLS
        for event in sent_events(sim):
            sdk_check(dialect, event)
