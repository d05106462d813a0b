"""MCP calls the API runs itself: a tool round with nothing to run or send back."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    Phase,
    PlaybackIdle,
    PttUp,
    RemoteToolCalled,
    ResponseDone,
    ResponseStarted,
    SendResponseCreate,
    SendToolOutput,
)
from tests.rigs.conversation import Driver, notices, pcm, sounds, wire


def asked(d: Driver) -> None:
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted("r1"))


def test_a_response_that_only_called_an_mcp_tool_is_followed_up_not_failed() -> None:
    d = Driver()
    asked(d)
    acts = d.send(RemoteToolCalled("r1", "mcp_1", "get_forecast"))
    assert notices(acts, "remote_tool")[0].fields == {
        "name": "get_forecast", "item_id": "mcp_1", "round": 1, "pending": False}
    assert d.phase() is Phase.TOOLS
    acts = d.send(ResponseDone("r1"))
    # no audio, yet no error: the model is asked to speak about the result
    assert not notices(acts, "answer_failed") and "error" not in sounds(acts)
    assert [type(a) for a in wire(acts)] == [SendResponseCreate]
    assert not [a for a in acts if isinstance(a, SendToolOutput)]  # the API has the output
    assert d.phase() is Phase.THINKING


def test_an_answer_that_goes_on_speaking_after_the_call_is_not_asked_again() -> None:
    d = Driver()
    asked(d)
    d.send(RemoteToolCalled("r1", "mcp_1", "get_forecast"))
    d.send(AnswerAudio("r1", "i1", pcm(400)))
    acts = d.send(ResponseDone("r1"))
    acts += d.send(PlaybackIdle(), after=0.5)
    assert not [a for a in wire(acts) if isinstance(a, SendResponseCreate)]
    assert d.phase() is Phase.IDLE and "error" not in sounds(acts)


def test_an_approved_call_is_waited_for_then_followed_up() -> None:
    d = Driver()
    asked(d)
    d.send(RemoteToolCalled("r1", "mcpa_1", "lights", pending=True))
    acts = d.send(ResponseDone("r1"))
    assert wire(acts) == [] and d.phase() is Phase.TOOLS  # the call has not run yet
    acts = d.send(RemoteToolCalled("", "mcp_7", "lights", approval_id="mcpa_1"), after=1.0)
    assert [type(a) for a in wire(acts)] == [SendResponseCreate]
    assert d.phase() is Phase.THINKING


def test_a_refused_approval_is_settled_at_once() -> None:
    d = Driver()
    asked(d)
    d.send(RemoteToolCalled("r1", "mcpa_1", "unlock_door", pending=False))
    acts = d.send(ResponseDone("r1"))
    # asked on: the model says it was not allowed rather than going silent
    assert [type(a) for a in wire(acts)] == [SendResponseCreate]
