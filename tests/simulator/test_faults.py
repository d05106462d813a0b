"""Fault values, the CLI spelling and the per-connection queue (pure)."""

from __future__ import annotations

import pytest

from edged.simulator.faults import Fault, FaultQueue, FaultSpecError, parse_spec
from edged.simulator.script import ScriptedResponse


def test_queue_hands_faults_to_the_next_connections_in_order() -> None:
    q = FaultQueue()
    q.push(Fault.refuse(503), times=2)
    q.push(Fault.silent())
    assert [q.take(), q.take(), q.take(), q.take()] == [
        Fault.refuse(503), Fault.refuse(503), Fault.silent(), None]


def test_queue_reports_what_is_pending_and_rejects_zero_times() -> None:
    q = FaultQueue()
    q.push(Fault.delay_answers(1.5), times=3)
    q.take()
    assert q.pending() == [(Fault.delay_answers(1.5), 2)]
    with pytest.raises(FaultSpecError, match="at least 1"):
        q.push(Fault.malformed(), times=0)


@pytest.mark.parametrize(("spec", "fault", "times"), [
    ("refuse:503", Fault.refuse(503), 1),
    ("refuse:429:2.5x3", Fault.refuse(429, 2.5), 3),
    ("close:1011", Fault.close_after_open(1011), 1),
    ("close:4000:0.5", Fault.close_after_open(4000, 0.5), 1),
    ("drop", Fault.drop_mid_answer(), 1),
    ("drop:3x2", Fault.drop_mid_answer(3), 2),
    ("silent", Fault.silent(), 1),
    ("silent:2", Fault.silent(2.0), 1),
    ("malformed", Fault.malformed(), 1),
    ("malformed:audio", Fault.malformed(bad_audio=True), 1),
    ("expired", Fault.session_expired(), 1),
    ("expiredx4", Fault.session_expired(), 4),
    ("expired:1.5", Fault.session_expired(1.5), 1),
    ("delay:0.25", Fault.delay_answers(0.25), 1),
    ("quotekey", Fault.quote_key(), 1),
    ("quotekey:0.5x2", Fault.quote_key(0.5), 2),
    ("surrogate", Fault.surrogate(), 1),
    ("surrogate:1", Fault.surrogate(1.0), 1),
    ("expired:create", Fault.session_expired_at("create"), 1),
    ("expired:audiox2", Fault.session_expired_at("audio"), 2),
    ("reject:response.create:invalid_value", Fault.reject("response.create"), 1),
    ("reject:response.create:invalid_value:2", Fault.reject("response.create", nth=2), 1),
    ("reject:session.update:cannot_update_voice:noecho",
     Fault.reject("session.update", "cannot_update_voice", echo=False), 1),
    ("reject:input_audio_buffer.commit:server_error:3:noechox2",
     Fault.reject("input_audio_buffer.commit", "server_error", 3, echo=False), 2),
    ("errorthenclose:insufficient_quota:5",
     Fault.error_then_close("insufficient_quota", 5.0), 1),
    ("errorthenclose:rate_limit_exceeded", Fault.error_then_close("rate_limit_exceeded"), 1),
    ("failed", Fault.fail_answer(), 1),
    ("failed:0:server_errorx3", Fault.fail_answer(0, "server_error"), 3),
    ("incomplete:4", Fault.incomplete_answer(4), 1),
    ("incomplete:2:content_filter", Fault.incomplete_answer(2, "content_filter"), 1),
    ("incomplete:1:max_output_tokensx2", Fault.incomplete_answer(1, "max_output_tokens"), 2),
    ("bigframe:2", Fault.big_frame(2.0), 1),
    ("bigframe:0.5:1x2", Fault.big_frame(0.5, 1.0), 2),
    ("badutf8", Fault.bad_utf8(), 1),
    ("badutf8x3", Fault.bad_utf8(), 3),
    ("badutf8:0.2", Fault.bad_utf8(0.2), 1),
])
def test_cli_spellings_parse_to_faults(spec: str, fault: Fault, times: int) -> None:
    assert parse_spec(spec) == (fault, times)
    # describe() is the canonical spelling and reads back to the same fault
    assert parse_spec(fault.describe()) == (fault, 1)


