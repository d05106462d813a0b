"""confirm: button: a tool waits for a press, which answers it and does nothing else."""

from __future__ import annotations

from edged.conversation import (
    Cancel,
    ConfirmTool,
    ConfirmWanted,
    Phase,
    PttDown,
    SetLed,
    Settings,
    Tick,
    WakeHold,
    WakePress,
)
from tests.rigs.conversation import Driver, notices, sounds, wire

ASK = ConfirmWanted("garage_door", 8.0)


def test_a_press_confirms_and_is_spent_on_it() -> None:
    d = Driver()
    acts = d.send(ASK)
    assert SetLed("confirm") in acts and sounds(acts) == ["confirm"]
    assert notices(acts, "confirm_wanted")[0].fields == {"tool": "garage_door", "timeout_s": 8.0}
    acts = d.send(PttDown(), after=2.0)
    assert ConfirmTool("garage_door", True) in acts
    assert d.phase() is Phase.IDLE and wire(acts) == []  # no turn started: the press was spent
    assert notices(acts, "confirmed")[0].fields == {"tool": "garage_door", "by": "ptt"}
    assert SetLed("idle") in acts


def test_a_wake_press_confirms_too() -> None:
    d = Driver()
    d.send(ASK)
    acts = d.send(WakePress(held_ms=300), after=1.0)
    assert ConfirmTool("garage_door", True) in acts and not d.state.handsfree


def test_no_press_in_time_refuses() -> None:
    d = Driver()
    d.send(ASK)
    assert d.conv.next_deadline() == d.t + 8.0
    acts = d.send(Tick(), after=7.9)
    assert not [a for a in acts if isinstance(a, ConfirmTool)]
    acts = d.send(Tick(), after=0.2)
    assert ConfirmTool("garage_door", False) in acts
    assert notices(acts, "confirm_refused")[0].fields["reason"] == "no press in time"
    # a press after that is an ordinary press again
    acts = d.send(PttDown(), after=1.0)
    assert d.phase() is Phase.LISTENING


def test_cancel_and_mute_refuse_it() -> None:
    d = Driver()
    d.send(ASK)
    assert ConfirmTool("garage_door", False) in d.send(Cancel(), after=1.0)
    d.send(ASK, after=1.0)
    acts = d.send(WakeHold(), after=1.0)
    assert ConfirmTool("garage_door", False) in acts and d.phase() is Phase.MUTED


def test_muted_nothing_is_confirmed() -> None:
    d = Driver()
    d.send(WakeHold())
    acts = d.send(ASK, after=1.0)
    assert ConfirmTool("garage_door", False) in acts and sounds(acts) == []
    assert d.state.confirming is None


def test_a_second_request_refuses_the_first() -> None:
    d = Driver()
    d.send(ASK)
    acts = d.send(ConfirmWanted("unlock", 8.0), after=1.0)
    assert ConfirmTool("garage_door", False) in acts
    assert ConfirmTool("unlock", True) in d.send(PttDown(), after=1.0)


def test_the_conversation_waits_for_the_longest_tool() -> None:
    from edged.config import CommandToolConfig, Config, ToolsConfig

    tools = ToolsConfig(timeout_s=5.0, confirm_timeout_s=8.0, command=(
        CommandToolConfig(name="g", description="d", argv=("/bin/true",), timeout_s=20.0,
                          confirm="button"),))
    assert Settings.from_config(Config(tools=tools)).tool_timeout_s == 20.0 + 2.0 + 8.0
