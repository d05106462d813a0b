"""A command tool the owner declared, against the real ``edged run``: the model's call
runs the program (its JSON arguments on stdin, its stdout the answer), and
``confirm: button`` makes the device, not the model, decide whether it runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edged.simulator import ScriptedResponse
from tests.e2e.daemon_rig import WAIT_S, launch, watch
from tests.e2e.test_tools import ctl, event, idle
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

PROGRAM = """\
import json, sys
args = json.load(sys.stdin)
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(args) + "\\n")
print(json.dumps({"door": "open" if args["action"] == "open" else "closed"}))
"""


def garage(tmp_path: Path, confirm: str) -> tuple[dict[str, object], Path]:
    script, ran = tmp_path / "garage.py", tmp_path / "ran.jsonl"
    script.write_text(PROGRAM)
    tool = {"name": "garage_door", "description": "Open or close the garage door.",
            "argv": [sys.executable, str(script), str(ran)], "confirm": confirm,
            "parameters": {"action": {"enum": ["open", "close"]}}}
    return {"tools": {"command": [tool], "confirm_timeout_s": 3}}, ran


def test_the_model_calls_the_program_and_hears_its_answer(pulse: PulseRig,
                                                          tmp_path: Path) -> None:
    doc, ran = garage(tmp_path, "none")
    with launch(pulse, tmp_path, doc=doc) as r:
        w = watch(r)
        try:
            r.sim.script(ScriptedResponse.of("garage_door", '{"action": "open"}'))
            ctl(r, "say", "open the garage")
            done = event(w, "tool", tool="garage_door")
            assert done["data"]["ok"] is True
            [told] = r.sim.wait_for_tool_outputs(1, timeout=WAIT_S)
            assert json.loads(told.output) == {"door": "open"}
            assert [json.loads(line) for line in ran.read_text().splitlines()] == [
                {"action": "open"}]
            idle(w)
        finally:
            w.stop()


def test_confirm_button_runs_only_after_a_press(pulse: PulseRig, tmp_path: Path) -> None:
    doc, ran = garage(tmp_path, "button")
    with launch(pulse, tmp_path, doc=doc) as r:
        w = watch(r)
        try:
            # no press: refused when confirm_timeout_s runs out, and the program never ran
            r.sim.script(ScriptedResponse.of("garage_door", '{"action": "open"}'))
            ctl(r, "say", "open the garage")
            event(w, "confirm_wanted", tool="garage_door")
            refused = event(w, "confirm_refused", tool="garage_door")
            assert refused["data"]["reason"] == "no press in time"
            [told] = r.sim.wait_for_tool_outputs(1, timeout=WAIT_S)
            assert "did not press a button to confirm" in json.loads(told.output)["error"]
            assert not ran.exists()
            idle(w)
            # a press (here the wake verb of edged ctl, as a button would be): it runs
            r.sim.script(ScriptedResponse.of("garage_door", '{"action": "close"}'))
            ctl(r, "say", "close the garage")
            event(w, "confirm_wanted", tool="garage_door")
            ctl(r, "wake")
            event(w, "confirmed", tool="garage_door", by="wake")
            outputs = r.sim.wait_for_tool_outputs(2, timeout=WAIT_S)
            assert json.loads(outputs[1].output) == {"door": "closed"}
            assert [json.loads(line) for line in ran.read_text().splitlines()] == [
                {"action": "close"}]
            idle(w)
            assert not [e for e in w.seen if e["event"] == "handsfree_started"]  # press spent
        finally:
            w.stop()