@pytest.mark.parametrize(("spec", "message"), [
    ("bogus", "unknown fault kind 'bogus'"),
    ("refuse", "wrong number of arguments"),
    ("refuse:abc", "status must be a number"),
    ("refuse:101", "from 200 to 599"),
    ("refuse:503:-1", "≥ 0"),
    ("close:1006", "cannot be sent"),
    ("close:1011:1:2", "wrong number of arguments"),
    ("drop:0", "at least 1"),
    ("delay", "wrong number of arguments"),
    ("malformed:json", "only option"),
    ("quotekey:1:2", "wrong number of arguments"),
    ("surrogate:soon", "delay must be a number"),
    ("surrogate:-1", "≥ 0"),
    ("refuse:503x0", "at least 1"),
    ("expired:soon", "seconds or one of create, created, audio, done"),
    ("reject:response.create", "wrong number of arguments"),
    ("reject:response.creat:invalid_value", "client event type"),
    ("drop::3", "cannot read fault"),
    ("reject:response.create:bad-code", "lower-case letters"),
    ("reject:response.create:invalid_value:0", "counts from 1"),
    ("reject:response.create:invalid_value:first", "optional N"),
    ("reject:response.create:invalid_value:noecho:2", "optional N"),
    ("errorthenclose", "wrong number of arguments"),
    ("errorthenclose:quota:-1", "≥ 0"),
    ("failed:-1", "0 or more"),
    ("incomplete:1:tired", "max_output_tokens, content_filter"),
    ("bigframe", "wrong number of arguments"),
    ("bigframe:0", "above 0"),
    ("bigframe:1000", "at most 256"),
    ("badutf8:1:2", "wrong number of arguments"),
    ("", "cannot read fault"),
])
def test_bad_spellings_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_spec(spec)


def test_every_kind_has_a_spelling_both_ways() -> None:
    from typing import get_args

    from edged.simulator.faults import _BUILD, _SPELL, USAGE, FaultKind

    kinds = set(get_args(FaultKind))
    assert kinds == set(_BUILD) == set(_SPELL)
    assert all(f"{kind}" in USAGE for kind in kinds)


@pytest.mark.parametrize(("spec", "name", "arguments"), [
    ('call:set_timer:{"seconds": 300}', "set_timer", '{"seconds": 300}'),
    ("call:get_time:{}", "get_time", "{}"),
    ("call:get_time:", "get_time", ""),  # no arguments at all, as given
    ('CALL:Set-Volume_2:{"Level": "LOUD"}', "Set-Volume_2", '{"Level": "LOUD"}'),
    ('call:set_timer:{"seconds": 3x2', "set_timer", '{"seconds": 3x2'),  # no xN, bad JSON
    ("  call:f:a:b: c ", "f", "a:b: c "),  # only the first two colons split
])
def test_call_spellings_keep_the_arguments_verbatim(spec: str, name: str, arguments: str) -> None:
    fault, times = parse_spec(spec)
    assert (fault, times) == (Fault.call(name, arguments), 1)
    assert fault.scripted() == ScriptedResponse.of(name, arguments)
    assert parse_spec(fault.describe()) == (fault, 1)


@pytest.mark.parametrize(("spec", "message"), [
    ("call", "wrong number of arguments"),
    ("call:", "call needs a name and the arguments, call:NAME:ARGUMENTS"),
    ("call:set_timer", r"call:set_timer:\{"),
    ("call::{}", "function name of 1–64 letters"),
    ("call:set timer:{}", "function name of 1–64 letters"),
    ("call:set.timer:{}", "got 'set.timer'"),
    ("call:" + "f" * 65 + ":{}", "function name of 1–64"),
])
def test_bad_call_spellings_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_spec(spec)


def test_only_a_call_fault_scripts_a_response() -> None:
    with pytest.raises(FaultSpecError, match="only a call fault"):
        Fault.drop_mid_answer().scripted()
    with pytest.raises(FaultSpecError, match="function name"):
        Fault.call("")
