"""Debouncing and press timing, with plain values (no pins, no clock)."""

from __future__ import annotations

from edged.buttons.gestures import ButtonLogic, Debouncer
from edged.conversation import (
    Conversation,
    LinkUp,
    PttDown,
    PttUp,
    SendCommit,
    Settings,
    WakeHold,
    WakePress,
)


def test_the_first_edge_passes_at_once_and_chatter_is_ignored() -> None:
    d = Debouncer(0.03)
    assert d.edge(True, 10.000) is True  # no added latency
    for i, level in enumerate([False, True, False, True]):
        assert d.edge(level, 10.001 + i * 0.001) is None
    assert d.deadline() is None  # it settled where it was accepted
    assert d.poll(10.03) is None
    assert d.edge(False, 10.5) is False


def test_a_release_hidden_in_the_chatter_is_taken_when_the_lockout_ends() -> None:
    d = Debouncer(0.03)
    assert d.edge(True, 1.0) is True
    assert d.edge(False, 1.01) is None  # released inside the window
    assert d.deadline() == 1.03
    assert d.poll(1.02) is None
    assert d.poll(1.03) is False


def test_zero_bounce_passes_every_change() -> None:
    d = Debouncer(0.0)
    assert [d.edge(level, 1.0) for level in (True, False, True)] == [True, False, True]


def test_ptt_gives_down_then_up_once_each_through_chatter() -> None:
    b = ButtonLogic("ptt", 0.03)
    out = []
    t = 0.0
    for level in (True, False, True, False, True):  # chattering press
        out += b.edge(level, t)
        t += 0.002
    out += b.poll(0.05)
    t = 1.0
    for level in (False, True, False):  # chattering release
        out += b.edge(level, t)
        t += 0.002
    out += b.poll(1.05)
    assert out == [PttDown(), PttUp()]


def test_a_button_held_at_start_up_is_ignored_until_released() -> None:
    b = ButtonLogic("ptt", 0.03)
    b.start(True)
    assert b.edge(False, 1.0) == []  # its release is not a turn end
    assert b.edge(True, 2.0) == [PttDown()]


def test_a_short_wake_press_reports_how_long_it_was_held() -> None:
    b = ButtonLogic("wake", 0.03, hold_s=2.0)
    assert b.edge(True, 5.0) == []
    assert b.deadline() == 7.0
    assert b.edge(False, 5.25) == [WakePress(held_ms=250)]
    assert b.deadline() is None


def test_a_long_wake_hold_fires_once_at_the_hold_time_and_its_release_is_silent() -> None:
    b = ButtonLogic("wake", 0.03, hold_s=2.0)
    b.edge(True, 5.0)
    assert b.poll(6.99) == []
    assert b.poll(7.0) == [WakeHold()]
    assert b.poll(8.0) == [] and b.deadline() is None
    assert b.edge(False, 9.0) == []


def test_a_hold_released_before_the_timer_ran_is_still_a_hold() -> None:
    b = ButtonLogic("wake", 0.03, hold_s=2.0)
    b.edge(True, 5.0)
    assert b.edge(False, 7.5) == [WakeHold()]


def test_a_tap_reaches_the_machine_but_is_not_a_turn() -> None:
    """min_press_ms lives in the conversation machine: the press must reach it at once
    (barge-in and streaming start at the press), and a tap is then discarded."""
    conv = Conversation(Settings(min_press_ms=150))
    conv.handle(LinkUp(), 0.0)
    b = ButtonLogic("ptt", 0.03)
    actions = []
    for level, t in ((True, 1.0), (False, 1.08)):
        for event in b.edge(level, t):
            actions += conv.handle(event, t)
    assert SendCommit() not in actions
    wake = ButtonLogic("wake", 0.03, hold_s=2.0)
    wake.edge(True, 3.0)
    (tap,) = wake.edge(False, 3.05)
    assert tap == WakePress(held_ms=50)
    assert conv.handle(tap, 3.05)[0].kind == "press_ignored"  # type: ignore[union-attr]
