"""Server-side MCP: the session entries, the events, the approvals, the journal.

The realtime API (GA only) calls a remote MCP server itself; edged passes the server
on in the session with its token from a credential, answers the API's approval
requests from the config, and journals what the API did. Real components throughout:
the codec, the credentials reader on real files, the redactor, the observer's log
records, the simulator over loopback WebSocket, and the official ``openai`` SDK's
models as an independent check of every frame. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from edged.config import Config, HealthConfig, McpServerConfig, RealtimeConfig, parse
from edged.daemon import Timeline
from edged.daemon.observe import Observer
from edged.daemon.translate import McpApprovals, mcp_approval
from edged.health.metrics import Metrics
from edged.health.reporter import HealthReporter
from edged.realtime import codec
from edged.realtime import events as rt
from edged.realtime.codec import Decoder
from edged.realtime.credentials import Secret
from edged.realtime.mcp import McpSetup, load_servers
from edged.realtime.sanitize import sanitize_event
from edged.redact import REDACTOR
from edged.simulator import ScriptedMcpCall, ScriptedResponse, Simulator
from tests.rigs.openai_types import CLIENT, SDK_GAPS, SERVER, check
from tests.rigs.realtime_client import aio

TOKEN = "mcp-tok-Xq7Lp2Vn9Rs4Tz8Wk3Yb6Hd"
HOME = rt.McpServer("home", "https://mcp.example.org/mcp", ("lights", "unlock"), "always",
                    {"X-Home": "kitchen"}, Secret(TOKEN))
SERVERS = (McpServerConfig("weather", "https://w.example.org/mcp", require_approval="never"),
           McpServerConfig("home", "https://mcp.example.org/mcp", ("lights", "unlock"),
                           approve=("lights",)))


# --------------------------------------------------------------------------- the session


def test_a_ga_session_offers_each_server_with_its_token_after_the_functions() -> None:
    timer = rt.ToolSpec("set_timer", "A timer.", {"type": "object", "properties": {}})
    session = rt.Session(tools=(timer,), mcp_servers=(HOME, rt.McpServer(
        "open", "https://open.example.org/mcp", require_approval="never")))
    event = json.loads(codec.encode(rt.SessionUpdate(session, "s1"), "ga"))
    assert event["session"]["tools"] == [
        {"type": "function", "name": "set_timer", "description": "A timer.",
         "parameters": {"type": "object", "properties": {}}},
        {"type": "mcp", "server_label": "home", "server_url": "https://mcp.example.org/mcp",
         "require_approval": "always", "allowed_tools": ["lights", "unlock"],
         "headers": {"X-Home": "kitchen"}, "authorization": TOKEN},
        {"type": "mcp", "server_label": "open", "server_url": "https://open.example.org/mcp",
         "require_approval": "never"},
    ]
    check(CLIENT["ga"], event)
    # and the SDK reads each field where edged meant it
    parsed = CLIENT["ga"]["session.update"].model_validate(event).session  # type: ignore[attr-defined]
    mcp = parsed.tools[1]
    assert (mcp.type, mcp.server_label, mcp.server_url, mcp.authorization, mcp.allowed_tools,
            mcp.require_approval, mcp.headers) == (
        "mcp", "home", "https://mcp.example.org/mcp", TOKEN, ["lights", "unlock"], "always",
        {"X-Home": "kitchen"})


def test_the_beta_dialect_never_carries_an_mcp_server() -> None:
    session = rt.Session(mcp_servers=(HOME,))
    for fields in (None, frozenset({"mcp_servers"}), frozenset({"tools"})):
        event = json.loads(codec.encode(rt.SessionUpdate(session, "s1", fields), "beta"))
        assert event["session"]["tools"] == []
        assert TOKEN not in json.dumps(event)
        check(CLIENT["beta"], event)


def test_a_change_of_servers_alone_resends_the_tools_with_the_functions() -> None:
    timer = rt.ToolSpec("set_timer", "A timer.", {"type": "object"})
    old = rt.Session(tools=(timer,))
    new = rt.Session(tools=(timer,), mcp_servers=(HOME,))
    changed = rt.session_changes(old, new)
    assert changed == {"mcp_servers"}
    event = json.loads(codec.encode(rt.SessionUpdate(new, "s2", changed), "ga"))
    assert event["session"] == {"type": "realtime", "tools": [
        {"type": "function", "name": "set_timer", "description": "A timer.",
         "parameters": {"type": "object"}},
        {"type": "mcp", "server_label": "home", "server_url": "https://mcp.example.org/mcp",
         "require_approval": "always", "allowed_tools": ["lights", "unlock"],
         "headers": {"X-Home": "kitchen"}, "authorization": TOKEN}]}


def test_a_session_shows_no_token_when_printed() -> None:
    text = repr(rt.session_from_config(RealtimeConfig(), handsfree=False, mcp=(HOME,)))
    assert "home" in text and TOKEN not in text


# --------------------------------------------------------------------------- credentials


def _rt(**entry: Any) -> RealtimeConfig:
    fields = {"server_label": "home", "server_url": "https://mcp.example.org/mcp", **entry}
    return RealtimeConfig(mcp_servers=(McpServerConfig(**fields),))


def test_the_token_comes_from_the_systemd_credential_and_is_masked_from_then_on(
        tmp_path: Path) -> None:
    (tmp_path / "home-mcp").write_text(TOKEN + "\n")
    setup = load_servers(_rt(authorization_credential="home-mcp",
                             authorization_file="/nonexistent/home"),
                         {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    [server] = setup.servers
    assert server.authorization == Secret(TOKEN) and not setup.left_out
    assert TOKEN not in REDACTOR.redact(f"token {TOKEN} in a line")


def test_the_token_file_is_read_when_it_is_root_only(tmp_path: Path) -> None:
    path = tmp_path / "mcp-token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    setup = load_servers(_rt(authorization_file=str(path)), {})
    assert setup.servers[0].authorization == Secret(TOKEN)


def test_a_server_without_a_token_source_is_offered_without_one() -> None:
    setup = load_servers(_rt(), {})
    assert setup.servers[0].authorization is None and not setup.left_out


@pytest.mark.parametrize("mode", [None, 0o644])
def test_an_unreadable_token_leaves_that_server_out_and_says_which_credential(
        tmp_path: Path, mode: int | None) -> None:
    path = tmp_path / "mcp-token"
    if mode is not None:
        path.write_text(TOKEN)
        path.chmod(mode)
    rt_cfg = RealtimeConfig(mcp_servers=(
        McpServerConfig("open", "https://open.example.org/mcp"),
        McpServerConfig("home", "https://mcp.example.org/mcp",
                        authorization_credential="home-mcp", authorization_file=str(path))))
    setup = load_servers(rt_cfg, {})
    assert [s.server_label for s in setup.servers] == ["open"]
    [why] = setup.left_out
    assert why.startswith("realtime.mcp_servers[1] (home): not offered to the model: ")
    assert str(path) in why and TOKEN not in why
    if mode is None:  # every source named, with why it failed
        assert "systemd credential 'home-mcp' ($CREDENTIALS_DIRECTORY is not set)" in why
    else:  # a token others can read may have leaked: refused, with the fix
        assert "refusing" in why and f"chmod 600 {path}" in why


def test_with_the_beta_dialect_no_server_is_offered_and_the_reason_is_given() -> None:
    cfg = RealtimeConfig(provider="azure", azure_resource="res", api_version="2024-10-01",
                         mcp_servers=(McpServerConfig("home", "https://m.example.org/mcp"),))
    setup = load_servers(cfg, {})
    assert setup.servers == () and setup.beta is not None
    assert "beta dialect" in setup.beta and "realtime.mcp_servers" in setup.beta


# --------------------------------------------------------------------------- decoding


def _item(kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": "mcp_1", "type": kind, **fields}


_CALL = _item("mcp_call", server_label="home", name="lights", arguments='{"on": true}',
              output="done", error=None)
_FAILED = _item("mcp_call", server_label="home", name="lights", arguments="{}",
                error={"type": "http_error", "code": 502, "message": "Bad gateway"})
_ASK = _item("mcp_approval_request", server_label="home", name="unlock",
             arguments='{"door": "front"}')
_LIST = _item("mcp_list_tools", server_label="home", tools=[
    {"name": "lights", "input_schema": {}}, {"name": "unlock", "input_schema": {}}])

DECODED: list[tuple[dict[str, Any], rt.ServerEvent]] = [
    ({"type": "mcp_list_tools.in_progress", "item_id": "mcp_1"},
     rt.McpListToolsStatus("mcp_1", "in_progress")),
    ({"type": "mcp_list_tools.completed", "item_id": "mcp_1"},
     rt.McpListToolsStatus("mcp_1", "completed")),
    ({"type": "mcp_list_tools.failed", "item_id": "mcp_1"},
     rt.McpListToolsStatus("mcp_1", "failed")),
    ({"type": "response.mcp_call.in_progress", "item_id": "mcp_1", "output_index": 0},
     rt.McpCallStatus("mcp_1", "in_progress")),
    ({"type": "response.mcp_call.completed", "item_id": "mcp_1", "output_index": 0},
     rt.McpCallStatus("mcp_1", "completed")),
    ({"type": "response.mcp_call.failed", "item_id": "mcp_1", "output_index": 0},
     rt.McpCallStatus("mcp_1", "failed")),
    ({"type": "response.mcp_call_arguments.done", "response_id": "r1", "item_id": "mcp_1",
      "output_index": 0, "arguments": '{"on": true}'},
     rt.McpCallArguments("r1", "mcp_1", '{"on": true}')),
    ({"type": "conversation.item.added", "previous_item_id": None, "item": _LIST},
     rt.McpToolList("mcp_1", "home", ("lights", "unlock"), done=False)),
    ({"type": "conversation.item.done", "item": _LIST},
     rt.McpToolList("mcp_1", "home", ("lights", "unlock"), done=True)),
    ({"type": "conversation.item.done", "item": _CALL},
     rt.McpCall("mcp_1", "home", "lights", '{"on": true}', "done", None, None, True)),
    ({"type": "response.output_item.done", "response_id": "r1", "output_index": 0,
      "item": _FAILED},
     rt.McpCall("mcp_1", "home", "lights", "{}", None, "http_error 502: Bad gateway", "r1",
                True)),
    ({"type": "conversation.item.added", "item": {**_CALL, "arguments": "", "output": None}},
     rt.McpCall("mcp_1", "home", "lights", "", None, None, None, False)),
    ({"type": "conversation.item.added", "item": _ASK},
     rt.McpApprovalRequest("mcp_1", "home", "unlock", '{"door": "front"}')),
    ({"type": "conversation.item.done", "item": _ASK},
     rt.McpApprovalRequest("mcp_1", "home", "unlock", '{"door": "front"}')),
    ({"type": "response.output_item.done", "response_id": "r1", "output_index": 0,
      "item": _ASK},
     rt.McpApprovalRequest("mcp_1", "home", "unlock", '{"door": "front"}', "r1")),
]


@pytest.mark.parametrize(("raw", "event"), DECODED, ids=lambda v: v.get("type", "")
                         if isinstance(v, dict) else type(v).__name__)
def test_each_mcp_event_and_item_decodes_to_its_typed_event(
        raw: dict[str, Any], event: rt.ServerEvent) -> None:
    d = Decoder("ga")
    assert d.decode(json.dumps({"event_id": "e1", **raw})) == event
    assert (d.decoded, d.ignored, d.unknown, d.malformed) == (1, 0, 0, 0)


def test_argument_deltas_and_other_items_are_known_and_ignored_not_unknown() -> None:
    d = Decoder("ga")
    for raw in ({"type": "response.mcp_call_arguments.delta", "response_id": "r1",
                 "item_id": "mcp_1", "output_index": 0, "delta": '{"on'},
                {"type": "conversation.item.added", "item": {"id": "i", "type": "message",
                                                             "role": "user", "content": []}},
                {"type": "conversation.item.done", "item": {"id": "i", "type": "message"}}):
        assert d.decode(json.dumps(raw)) is None
    assert (d.decoded, d.ignored, d.unknown, d.malformed) == (0, 3, 0, 0)


@pytest.mark.parametrize("raw", [
    {"type": "mcp_list_tools.completed"},
    {"type": "response.mcp_call.failed", "item_id": 4},
    {"type": "conversation.item.done", "item": {**_CALL, "server_label": None}},
    {"type": "conversation.item.added", "item": {**_ASK, "name": 3}},
    {"type": "conversation.item.done", "item": {**_LIST, "tools": [{"input_schema": {}}]}},
    {"type": "response.mcp_call_arguments.delta", "item_id": "mcp_1", "delta": None},
])
def test_a_broken_mcp_event_is_malformed_not_a_crash(raw: dict[str, Any]) -> None:
    d = Decoder("ga")
    assert d.decode(json.dumps(raw)) is None
    assert (d.decoded, d.malformed) == (0, 1)


def test_server_text_in_mcp_events_is_cleaned_but_arguments_stay_whole() -> None:
    long_args = json.dumps({"text": "x" * 1000})
    event = rt.McpCall("mcp_1", "home", "lights", long_args, "out", f"boom {TOKEN}")
    REDACTOR.register(TOKEN, "mcp:home")
    clean = sanitize_event(event)
    assert isinstance(clean, rt.McpCall)
    assert clean.arguments == long_args and TOKEN not in (clean.error or "")
    tools = sanitize_event(rt.McpToolList("l", "home", (f"x{TOKEN}",), True))
    assert isinstance(tools, rt.McpToolList) and TOKEN not in tools.tools[0]


# --------------------------------------------------------------------------- approvals


def _ask(label: str, name: str) -> rt.McpApprovalRequest:
    return rt.McpApprovalRequest("mcpr_1", label, name, "{}", "r1")


def test_a_tool_in_the_servers_approve_list_is_approved_without_a_reason() -> None:
    assert mcp_approval(_ask("home", "lights"), SERVERS, "edged_mcpa_1", "e1") == \
        rt.McpApprovalResponse("mcpr_1", True, "edged_mcpa_1", None, "e1")


def test_a_tool_not_in_the_list_is_denied_with_the_key_that_would_allow_it() -> None:
    answer = mcp_approval(_ask("home", "unlock"), SERVERS, "edged_mcpa_2")
    assert (answer.approve, answer.approval_request_id) == (False, "mcpr_1")
    assert answer.reason is not None and "'unlock'" in answer.reason
    assert "realtime.mcp_servers[1].approve" in answer.reason


def test_a_server_edged_does_not_know_is_denied() -> None:
    answer = mcp_approval(_ask("garage", "lights"), SERVERS, "edged_mcpa_3")
    assert answer.approve is False and "'garage'" in (answer.reason or "")
    # a tool approved on another server is no approval on this one
    assert mcp_approval(_ask("weather", "lights"), SERVERS, "x").approve is False


def test_each_request_is_answered_once_whichever_event_brings_it() -> None:
    approvals = McpApprovals()
    first = approvals.answer(_ask("home", "lights"), SERVERS, "edged_mcpa_1")
    assert first is not None and first.approve
    assert approvals.answer(_ask("home", "lights"), SERVERS, "edged_mcpa_2") is None
    other = rt.McpApprovalRequest("mcpr_2", "home", "lights")
    assert approvals.answer(other, SERVERS, "edged_mcpa_3") is not None


@pytest.mark.parametrize("answer", [
    rt.McpApprovalResponse("mcpr_1", True, "edged_mcpa_1", None, "e1"),
    rt.McpApprovalResponse("mcpr_1", False, "edged_mcpa_2", "not approved", None),
])
def test_the_answer_is_an_item_the_sdk_declares(answer: rt.McpApprovalResponse) -> None:
    event = json.loads(codec.encode(answer, "ga"))
    check(CLIENT["ga"], event)
    item = CLIENT["ga"]["conversation.item.create"].model_validate(event).item  # type: ignore[attr-defined]
    assert (item.type, item.id, item.approval_request_id, item.approve, item.reason) == (
        "mcp_approval_response", answer.item_id, "mcpr_1", answer.approve, answer.reason)
    assert ("reason" in event["item"]) is (answer.reason is not None)


# --------------------------------------------------------------------------- the journal


def _observer() -> tuple[Observer, list[tuple[str, dict[str, Any]]]]:
    metrics = Metrics(0.0)
    obs = Observer(metrics, HealthReporter(metrics, HealthConfig(), write=lambda *a: None),
                   Timeline())
    seen: list[tuple[str, dict[str, Any]]] = []
    obs.listeners.append(lambda kind, fields: seen.append((kind, fields)))
    return obs, seen


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, dict[str, Any]]]:
    return [(r.levelno, r.getMessage(), r.fields) for r in caplog.records  # type: ignore[attr-defined]
            if getattr(r, "fields", {}).get("kind") == "mcp"]


def test_one_record_per_call_whatever_order_its_pieces_come_in(
        caplog: pytest.LogCaptureFixture) -> None:
    obs, seen = _observer()
    caplog.set_level(logging.INFO, logger="edged")
    call = rt.McpCall("mcp_1", "home", "lights", "{}", "on", None, "r1", True)
    for event in (rt.McpCall("mcp_1", "home", "lights"), rt.McpCallStatus("mcp_1", "in_progress"),
                  rt.McpCallArguments("r1", "mcp_1", "{}"),
                  rt.McpCallStatus("mcp_1", "completed"), call, call):  # done twice: one record
        obs.server_event(event, 1.0)
    failed = rt.McpCall("mcp_2", "home", "unlock", "{}", None, "tool_execution_error: jammed",
                        "r1", True)
    obs.server_event(failed, 2.0)
    obs.server_event(rt.McpCallStatus("mcp_2", "failed"), 2.0)
    assert [(lvl, text) for lvl, text, _ in _records(caplog)] == [
        (logging.INFO, "mcp lights on home completed"),
        (logging.WARNING, "mcp unlock on home failed: tool_execution_error: jammed")]
    assert _records(caplog)[1][2] == {
        "kind": "mcp", "mcp": "call", "item_id": "mcp_2", "server_label": "home",
        "tool": "unlock", "status": "failed", "error": "tool_execution_error: jammed"}
    assert [k for k, _ in seen] == ["mcp", "mcp"]


def test_tool_lists_are_journaled_with_their_server_and_count(
        caplog: pytest.LogCaptureFixture) -> None:
    obs, _ = _observer()
    caplog.set_level(logging.INFO, logger="edged")
    for event in (rt.McpToolList("l1", "home"), rt.McpListToolsStatus("l1", "in_progress"),
                  rt.McpListToolsStatus("l1", "completed"),
                  rt.McpToolList("l1", "home", ("lights", "unlock"), True),
                  rt.McpToolList("l2", "weather"), rt.McpListToolsStatus("l2", "failed")):
        obs.server_event(event, 1.0)
    assert [(lvl, text, f.get("tools")) for lvl, text, f in _records(caplog)] == [
        (logging.INFO, "mcp server home lists 2 tool(s)", 2),
        (logging.WARNING, "mcp server weather failed to list its tools", None)]


def test_approvals_are_journaled_with_the_decision_and_arguments_only_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    obs, seen = _observer()
    caplog.set_level(logging.DEBUG, logger="edged")
    request = rt.McpApprovalRequest("mcpr_1", "home", "unlock", '{"code": "4711"}')
    answer = mcp_approval(request, SERVERS, "a1")
    obs.mcp_approval(request, answer, True, 1.0)
    [(level, text, fields)] = _records(caplog)
    assert level == logging.INFO and text.startswith("mcp unlock on home denied (")
    assert fields["approve"] is False and fields["reason"] == answer.reason
    assert seen == [("mcp", {"event": "approval", **{k: v for k, v in fields.items()
                                                     if k not in ("kind", "mcp")}})]
    private = [r for r in caplog.records if "4711" in r.getMessage()]
    assert [r.levelno for r in private] == [logging.DEBUG]


def test_why_a_server_is_not_offered_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    obs, _ = _observer()
    caplog.set_level(logging.INFO, logger="edged")
    setup = McpSetup((), ("realtime.mcp_servers[0] (home): not offered to the model: x",))
    obs.mcp_setup(setup)
    obs.mcp_setup(setup)  # a reload that changed nothing
    assert [t for _, t, _ in _records(caplog)] == [setup.left_out[0]]
    obs.mcp_setup(McpSetup(beta="the beta dialect has no MCP"))
    assert [t for _, t, _ in _records(caplog)][-1] == "the beta dialect has no MCP"


# --------------------------------------------------------------------------- the simulator


def _frames(sim: Simulator) -> list[dict[str, Any]]:
    return [json.loads(f) for _, f in sim.sent if isinstance(f, str)]


async def _until(ws: Any, type_: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            if event.get("type") == type_:
                return dict(event)


@aio
async def test_the_simulator_scripts_the_whole_mcp_flow_in_frames_the_sdk_declares() -> None:
    """Tools listed (one server fails), a call made, one asked and approved, one asked and
    denied: every frame either way validated against the SDK, and edged's decoder takes
    every server frame as known (nothing unknown, nothing malformed)."""
    async with Simulator(answer="tone", pace=float("inf"), tone_s=0.3,
                         mcp_tools={"home": ("lights", "unlock"), "down": None}) as sim:
        sim.script(ScriptedResponse(mcp=(
            ScriptedMcpCall("home", "lights", '{"room": "hall", "on": true}', output="on"),
            ScriptedMcpCall("home", "lights", '{"room": "attic"}', ask=True),
            ScriptedMcpCall("home", "unlock", "{}", ask=True, error="never reached"),
            ScriptedMcpCall("home", "lights", "{}", error="bulb broken"),
        ), speak_ms=300, delta_chars=5))
        session = rt.Session(mcp_servers=(HOME, rt.McpServer(
            "down", "https://down.example.org/mcp")))
        sent: list[dict[str, Any]] = []

        async with connect(sim.url + "/v1/realtime?model=gpt-realtime") as ws:
            async def send(event: rt.ClientEvent) -> None:
                sent.append(json.loads(codec.encode(event, "ga")))
                await ws.send(codec.encode(event, "ga"))

            await send(rt.SessionUpdate(session, "s1"))
            await _until(ws, "mcp_list_tools.failed")
            await send(rt.ItemCreateText("lights in the attic, and open the door", "t1"))
            await send(rt.ResponseCreate("r1"))
            approvals = McpApprovals()
            answered = 0
            while answered < 2:
                event = await _until(ws, "conversation.item.done")
                decoded = Decoder("ga").decode(json.dumps(event))
                if isinstance(decoded, rt.McpApprovalRequest):
                    answer = approvals.answer(decoded, SERVERS, f"edged_mcpa_{answered}",
                                              f"e{answered}")
                    assert answer is not None
                    await send(answer)
                    answered += 1
            done = await _until(ws, "response.done")
        frames = _frames(sim)

    assert TOKEN not in json.dumps(frames)  # the server never echoes the token
    for event in frames:
        check(SERVER["ga"], event, SDK_GAPS["ga"])
    for event in sent:
        check(CLIENT["ga"], event)
    decoder = Decoder("ga")
    for event in frames:
        decoder.decode(json.dumps(event))
    assert (decoder.unknown, decoder.malformed) == (0, 0), decoder.unknown_types
    kinds = {e["type"] for e in frames}
    assert {"mcp_list_tools.in_progress", "mcp_list_tools.completed", "mcp_list_tools.failed",
            "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
            "response.mcp_call.in_progress", "response.mcp_call.completed",
            "response.mcp_call.failed"} <= kinds
    # the simulator's records: the approvals as sent, and only the approved calls made
    assert [(a.approve, a.reason is None, a.known) for a in sim.mcp_approvals] == [
        (True, True, True), (False, False, True)]
    assert "realtime.mcp_servers[1].approve" in (sim.mcp_approvals[1].reason or "")
    assert [(c.name, c.arguments, c.status, c.approval_request_id is not None)
            for c in sim.mcp_calls] == [
        ("lights", '{"room": "hall", "on": true}', "completed", False),
        ("lights", '{"room": "attic"}', "completed", True),
        ("lights", "{}", "failed", False)]
    output = done["response"]["output"]
    assert [i["type"] for i in output] == ["mcp_call", "mcp_approval_request", "mcp_call",
                                           "mcp_approval_request", "mcp_call", "message"]
    # the token reached the simulator's session, and only there
    assert sim.session(1)["tools"][0]["authorization"] == TOKEN  # type: ignore[index]


@aio
async def test_an_answer_for_a_request_never_made_is_refused_and_recorded() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        ws = await connect(sim.url + "/v1/realtime?model=gpt-realtime")
        try:
            await ws.send(codec.encode(rt.McpApprovalResponse("mcpr_x", True, "a1", None,
                                                              "e9"), "ga"))
            error = await _until(ws, "error")
        finally:
            await ws.close()
    assert (error["error"]["code"], error["error"]["event_id"]) == ("invalid_value", "e9")
    assert [(a.approval_request_id, a.known) for a in sim.mcp_approvals] == [("mcpr_x", False)]


# --------------------------------------------------------------------------- the link


def _config(url: str, tmp_path: Path, dialect: str = "auto") -> Config:
    return parse(f"""
