"""The simulator as the GA API calling remote MCP servers: tool lists, scripted calls,
approval requests that hold the response until the client answers, and the spellings
of the ``mcp`` and ``mcpask`` faults. The session core is driven sans I/O."""

from __future__ import annotations

from typing import Any

import pytest

from edged.simulator import Fault, FaultSpecError, ScriptedMcpCall, ScriptedResponse, parse_spec
from edged.simulator.audio import speech_like_tone
from edged.simulator.session import DEFAULT_MCP_TOOLS, SessionCore

TOKEN = "mcp-sim-Wq3Rt7Yp1Lk5Zx9Nb2Mv"
HOME = {"type": "mcp", "server_label": "home", "server_url": "https://mcp.example.org/mcp",
        "require_approval": "always", "authorization": TOKEN}


def core(dialect: str = "ga", **kw: Any) -> SessionCore:
    return SessionCore(dialect, "tone", tone=speech_like_tone(0.3), **kw)  # type: ignore[arg-type]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def update(c: SessionCore, *tools: dict[str, Any]) -> list[dict[str, Any]]:
    return c.receive({"type": "session.update", "session": {"type": "realtime",
                                                            "tools": list(tools)}})


def run(c: SessionCore) -> list[dict[str, Any]]:
    """Step the active response until it ends or waits for an approval."""
    out = c.begin_output()
    done = False
    while not done and not c.awaiting_approval():
        events, done = c.step()
        out += events
    return out


def test_a_new_server_lists_its_tools_once_and_its_token_is_not_echoed() -> None:
    c = core(mcp_tools={"home": ("lights", "unlock")})
    out = update(c, HOME)
    assert types(out) == ["session.updated", "conversation.item.added",
                          "mcp_list_tools.in_progress", "mcp_list_tools.completed",
                          "conversation.item.done"]
    assert "authorization" not in out[0]["session"]["tools"][0]
    assert c.session["tools"][0]["authorization"] == TOKEN  # kept for the tests to see
    assert [t["name"] for t in out[-1]["item"]["tools"]] == ["lights", "unlock"]
    assert out[1]["item"]["id"] == out[2]["item_id"] == out[-1]["item"]["id"]
    # an update that leaves the server as it was lists nothing again; a changed one does
    assert types(update(c, HOME)) == ["session.updated"]
    assert "mcp_list_tools.completed" in types(update(c, {**HOME, "allowed_tools": ["x"]}))


def test_a_server_lists_its_allowed_tools_or_the_default_and_may_fail() -> None:
    c = core(mcp_tools={"down": None})
    out = update(c, {**HOME, "allowed_tools": ["lights"]},
                 {**HOME, "server_label": "other"}, {**HOME, "server_label": "down"})
    done = [e for e in out if e["type"] == "conversation.item.done"]
    assert [[t["name"] for t in e["item"]["tools"]] for e in done] == [
        ["lights"], list(DEFAULT_MCP_TOOLS)]
    assert types(out)[-3:] == ["conversation.item.added", "mcp_list_tools.in_progress",
                               "mcp_list_tools.failed"]


def test_a_scripted_call_comes_first_then_the_answer_with_the_output_indices_in_order(
        ) -> None:
    c = core()
    update(c, HOME)
    c.scripts.append(ScriptedResponse(mcp=(
        ScriptedMcpCall("home", "lights", '{"on": true}', output="on"),
        ScriptedMcpCall("home", "lights", "{}", error="bulb broken")), speak_ms=200,
        delta_chars=4))
    out = c.receive({"type": "response.create"}) + run(c)
    kinds = types(out)
    assert kinds.index("response.mcp_call.completed") < kinds.index("response.mcp_call.failed") \
        < kinds.index("response.output_audio.delta")
    assert sum(k == "response.mcp_call_arguments.delta" for k in kinds) == 3 + 1
    done = out[-2]["response"]
    assert [i["type"] for i in done["output"]] == ["mcp_call", "mcp_call", "message"]
    assert done["output"][1]["error"] == {"type": "tool_execution_error",
                                          "message": "bulb broken"}
    added = [e for e in out if e["type"] == "response.output_item.added"]
    assert [e["output_index"] for e in added] == [0, 1, 2]
    assert [(m.name, m.status) for m in c.mcp_calls] == [("lights", "completed"),
                                                         ("lights", "failed")]


