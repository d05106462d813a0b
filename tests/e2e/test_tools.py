"""The speaker acts, against the real ``edged run``: tool rounds, timers, ringing, volume.

The simulator is scripted to answer with function calls (as a real model does: the
call in one response, the spoken answer in the next, once the outputs are back) and
checks every ``function_call_output`` against the ``call_id`` it sent. Turns are
typed with ``edged ctl say``; ``edged ctl watch`` follows them; the journal, the
simulator's records and PulseAudio's speaker say what came of them. Real
everything: PyAudio on the PulseAudio rig's paced devices, websockets over loopback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.control.client import ControlClient
from edged.simulator import Fault, ScriptedCall, ScriptedResponse
from tests.e2e.daemon_rig import WAIT_S, Edged, launch, wait, watch
from tests.rigs.ctl import Event, Watcher
from tests.rigs.journald import Journal
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse


def ctl(r: Edged, *args: str) -> str:
    done = r.ctl(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ask(r: Edged, cmd: str, **fields: Any) -> dict[str, Any]:
    """One control request's reply, as scripts see it."""
    with ControlClient(r.socket, timeout=WAIT_S) as client:
        return client.request(cmd, **fields)


def event(w: Watcher, kind: str, **data: Any) -> Event:
    return w.wait_for(lambda e: e["event"] == kind
                      and all(e["data"].get(k) == v for k, v in data.items()),
                      f"{kind} {data or ''}")


def idle(w: Watcher) -> Event:
    return w.wait_for(lambda e: e["event"] == "transition" and e["data"]["to"] == "idle",
                      "the turn's end")


def types_after(r: Edged, connection: int, item_type: str) -> list[str]:
    """The client event types the simulator got on ``connection`` after the first
    conversation.item.create of ``item_type``."""
    events = [e for n, e in r.sim.events() if n == connection]
    first = next(i for i, e in enumerate(events) if e["type"] == "conversation.item.create"
                 and e["item"]["type"] == item_type)
    return [e["type"] for e in events[first + 1:]]


def test_a_question_that_sets_a_timer_is_answered_then_it_rings_and_a_stop_ends_it(
        edged_run: Edged, journald: Journal, journal_cursor: str | None) -> None:
    r = edged_run
    w = watch(r)
    r.sim.script(ScriptedResponse.of("set_timer", '{"seconds": 3, "label": "tea"}'))
    ctl(r, "say", "set a timer for three seconds")
    call = event(w, "tool_call", name="set_timer")
    ran = event(w, "tool", tool="set_timer")
    assert ran["data"]["ok"] is True
    event(w, "tool_output_sent", call_id=call["data"]["call_id"])
    follow = event(w, "answer_started")
    assert follow["data"]["follow_up"] is True and follow["data"]["turn"] == 1
    idle(w)
    # the simulator got the output for the call it made, then exactly one request
    [sent] = r.sim.tool_calls()
    [told] = r.sim.tool_outputs()
    assert told.known and told.call_id == sent.call_id == call["data"]["call_id"]
    assert json.loads(told.output)["label"] == "tea"
    assert types_after(r, r.sim.connections(), "function_call_output") == ["response.create"]
    # set: listed, then ringing about three seconds after it was set
    listed = ask(r, "timers")["timers"]
    assert [(t["label"], t["kind"]) for t in listed] == [("tea", "timer")]
    rang = event(w, "ringing")
    assert "tea" in rang["data"]["labels"]
    assert ask(r, "timers")["ringing"]
    ctl(r, "stop")
    stopped = event(w, "ring_stopped")
    assert stopped["data"]["by"] == "ctl"
    assert ask(r, "timers")["timers"] == []
    # one journal record for the call: name, outcome, time, size; never its arguments
    [record] = journald.mine(journal_cursor, "EDGED_KIND=tool", pid=r.proc.pid)
    assert record["EDGED_TOOL"] == "set_timer" and record["EDGED_OK"] == "true"
    assert int(record["EDGED_OUTPUT_BYTES"]) == len(told.output.encode())
    assert "tea" not in record["MESSAGE"]
    w.stop()


def test_calls_that_cannot_run_are_each_answered_with_why(edged_run: Edged) -> None:
    """An unknown tool, arguments that are not JSON, arguments the schema refuses: each
    gets an {"error": ...} output, and the model one request for the rest."""
    r = edged_run
    w = watch(r)
    r.sim.script(ScriptedResponse(calls=(
        ScriptedCall("open_pod_bay_doors", "{}"),
        ScriptedCall("set_timer", '{"seconds": 5'),
        ScriptedCall("set_volume", '{"level": 400}'),
    )))
    ctl(r, "say", "do three impossible things")
    assert event(w, "answer_started", follow_up=True)["data"]["turn"] == 1
    idle(w)
    outputs = {o.call_id: o for o in r.sim.tool_outputs()}
    calls = {c.name: c.call_id for c in r.sim.tool_calls()}
    assert len(outputs) == 3 and all(o.known for o in outputs.values())
    errors = {name: json.loads(outputs[cid].output)["error"] for name, cid in calls.items()}
    assert "open_pod_bay_doors" in errors["open_pod_bay_doors"]
    assert "JSON" in errors["set_timer"]
    assert "level" in errors["set_volume"]
    assert ask(r, "volume")["level"] == 100  # nothing was changed
    assert types_after(r, r.sim.connections(), "function_call_output").count(
        "response.create") == 1
    w.stop()


