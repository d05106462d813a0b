"""Barge-in: flush first, cancel only when the server will not, truncate what was heard."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    AnswerAudioDone,
    Cancel,
    FlushPlayback,
    LinkDown,
    LinkUp,
    MicAudio,
    Phase,
    PlayAnswer,
    PlaybackFlushed,
    PlaybackIdle,
    PttUp,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendTruncate,
    ServerError,
    SpeechStarted,
    Tick,
)
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def speaking(d: Driver, rid: str = "r1", item: str = "i1", ms: float = 1000) -> None:
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted(rid))
    d.send(AnswerAudio(rid, item, pcm(ms)))
    assert d.phase() is Phase.SPEAKING


def test_a_press_during_an_answer_flushes_first_cancels_and_starts_a_new_turn() -> None:
    d = Driver()
    speaking(d)
    acts = d.press(pcm(300), after=0.4)
    assert acts[0] == FlushPlayback()  # the speaker is silenced before anything else
    assert wire(acts) == [SendResponseCancel(), SendClear(), SendAppend(pcm(300))]
    barge = notices(acts, "barge_in")[0]
    assert barge.fields == {"by": "ptt", "response_id": "r1", "turn": 1, "cancel_sent": True}
    assert d.phase() is Phase.LISTENING


def test_truncate_uses_the_milliseconds_played_clamped_to_what_was_received() -> None:
    d = Driver()
    speaking(d, ms=1000)
    d.press(pcm(300), after=0.4)
    flushed = d.send(PlaybackFlushed({"i1": 420}), after=0.01)
    assert wire(flushed) == [SendTruncate("i1", 420)]
    assert notices(flushed, "truncated")[0].fields["received_ms"] == 1000

    d2 = Driver()
    speaking(d2, ms=200)
    d2.press(pcm(300))
    # a player that over-reports (its clock ran past the audio) is clamped
    assert wire(d2.send(PlaybackFlushed({"i1": 5000}))) == [SendTruncate("i1", 200)]


def test_an_item_the_player_does_not_name_counts_as_unheard() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    assert wire(d.send(PlaybackFlushed({}))) == [SendTruncate("i1", 0)]


def test_answer_audio_arriving_after_a_barge_in_is_not_played() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    late = d.send(AnswerAudio("r1", "i1", pcm(100)))
    assert not [a for a in late if isinstance(a, PlayAnswer)]
    assert notices(late, "late_audio_dropped")[0].fields == {
        "response_id": "r1", "reason": "cancelled"}
    # noticed once per response, not once per delta
    assert d.send(AnswerAudio("r1", "i1", pcm(100))) == []
    assert d.send(AnswerAudioDone("r1", "i1")) == []
    assert d.send(ResponseDone("r1", "cancelled", "client_cancelled")) == []
    # the new turn is answered normally
    d.send(MicAudio(pcm(500)), after=0.5)
    assert CREATE in d.send(PttUp(), after=0.1)
    d.send(ResponseStarted("r2"))
    assert PlayAnswer("r2", "i2", pcm(50)) in d.send(AnswerAudio("r2", "i2", pcm(50)))


def test_barge_in_before_the_answer_started_cancels_it_when_it_starts() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)  # response.create sent, response.created not yet seen
    acts = d.press(pcm(300), after=0.2)
    assert FlushPlayback() not in acts  # nothing was playing
    assert wire(acts)[0] == SendResponseCancel()
    up = d.send(PttUp(), after=1.0)
    # the server is still running the abandoned response: create waits for it
    assert wire(up) == [SendCommit()]
    started = d.send(ResponseStarted("old"))
    assert notices(started, "response_ignored")[0].fields["reason"] == (
        "cancelled before it started")
    assert d.send(AnswerAudio("old", "x", pcm(100))) and d.phase() is Phase.THINKING
    done = d.send(ResponseDone("old", "cancelled", "client_cancelled"))
    assert wire(done) == [CREATE]
    d.send(ResponseStarted("new"))
    assert PlayAnswer("new", "y", pcm(60)) in d.send(AnswerAudio("new", "y", pcm(60)))


def test_benign_race_errors_are_noticed_without_the_error_sound() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    for code in ("response_cancel_not_active", "input_audio_buffer_commit_empty"):
        acts = d.send(ServerError(code, "race"))
        assert "error" not in sounds(acts)
        assert notices(acts, "benign_error")[0].fields["code"] == code
    assert d.phase() is Phase.LISTENING


def test_a_refused_response_create_is_retried_at_most_twice() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    d.send(ResponseDone("r1", "cancelled", "client_cancelled"))
    assert wire(d.send(PttUp(), after=1.0)) == [SendCommit(), CREATE]
    # the server still counted the cancelled response as active (seen in the wild)
    busy = ServerError("conversation_already_has_active_response", "busy")
    for _ in range(2):
        acts = d.send(busy)
        assert "error" not in sounds(acts) and wire(acts) == [CREATE]
    acts = d.send(busy)
    assert wire(acts) == [] and notices(acts, "benign_error")
    # the answer never comes: the person hears the error after answer_timeout_s
    late = d.send(Tick(), after=d.settings.answer_timeout_s)
    assert "error" in sounds(late) and notices(late, "no_answer")
    assert d.phase() is Phase.IDLE


def test_a_refused_response_create_succeeds_on_retry() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    d.send(ResponseDone("r1", "cancelled", "client_cancelled"))
    d.send(PttUp(), after=1.0)
    d.send(ServerError("conversation_already_has_active_response", "busy"))
    d.send(ResponseStarted("r2"))
    assert d.send(AnswerAudio("r2", "i2", pcm(20)))[0] == PlayAnswer("r2", "i2", pcm(20))
    d.monitor.assert_turns_resolved()


def test_other_server_errors_while_waiting_fail_the_turn_with_the_error_sound() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    acts = d.send(ServerError("invalid_request_error", "x" * 500))
    assert "error" in sounds(acts) and d.phase() is Phase.IDLE
    err = notices(acts, "server_error")[0]
    assert err.fields["code"] == "invalid_request_error"
    assert len(str(err.fields["message"])) == 200
    assert notices(acts, "answer_failed")


def test_speech_over_a_hands_free_answer_interrupts_it_without_response_cancel() -> None:
    d = Driver()
    d.handsfree_answer(2000)
    acts = d.send(SpeechStarted(), after=0.5)
    assert acts[0] == FlushPlayback()
    assert SendResponseCancel() not in acts  # interrupt_response: the server cancels
    assert notices(acts, "barge_in")[0].fields["cancel_sent"] is False
    assert d.phase() is Phase.HANDSFREE
    assert wire(d.send(PlaybackFlushed({"i1": 500}))) == [SendTruncate("i1", 500)]
    assert not [a for a in d.send(AnswerAudio("r1", "i1", pcm(20))) if isinstance(
        a, PlayAnswer)]


def test_an_answer_heard_in_full_is_not_truncated() -> None:
    d = Driver()
    speaking(d, ms=300)
    d.send(ResponseDone("r1"))
    d.press(pcm(300))
    flushed = d.send(PlaybackFlushed({"i1": 300}))
    assert wire(flushed) == [] and not notices(flushed, "truncated")


def test_truncate_is_skipped_when_the_session_changed_before_the_flush_report() -> None:
    d = Driver()
    speaking(d)
    d.press(pcm(300))
    d.send(LinkDown("network"))
    d.send(LinkUp())
    acts = d.send(PlaybackFlushed({"i1": 100}))
    assert wire(acts) == [] and notices(acts, "truncate_skipped")


def test_cancel_stops_the_answer_and_returns_to_idle() -> None:
    d = Driver()
    speaking(d)
    acts = d.send(Cancel())
    assert acts[0] == FlushPlayback() and SendResponseCancel() in acts
    assert d.phase() is Phase.IDLE
    assert d.send(PlaybackIdle()) == []
