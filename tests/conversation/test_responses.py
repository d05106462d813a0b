"""The request bookkeeping on its own: plain calls in, decisions out."""

from __future__ import annotations

from edged.conversation.responses import MAX_CREATE_RETRIES, Refusal, Responses


def test_a_request_is_sent_at_once_when_the_server_is_free_and_named() -> None:
    r = Responses()
    r.new_session(3)
    first = r.ask()
    assert first == "edged_rc3_1" and r.wanted == 1
    assert r.started("resp_a") == "asked" and r.wanted == 0
    r.done("resp_a")
    assert r.ask() == "edged_rc3_2"  # ids are never reused within a session


def test_a_request_waits_while_a_response_runs_and_goes_when_it_is_done() -> None:
    r = Responses()
    assert r.started("server_made") == "unasked"
    assert r.ask() is None and r.queued
    assert r.flush() is None  # still running
    r.done("server_made")
    sent = r.flush()
    assert sent is not None and not r.queued and r.asked == {sent: True}
    assert r.flush() is None  # once


def test_responses_are_matched_to_requests_oldest_first() -> None:
    r = Responses()
    first = r.ask()
    assert first is not None
    assert r.abandon() is True  # still wanted: a cancel is due
    assert r.abandon() is False  # nothing wanted any more
    r.asked["second"] = True  # a newer request, as after a supersede
    assert r.started("resp_1") == "abandoned"
    assert r.started("resp_2") == "asked"
    assert r.started("resp_2") == "again"


def test_an_error_naming_a_request_releases_exactly_that_one() -> None:
    r = Responses()
    old = r.ask()
    assert old is not None
    r.abandon()
    r.asked["newer"] = True
    assert r.refused("newer") == Refusal("newer", wanted=True)
    assert list(r.asked) == [old]  # the abandoned one still counts: it may yet start
    assert r.refused("edged_42") is None  # not a request: nothing released
    assert list(r.asked) == [old]


def test_a_server_that_does_not_echo_ids_releases_the_oldest() -> None:
    r = Responses()
    sent = r.ask()
    assert sent is not None
    assert r.refused(None) == Refusal(sent, wanted=True)
    assert r.refused(None) is None and r.wanted == 0
    assert r.ask() is not None  # free again: the next turn is not held up


def test_races_are_retried_a_bounded_number_of_times_per_turn() -> None:
    r = Responses()
    r.ask()
    assert [r.retry() for _ in range(MAX_CREATE_RETRIES + 1)] == [True] * MAX_CREATE_RETRIES + [
        False]
    r.queued = False
    r.asked.clear()
    r.ask()  # a new turn starts its own count
    assert r.retry() is True


def test_a_new_session_or_a_timeout_forgets_everything() -> None:
    r = Responses()
    r.ask()
    r.started("x")
    r.queued = True
    r.new_session(2)
    assert (r.asked, r.live, r.queued, r.session) == ({}, set(), False, 2)
    r.ask()
    r.started("y")
    r.forget()
    assert (r.asked, r.live, r.queued) == ({}, set(), False)