def test_a_cancel_during_the_tool_round_keeps_the_timer_and_still_tells_the_model(
        edged_run: Edged) -> None:
    r = edged_run
    w = watch(r)
    r.sim.script(ScriptedResponse.of("set_timer", '{"seconds": 600, "label": "pasta"}',
                                     hold_s=2.0))
    ctl(r, "say", "pasta timer, ten minutes")
    event(w, "tool", tool="set_timer")
    ctl(r, "cancel")
    event(w, "barge_in", by="cancel")
    told = r.sim.wait_for_tool_outputs(1, timeout=WAIT_S)
    assert told[0].known
    idle(w)
    time.sleep(1.0)  # nothing more may follow the output
    assert "response.create" not in types_after(r, r.sim.connections(),
                                                "function_call_output")
    assert [t["label"] for t in ask(r, "timers")["timers"]] == ["pasta"]
    w.stop()


def test_a_call_done_while_the_link_drops_is_not_told_to_the_next_session(
        edged_run: Edged, journald: Journal, journal_cursor: str | None) -> None:
    r = edged_run
    w = watch(r)
    r.sim.script(ScriptedResponse.of("set_volume", '{"level": 40}', hold_s=3.0))
    first = r.sim.connections()
    ctl(r, "say", "quieter please")
    event(w, "tool", tool="set_volume")
    r.sim.drop_all()
    unsent = event(w, "tool_output_unsent", name="set_volume")
    assert unsent["data"]["ok"] is True
    wait(lambda: r.sim.connections() > first and r.link_up(), "the link back up")
    time.sleep(1.0)
    assert r.sim.tool_outputs() == []  # its call_id means nothing on the new session
    assert ask(r, "volume")["level"] == 40  # done locally all the same
    types = [e["type"] for n, e in r.sim.events() if n > first]
    assert "response.create" not in types and "input_audio_buffer.commit" not in types
    journald.mine(journal_cursor, "EDGED_KIND=tool_output_unsent", pid=r.proc.pid)
    w.stop()


def test_timers_and_the_volume_outlive_a_restart_and_a_due_timer_rings_at_start(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        ctl(r, "timers", "set", "2s", "eggs")
        ctl(r, "timers", "set", "1h", "bread")
        assert ctl(r, "volume", "30").split() == ["volume", "30"]
    time.sleep(2.5)  # eggs falls due while the speaker is off
    with launch(pulse, tmp_path) as r:
        state = ask(r, "timers")
        assert [t["label"] for t in state["timers"]] == ["bread"]
        assert 3500 < state["timers"][0]["remaining_s"] <= 3600
        assert state["ringing"] == ["eggs"]
        assert ask(r, "volume")["level"] == 30
        ctl(r, "stop")
        wait(lambda: ask(r, "timers")["ringing"] == [], "the ringing to stop")


def test_an_alarm_rings_with_the_link_down(pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        w = watch(r)
        r.sim.inject(Fault.refuse(503), times=1000)
        r.sim.drop_all()
        wait(lambda: not r.link_up(), "the link down")
        ctl(r, "timers", "set", "1s", "offline")
        assert "offline" in event(w, "ringing")["data"]["labels"]
        assert not r.link_up()
        w.stop()


def peak(pcm: bytes) -> int:
    samples = np.frombuffer(pcm, dtype="<i2")
    return int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0


def answer_peak(r: Edged, w: Watcher, text: str) -> int:
    """The loudest sample the speaker played for one typed question's answer."""
    with r.pulse.record_speaker() as rec:
        ctl(r, "say", text)
        event(w, "answer_started")
        idle(w)
        time.sleep(0.3)
        return peak(rec.stop())


def test_the_volume_scales_what_the_speaker_plays_and_a_reload_keeps_it(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path, doc={"audio": {"sounds": False}}) as r:
        w = watch(r)
        full = answer_peak(r, w, "a question at full volume")
        ctl(r, "volume", "50")
        half = answer_peak(r, w, "the same at half")
        assert full > 1000
        assert half / full == pytest.approx(0.25, abs=0.05)  # the level's square
        r.write(audio={"sounds": False, "volume": 0.8})
        assert ask(r, "reload")["changed"] == ["audio.volume"]
        assert ask(r, "volume")["level"] == 50
        w.stop()


def test_a_reload_that_switches_tools_off_tells_the_session(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        [first] = [e for _, e in r.sim.events() if e["type"] == "session.update"]
        offered = {t["name"] for t in first["session"]["tools"]}
        assert {"set_timer", "set_volume", "get_time", "end_conversation"} <= offered
        start = len(r.sim.events())
        r.write(tools={"timers": False, "clock": False})
        assert ask(r, "reload")["changed"] == ["tools.timers", "tools.clock"]
        wait(lambda: any(e["type"] == "session.update" for _, e in r.sim.events()[start:]),
             "the session told")
        [update] = [e for _, e in r.sim.events()[start:] if e["type"] == "session.update"]
        now = {t["name"] for t in update["session"]["tools"]}
        assert now == offered - {"set_timer", "set_alarm", "list_timers", "cancel_timer",
                                 "stop_ringing", "get_time"}
        assert set(update["session"]) <= {"type", "tools"}  # only what changed


def test_a_reload_to_another_state_directory_takes_timers_and_volume_from_there(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        ctl(r, "timers", "set", "1h", "first")
        ctl(r, "volume", "40")
        r.write(tools={"state_dir": str(tmp_path / "elsewhere")})
        assert ask(r, "reload")["changed"] == ["tools.state_dir"]
        assert ask(r, "timers")["timers"] == [] and ask(r, "volume")["level"] == 100
        ctl(r, "timers", "set", "2h", "second")
        kept = json.loads((tmp_path / "state" / "timers.json").read_text())["timers"]
        assert [t["label"] for t in kept] == ["first"]  # left where it was set
        moved = json.loads((tmp_path / "elsewhere" / "timers.json").read_text())["timers"]
        assert [t["label"] for t in moved] == ["second"]
