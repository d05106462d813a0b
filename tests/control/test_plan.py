"""Commands → conversation events, refusals, and who holds a socket press: plain values."""

from __future__ import annotations

import pytest

from edged.control.plan import (
    Plan,
    PttHold,
    after_event,
    after_press,
    on_disconnect,
    plan,
    refusal,
)
from edged.conversation import (
    Cancel,
    Event,
    Phase,
    PttDown,
    PttUp,
    Say,
    Stop,
    WakeHold,
    WakePress,
)


@pytest.mark.parametrize(("cmd", "events"), [
    ("ptt.press", (PttDown(),)),
    ("ptt.release", (PttUp(),)),
    ("cancel", (Cancel(),)),
    ("stop", (Stop(),)),  # the machine tells a ringing alarm from an answer
    ("say", (Say("hello"),)),
    ("wake", (WakePress(held_ms=150),)),
])
def test_commands_are_the_button_events(cmd: str, events: tuple[Event, ...]) -> None:
    assert plan(cmd, "idle", text="hello", min_press_ms=150) == Plan(events)


@pytest.mark.parametrize("phase", [p.value for p in Phase])
def test_mute_and_unmute_are_idempotent(phase: str) -> None:
    muted = phase == "muted"
    assert plan("mute", phase) == (Plan((), changed=False) if muted else Plan((WakeHold(),)))
    assert plan("unmute", phase) == (Plan((WakeHold(),)) if muted else Plan((), changed=False))


def test_status_subscribe_and_the_tool_commands_touch_nothing() -> None:
    for cmd in ("status", "subscribe", "volume", "timers", "timers.cancel", "timers.set"):
        assert plan(cmd, "speaking") == Plan((), changed=False), cmd


def test_refusal_reads_the_machines_reason() -> None:
    ignored = [("transition", {"to": "x"}), ("press_ignored", {"reason": "muted"})]
    assert refusal("ptt.press", ignored) == "muted"
    assert refusal("wake", ignored) == "muted"
    dropped = [("utterance_dropped", {"reason": "shorter than 100 ms"})]
    assert refusal("ptt.release", dropped) == "utterance_dropped: shorter than 100 ms"
    # a new press superseding an old turn drops that turn; the press itself succeeded
    assert refusal("ptt.press", dropped) is None
    assert refusal("say", [("cost_guard", {"reason": "too many"})]) == "cost_guard: too many"
    assert refusal("say", [("say_refused", {})]) == "say refused"
    assert refusal("cancel", ignored) is None
    assert refusal("stop", ignored) is None  # stop is never refused: at worst, nothing to do


def test_a_press_that_started_listening_belongs_to_its_connection() -> None:
    free = PttHold()
    assert after_press(free, 1, False, "idle", "listening") == PttHold(1)
    assert after_press(free, 1, True, "idle", "listening") == PttHold(None)  # keep: detached
    # ignored presses change nothing: already listening (someone else's), muted
    assert after_press(PttHold(1), 2, False, "listening", "listening") == PttHold(1)
    assert after_press(free, 2, False, "muted", "muted") == free


def test_leaving_listening_frees_the_press() -> None:
    held = PttHold(3)
    assert after_event(held, "transition", {"from": "listening", "to": "thinking"}) == PttHold()
    assert after_event(held, "transition", {"from": "idle", "to": "listening"}) == held
    assert after_event(held, "link", {"state": "down"}) == held


def test_a_vanished_holder_releases_and_others_do_not() -> None:
    assert on_disconnect(PttHold(3), 3, "listening") == (PttHold(), (PttUp(),))
    assert on_disconnect(PttHold(3), 4, "listening") == (PttHold(3), ())
    assert on_disconnect(PttHold(3), 3, "thinking") == (PttHold(), ())
