"""Scripted responses and calls as values: what they accept and how they end (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from edged.simulator import ScriptedCall, ScriptedResponse


def test_one_call_shorthand_and_defaults() -> None:
    r = ScriptedResponse.of("set_timer", '{"seconds": 300}', speak_ms=400, hold_s=1.5)
    assert r.calls == (ScriptedCall("set_timer", '{"seconds": 300}'),)
    assert (r.speak_ms, r.hold_s, r.status) == (400, 1.5, "completed")
    assert ScriptedResponse.of("get_time").calls[0].arguments == "{}"
    assert ScriptedResponse().calls == ()  # an empty response is a thing models do


@pytest.mark.parametrize(("status", "reason", "ending"), [
    ("completed", None, ("completed", None)),
    ("cancelled", None, ("cancelled", "turn_detected")),
    ("cancelled", "client_cancelled", ("cancelled", "client_cancelled")),
    ("incomplete", None, ("incomplete", "max_output_tokens")),
    ("incomplete", "content_filter", ("incomplete", "content_filter")),
    ("failed", None, ("failed", "server_error")),
    ("failed", "rate_limit_exceeded", ("failed", "rate_limit_exceeded")),
])
def test_each_status_ends_with_its_usual_reason_unless_told(
        status: str, reason: str | None, ending: tuple[str, str | None]) -> None:
    assert ScriptedResponse(status=status, reason=reason).ending == ending


def test_calls_follow_the_response_status_unless_given_their_own() -> None:
    follow, done = ScriptedCall("a", "{}"), ScriptedCall("b", "{}", status="completed")
    cut = ScriptedResponse((follow, done), status="cancelled")
    assert [cut.call_status(c) for c in cut.calls] == ["incomplete", "completed"]
    whole = ScriptedResponse((follow, ScriptedCall("c", "{", status="incomplete")))
    assert [whole.call_status(c) for c in whole.calls] == ["completed", "incomplete"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ScriptedCall("", "{}"), "needs a function name"),
    (lambda: ScriptedCall("f", {"a": 1}), "raw JSON text"),
    (lambda: ScriptedCall("f", "{}", status="in_progress"), "completed, incomplete"),
    (lambda: ScriptedResponse([ScriptedCall("f", "{}")]), "tuple of ScriptedCall"),
    (lambda: ScriptedResponse(speak_ms=-1), "0–600000"),
    (lambda: ScriptedResponse(speak_ms=1.5), "0–600000"),
    (lambda: ScriptedResponse(status="in_progress"), "completed, cancelled, incomplete, failed"),
    (lambda: ScriptedResponse(status="cancelled", reason="max_output_tokens"),
     "turn_detected, client_cancelled"),
    (lambda: ScriptedResponse(reason="turn_detected"), "completed response takes no reason"),
    (lambda: ScriptedResponse(status="failed", reason=""), "error code"),
    (lambda: ScriptedResponse(hold_s=float("nan")), "finite"),
    (lambda: ScriptedResponse(hold_s=-1), "≥ 0"),
    (lambda: ScriptedResponse(delta_chars=0), "at least 1"),
])
def test_impossible_scripts_are_refused_when_written(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
