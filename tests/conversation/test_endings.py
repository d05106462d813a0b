"""How answers end badly: a person hears it, and a turn cut by a session's end is asked again."""

from __future__ import annotations

import pytest

from edged.conversation import (
    AnswerAudio,
    LinkDown,
    LinkUp,
    Phase,
    PlaybackIdle,
    PttUp,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    ServerError,
    Tick,
)
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def answering(d: Driver, ms: float = 1000) -> None:
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(ms)))


@pytest.mark.parametrize(("status", "reason"), [
    ("failed", None), ("incomplete", "max_output_tokens"), ("incomplete", "content_filter"),
    ("cancelled", "client_cancelled"),  # cancelled by the server, not by this side
])
def test_an_answer_cut_short_plays_out_then_sounds_the_error(
        status: str, reason: str | None) -> None:
    d = Driver()
    answering(d)
    done = d.send(ResponseDone("r1", status, reason))
    ended = notices(done, "answer_ended")[0]
    assert ended.fields["status"] == status and ended.fields["heard_ms"] == 1000
    assert ended.fields["error_sound"] is True
    assert "error" not in sounds(done)  # not over the words still playing
    assert d.phase() is Phase.SPEAKING
    idle = d.send(PlaybackIdle(), after=1.0)
    assert "error" in sounds(idle) and d.phase() is Phase.IDLE


def test_a_completed_answer_ends_quietly() -> None:
    d = Driver()
    answering(d)
    done = d.send(ResponseDone("r1", "completed"))
    assert not notices(done, "answer_ended")
    assert "error" not in sounds(d.send(PlaybackIdle(), after=1.0))


def test_speech_over_a_hands_free_answer_cancelled_by_the_server_is_not_an_error() -> None:
    d = Driver()
    d.handsfree_answer(500)
    done = d.send(ResponseDone("r1", "cancelled", "turn_detected"))
    assert notices(done, "answer_ended")[0].fields["error_sound"] is False
    assert "error" not in sounds(d.send(PlaybackIdle(), after=1.0))


def test_session_expired_before_the_answer_starts_asks_again_on_the_next_session() -> None:
    """Before: the error failed the turn (answer_failed) and nothing was asked again."""
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)  # commit + response.create sent; no response.created yet
    acts = d.send(ServerError("session_expired", "Your session hit the maximum duration"))
    assert not notices(acts, "answer_failed") and "error" not in sounds(acts)
    assert notices(acts, "server_error")[0].fields["code"] == "session_expired"
    d.send(LinkDown("close 1001"))
    assert notices(d.log[-1][1], "utterance_held")
    again = d.send(LinkUp(), after=0.5)
    sent = wire(again)
    assert sent[0] == SendClear() and isinstance(sent[1], SendAppend)
    assert sent[-2:] == [SendCommit(), CREATE]
    d.send(ResponseStarted("r2"))
    d.send(AnswerAudio("r2", "i2", pcm(100)))
    d.send(ResponseDone("r2"))
    d.send(PlaybackIdle(), after=0.5)
    d.monitor.assert_turns_resolved()
    assert d.phase() is Phase.IDLE


def test_session_expired_without_a_drop_still_ends_in_no_answer() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ServerError("session_expired", "bye"))
    late = d.send(Tick(), after=d.settings.answer_timeout_s)
    assert notices(late, "no_answer") and "error" in sounds(late)