realtime:
  provider: custom
  url: "{url}"
  dialect: {dialect}
  mcp_servers:
    - server_label: home
      server_url: https://mcp.example.org/mcp
      allowed_tools: [lights, unlock]
      approve: [lights]
      authorization_file: {tmp_path / "mcp-token"}
""")


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@aio
async def test_over_the_link_the_session_carries_the_server_only_on_ga(
        tmp_path: Path, dialect: str, caplog: pytest.LogCaptureFixture) -> None:
    from edged.realtime.link import Link, LinkStatus

    token = tmp_path / "mcp-token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    caplog.set_level(logging.DEBUG)
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        cfg = _config(sim.url, tmp_path, dialect)
        setup = load_servers(cfg.realtime, {})
        events: list[rt.ServerEvent] = []
        statuses: list[LinkStatus] = []
        link = Link(cfg, lambda: "sk-link-test-0123456789abcdef", events.append,
                    statuses.append, session=rt.session_from_config(
                        cfg.realtime, handsfree=False, mcp=setup.servers))
        task = asyncio.ensure_future(link.run())
        try:
            async with asyncio.timeout(20):  # the link's side: polled
                while not (link.status.up and (dialect == "beta" or any(
                        isinstance(e, rt.McpToolList) and e.done for e in events))):
                    await asyncio.sleep(0.02)
        finally:
            link.close()
            await task
    update = next(e for _, e in sim.events if e["type"] == "session.update")
    tools = update["session"]["tools"]
    if dialect == "ga":
        assert tools == [{"type": "mcp", "server_label": "home",
                          "server_url": "https://mcp.example.org/mcp",
                          "require_approval": "always", "allowed_tools": ["lights", "unlock"],
                          "authorization": TOKEN}]
        assert [(e.server_label, e.tools) for e in events
                if isinstance(e, rt.McpToolList) and e.done] == [("home", ("lights", "unlock"))]
    else:
        assert tools == [] and setup.beta is not None
    assert statuses[-1].unknown_events == 0
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
