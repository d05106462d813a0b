"""SimulatorThread: the simulator on its own loop, driven from synchronous code."""

from __future__ import annotations

import base64
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from edged.simulator import Fault, ScriptedResponse, SimulatorThread, ToolOutput
from tests.rigs.realtime_client import quiet, tone


def test_a_synchronous_client_gets_a_full_turn_and_records_are_readable() -> None:
    pcm = tone(300) + quiet(100)
    with SimulatorThread(answer="echo", pace=8.0) as t:
        assert t.url.startswith("ws://127.0.0.1:")
        with connect(t.url, open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "audio": {"input": {"turn_detection": None}}}}))
            ws.send(json.dumps({"type": "input_audio_buffer.append",
                                "audio": base64.b64encode(pcm).decode()}))
            ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            ws.send(json.dumps({"type": "response.create"}))
            commit = t.wait_for_event("response.create", timeout=10)
            assert commit == {"type": "response.create"}
            while json.loads(ws.recv(10))["type"] != "response.done":
                pass
        assert t.connections() == 1
        assert t.answer_audio(1) == [pcm]
        assert t.events()[0][1]["type"] == "session.update"


def test_faults_and_drops_from_another_thread() -> None:
    with SimulatorThread() as t:
        t.inject(Fault.refuse(502))
        with pytest.raises(InvalidStatus):
            connect(t.url, open_timeout=10).close()
        with connect(t.url, open_timeout=10) as ws:
            ws.recv(10)
            t.drop_all()
            with pytest.raises(ConnectionClosed):
                ws.recv(10)
    # after stop the records stay readable, but the loop is gone
    assert [s for _, s in t.handshakes()] == [502, 101]
    with pytest.raises(RuntimeError, match="not running"):
        t.drop_all()
    with pytest.raises(RuntimeError, match="not running"):
        _ = SimulatorThread().url


def test_wait_for_event_times_out_with_a_message() -> None:
    with SimulatorThread() as t, pytest.raises(TimeoutError, match=r"response\.cancel"):
        t.wait_for_event("response.cancel", timeout=0.2)


def test_a_scripted_call_and_its_output_through_the_thread() -> None:
    with SimulatorThread(answer="tone", pace=float("inf")) as t:
        t.script(ScriptedResponse.of("get_time", '{"zone": "UTC"}', hold_s=0.1))
        with connect(t.url, open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            ws.send(json.dumps({"type": "response.create"}))
            while (event := json.loads(ws.recv(10)))["type"] != "response.done":
                pass
            [item] = event["response"]["output"]
            [call] = t.tool_calls()
            assert (call.name, call.arguments, call.call_id) == (
                "get_time", '{"zone": "UTC"}', item["call_id"])
            ws.send(json.dumps({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call.call_id, "output": "12:00"}}))
            assert t.wait_for_tool_outputs(1) == [ToolOutput(1, call.call_id, "12:00", True)]
        with pytest.raises(TimeoutError, match="2 function call output"):
            t.wait_for_tool_outputs(2, timeout=0.2)
    assert t.tool_outputs() == [ToolOutput(1, call.call_id, "12:00", True)]  # after stop too
