"""Server errors that refuse a request: release exactly that request, never cancel for it."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    Phase,
    PttUp,
    ResponseDone,
    ResponseStarted,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    ServerError,
    Tick,
)
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def ptt_turn(d: Driver) -> str:
    """A push-to-talk turn up to its response.create; returns that request's id."""
    d.press(pcm(300))
    acts = d.send(PttUp(), after=1.0)
    creates = [a for a in acts if isinstance(a, SendResponseCreate)]
    assert len(creates) == 1, acts
    return creates[0].event_id


def test_a_refused_create_fails_its_turn_out_loud_without_a_cancel() -> None:
    d = Driver()
    rid = ptt_turn(d)
    acts = d.send(ServerError("invalid_value", "bad", rid))
    assert "error" in sounds(acts) and notices(acts, "answer_failed")
    assert SendResponseCancel() not in acts  # the server refused it: nothing to cancel
    assert notices(acts, "server_error")[0].fields["event_id"] == rid
    assert d.phase() is Phase.IDLE


def test_the_turn_after_a_refused_create_asks_at_once() -> None:
    """Before: the refused request stayed counted and the next turn waited 20 s."""
    d = Driver()
    rid = ptt_turn(d)
    d.send(ServerError("invalid_value", "bad", rid))
    d.press(pcm(300), after=1.0)
    assert wire(d.send(PttUp(), after=1.0)) == [SendCommit(), CREATE]
    d.send(ResponseStarted("r2"))
    assert notices(d.send(AnswerAudio("r2", "i2", pcm(100))), "transition")
    d.monitor.assert_turns_resolved()


def test_a_server_that_does_not_echo_the_id_gets_the_same_outcome() -> None:
    d = Driver()
    ptt_turn(d)
    acts = d.send(ServerError("invalid_value", "bad"))
    assert "error" in sounds(acts) and SendResponseCancel() not in acts
    d.press(pcm(300), after=1.0)
    assert wire(d.send(PttUp(), after=1.0)) == [SendCommit(), CREATE]


def test_an_error_about_another_client_event_leaves_the_turn_waiting() -> None:
    d = Driver()
    ptt_turn(d)
    acts = d.send(ServerError("invalid_value", "bad truncate", "edged_7"))
    assert notices(acts, "server_error") and not notices(acts, "answer_failed")
    assert "error" not in sounds(acts) and d.phase() is Phase.THINKING
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(100)))
    assert d.phase() is Phase.SPEAKING


def test_a_refusal_of_an_abandoned_request_lets_the_next_one_go() -> None:
    d = Driver()
    first = ptt_turn(d)
    d.press(pcm(300))  # supersedes: the first request is given up (a cancel is sent)
    acts = d.send(PttUp(), after=1.0)
    assert wire(acts) == [SendCommit()]  # its create waits: the first may yet start
    acts = d.send(ServerError("invalid_value", "late refusal", first))
    assert wire(acts) == [CREATE] and not notices(acts, "answer_failed")
    assert d.phase() is Phase.THINKING
    d.send(ResponseStarted("r2"))  # the second's answer, not mistaken for the first's
    assert d.state.answer is not None and d.state.answer.response_id == "r2"


def test_in_hands_free_a_refusal_never_cancels_the_live_answer() -> None:
    d = Driver()
    d.handsfree_answer(500)
    acts = d.send(ServerError("invalid_value", "x", "edged_rc1_9"))
    assert SendResponseCancel() not in acts and d.phase() is Phase.SPEAKING
    acts = d.send(ServerError("invalid_value", "x"))  # no id: no request outstanding
    assert SendResponseCancel() not in acts and d.phase() is Phase.SPEAKING
    d.send(ResponseDone("r1"))
    assert not notices(d.send(Tick(), after=0.1), "no_answer")