def test_an_approval_request_holds_the_response_until_the_client_answers() -> None:
    c = core()
    update(c, HOME)
    c.scripts.append(ScriptedResponse(mcp=(
        ScriptedMcpCall("home", "lights", "{}", ask=True),
        ScriptedMcpCall("home", "unlock", "{}", ask=True)), speak_ms=100))
    out = c.receive({"type": "response.create"}) + run(c)
    assert c.awaiting_approval() and "response.done" not in types(out)
    request = out[-1]["item"]
    assert (request["type"], request["name"]) == ("mcp_approval_request", "lights")
    assert c.step() == ([], False)  # nothing while it waits
    reply = c.receive({"type": "conversation.item.create", "item": {
        "type": "mcp_approval_response", "id": "a1", "approval_request_id": request["id"],
        "approve": True}})
    assert types(reply) == ["conversation.item.added"] and not c.awaiting_approval()
    out = run(c)
    second = out[-1]["item"]
    assert types(out)[-1] == "conversation.item.done" and second["name"] == "unlock"
    c.receive({"type": "conversation.item.create", "item": {
        "type": "mcp_approval_response", "id": "a2", "approval_request_id": second["id"],
        "approve": False, "reason": "not approved"}})
    out = run(c)
    assert "response.done" in types(out)
    assert [(m.name, m.approval_request_id) for m in c.mcp_calls] == [
        ("lights", request["id"])]
    assert [(a.approve, a.reason, a.known) for a in c.mcp_approvals] == [
        (True, None, True), (False, "not approved", True)]


def test_a_cancel_ends_a_response_that_waits_for_an_approval() -> None:
    c = core()
    update(c, HOME)
    c.scripts.append(ScriptedResponse(mcp=(ScriptedMcpCall("home", "x", ask=True),)))
    c.receive({"type": "response.create"})
    run(c)
    out = c.receive({"type": "response.cancel"})
    assert out[0]["response"]["status"] == "cancelled" and not c.awaiting_approval()


@pytest.mark.parametrize(("item", "code"), [
    ({"approval_request_id": "nope", "approve": True}, "invalid_value"),
    ({"approval_request_id": 3, "approve": True}, "invalid_type"),
    ({"approval_request_id": "x", "approve": "yes"}, "invalid_type"),
    ({"approval_request_id": "x", "approve": False, "reason": 4}, "invalid_type"),
])
def test_a_bad_approval_answer_is_refused(item: dict[str, Any], code: str) -> None:
    c = core()
    out = c.receive({"type": "conversation.item.create", "event_id": "e1",
                     "item": {"type": "mcp_approval_response", **item}})
    assert (types(out), out[0]["error"]["code"], out[0]["error"]["event_id"]) == (
        ["error"], code, "e1")


def test_a_beta_session_makes_no_mcp_call() -> None:
    c = core("beta")
    c.scripts.append(ScriptedResponse(mcp=(ScriptedMcpCall("home", "x"),), speak_ms=100))
    out = c.receive({"type": "response.create"}) + run(c)
    assert not [k for k in types(out) if "mcp" in k] and not c.mcp_calls


@pytest.mark.parametrize(("spec", "fault"), [
    ('mcp:home:lights:{"room": "Hall: 2"}', Fault.mcp_call("home", "lights",
                                                            '{"room": "Hall: 2"}')),
    ("MCPASK:home:unlock:{}", Fault.mcp_call("home", "unlock", "{}", ask=True)),
    ("mcp:home:status:", Fault.mcp_call("home", "status", "")),
])
def test_mcp_fault_spellings_keep_the_arguments_verbatim(spec: str, fault: Fault) -> None:
    assert parse_spec(spec) == (fault, 1)
    assert parse_spec(fault.describe()) == (fault, 1)
    scripted = fault.scripted()
    [call] = scripted.mcp
    assert (call.server_label, call.name, call.arguments, call.ask) == (
        fault.server_label, fault.tool, fault.arguments, fault.kind == "mcpask")
    assert scripted.speak_ms > 0  # the answer is spoken after the call


@pytest.mark.parametrize(("spec", "message"), [
    ("mcp:home", "needs a server label, a tool name and the arguments"),
    ("mcp:home:lights", "needs a server label"),
    ("mcp::lights:{}", "server label of 1–64"),
    ("mcpask:home:un lock:{}", "tool name of 1–64"),
])
def test_bad_mcp_spellings_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_spec(spec)


@pytest.mark.parametrize("fields", [
    {"server_label": ""}, {"name": ""}, {"arguments": 3}, {"error": ""},
])
def test_a_scripted_mcp_call_refuses_what_cannot_be_sent(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="MCP call"):
        ScriptedMcpCall(**{"server_label": "home", "name": "x", **fields})
