"""The worked Home Assistant example against the real ``edged run``.

The daemon runs with config/examples/home-assistant.yaml's two tools pointed at the
Home Assistant rig (a real HTTP server process on 127.0.0.1,
tests/rigs/home_assistant.py), the token delivered as systemd does it: a file in
``$CREDENTIALS_DIRECTORY``. The simulator is scripted to call the tools, a typed
question (``edged ctl say``) starts the turn, and the rig's request log, the outputs
the simulator received and the journal say what came of it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from edged.simulator import ScriptedCall, ScriptedResponse
from tests.e2e.daemon_rig import WAIT_S, Edged, launch, watch
from tests.leaks import secret_runs
from tests.rigs.ctl import Event, Watcher
from tests.rigs.home_assistant import HomeAssistantRig
from tests.rigs.journald import Journal
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ha-e2e-Lw5Tq8Zr2Xm7Vb1Kp4Nc9"
CREDENTIAL = "home-assistant-token"
TURN_OFF = '{"action": "turn_off", "entity_id": "light.kitchen"}'


def example_tools(base: str, **changes: Any) -> list[dict[str, Any]]:
    """The example's tools as YAML data, pointed at ``base``, with ``changes`` applied."""
    doc = yaml.safe_load((ROOT / "config/examples/home-assistant.yaml").read_text())
    tools = doc["tools"]["http"]
    for tool in tools:
        tool["url"] = tool["url"].replace("http://homeassistant.local:8123", base)
        tool.update(changes)
    return list(tools)


def credentials(tmp_path: Path, token: str) -> dict[str, str]:
    """The environment systemd gives the unit for LoadCredential=home-assistant-token."""
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / CREDENTIAL).write_text(token)
    (directory / CREDENTIAL).chmod(0o400)
    return {"CREDENTIALS_DIRECTORY": str(directory)}


def started(w: Watcher, name: str) -> Event:
    return w.wait_for(lambda e: e["event"] == "tool" and e["data"].get("tool") == name,
                      f"the {name} call to finish")


def idle(w: Watcher) -> None:
    w.wait_for(lambda e: e["event"] == "transition" and e["data"]["to"] == "idle",
               "the turn's end")


def outputs(r: Edged, count: int) -> dict[str, Any]:
    """The function outputs the model was sent, by tool name, as JSON."""
    told = r.sim.wait_for_tool_outputs(count, timeout=WAIT_S)
    names = {c.call_id: c.name for c in r.sim.tool_calls()}
    assert all(o.known for o in told)
    return {names[o.call_id]: json.loads(o.output) for o in told}


def test_a_question_turns_the_kitchen_light_off_through_home_assistant(
        pulse: PulseRig, tmp_path: Path) -> None:
    with HomeAssistantRig(TOKEN, tmp_path) as ha, \
            launch(pulse, tmp_path, doc={"tools": {"http": example_tools(ha.url)}},
                   env=credentials(tmp_path, TOKEN)) as r:
        w = watch(r)
        r.sim.script(ScriptedResponse(calls=(
            ScriptedCall("light_control", TURN_OFF),
            ScriptedCall("ask_home_assistant", '{"text": "turn off the kitchen lights"}'))))
        done = r.ctl("say", "turn off the kitchen light")
        assert done.returncode == 0, done.stderr
        for name in ("light_control", "ask_home_assistant"):
            assert started(w, name)["data"]["ok"] is True
        told = outputs(r, 2)
        idle(w)
        w.stop()
        output = r.output()
    # Home Assistant got exactly that request, with the token
    light, ask = ha.requests()[0], ha.requests()[1]
    assert len(ha.requests()) == 2
    assert (light["method"], light["path"]) == ("POST", "/api/services/light/turn_off")
    assert light["body"] == {"entity_id": "light.kitchen"} and light["token_ok"]
    assert ask["body"] == {"text": "turn off the kitchen lights", "language": "en"}
    # and the model was told what Home Assistant said
    assert told["light_control"]["status"] == 200
    assert [(s["entity_id"], s["state"]) for s in told["light_control"]["result"]] == [
        ("light.kitchen", "off")]
    assert told["ask_home_assistant"]["response"]["speech"]["plain"]["speech"] == \
        "Turned off the lights"
    assert secret_runs(TOKEN, output) == []


def test_a_wrong_token_is_told_to_the_model_and_the_journal_names_the_credential(
        pulse: PulseRig, tmp_path: Path, journald: Journal,
        journal_cursor: str | None) -> None:
    wrong = "ha-e2e-revoked-Qz3Wx6Lm9Rt2Vb5"
    with HomeAssistantRig(TOKEN, tmp_path) as ha, \
            launch(pulse, tmp_path, doc={"tools": {"http": example_tools(ha.url)}},
                   env=credentials(tmp_path, wrong)) as r:
        w = watch(r)
        r.sim.script(ScriptedResponse.of("light_control", TURN_OFF))
        r.ctl("say", "turn off the kitchen light")
        assert started(w, "light_control")["data"]["ok"] is False
        told = outputs(r, 1)["light_control"]
        idle(w)
        w.stop()
        entries = journald.mine(journal_cursor, pid=r.proc.pid, timeout=WAIT_S,
                                until=lambda es: any("refused the token" in e.get("MESSAGE", "")
                                                     for e in es))
        output = r.output()
    assert told == {"error": f"127.0.0.1:{ha.port} refused the token (HTTP 401): check the "
                    f"systemd credential '{CREDENTIAL}' or the token file "
                    "/etc/edged/home-assistant-token"}
    [warning] = [e for e in entries if e.get("MESSAGE", "").startswith("tool light_control:")]
    assert warning["PRIORITY"] == "4" and CREDENTIAL in warning["MESSAGE"]
    [record] = [e for e in entries if e.get("EDGED_KIND") == "tool"]
    assert record["EDGED_OK"] == "false" and "HTTP 401" in record["EDGED_ERROR"]
    everything = json.dumps(entries) + output
    assert secret_runs(wrong, everything) == [] and secret_runs(TOKEN, everything) == []
    assert [r["token_ok"] for r in ha.requests()] == [False]


@pytest.mark.timeout(240)
def test_an_unreachable_or_silent_home_assistant_is_told_and_nothing_hangs(
        pulse: PulseRig, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with HomeAssistantRig(TOKEN, tmp_path, mode="slow") as silent:
        down = example_tools(f"http://127.0.0.1:{closed}")[0]  # light_control
        mute = example_tools(silent.url, timeout_s=1)[1]  # ask_home_assistant
        with launch(pulse, tmp_path, doc={"tools": {"http": [down, mute]}},
                    env=credentials(tmp_path, TOKEN)) as r:
            w = watch(r)
            r.sim.script(ScriptedResponse(calls=(
                ScriptedCall("light_control", TURN_OFF),
                ScriptedCall("ask_home_assistant", '{"text": "are the lights off?"}'))))
            r.ctl("say", "turn off the kitchen light")
            told = outputs(r, 2)
            idle(w)  # the answer came after both outputs, and the turn is over
            w.stop()
            assert r.link_up()  # the daemon is still there, its link up
        assert len(silent.requests()) == 1
    assert told["light_control"] == {
        "error": f"could not reach 127.0.0.1:{closed}: connection refused"}
    assert told["ask_home_assistant"] == {
        "error": f"127.0.0.1:{silent.port} did not answer within 1 s"}
