"""The cost guard (token bucket), answer timeouts, stalls and next_deadline."""

from __future__ import annotations

import pytest

from edged.conversation import (
    AnswerAudio,
    Committed,
    FlushPlayback,
    Phase,
    PlaybackIdle,
    PttUp,
    ResponseDone,
    ResponseStarted,
    Say,
    SendClear,
    SendCommit,
    SendResponseCancel,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    TokenBucket,
    WakePress,
)
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def test_the_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    b = TokenBucket(3)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.wait_s(0.0) == pytest.approx(20.0)
    assert not b.take(19.9)
    assert b.take(20.0)
    assert not b.take(20.0)
    assert b.take(100.0) and b.take(100.0) and b.take(100.0) and not b.take(100.0)


def test_the_bucket_ignores_a_clock_going_backwards() -> None:
    b = TokenBucket(1)
    assert b.take(50.0)
    assert not b.take(10.0)
    assert not b.take(50.0)
    assert b.take(110.0)


def ptt(d: Driver) -> list:  # type: ignore[type-arg]
    d.press(pcm(300), after=1)
    return d.send(PttUp(), after=1)


def answer(d: Driver, rid: str) -> None:
    d.send(ResponseStarted(rid))
    d.send(AnswerAudio(rid, rid + "-item", pcm(100)))
    d.send(ResponseDone(rid))
    d.send(PlaybackIdle())


def test_beyond_responses_per_minute_the_turn_is_refused_out_loud_and_not_sent() -> None:
    d = Driver(Settings(responses_per_minute=2))
    for n in range(2):
        assert CREATE in ptt(d)
        answer(d, f"r{n}")
    refused = ptt(d)
    assert wire(refused) == [SendClear()] and SendCommit() not in refused
    assert sounds(refused) == ["error"] and d.phase() is Phase.IDLE
    why = notices(refused, "cost_guard")[0].fields
    assert why["limit"] == 2 and "responses_per_minute" in str(why["reason"])
    assert isinstance(why["retry_in_s"], float) and 0 < why["retry_in_s"] <= 30
    d.send(Tick(), after=30)
    assert CREATE in ptt(d)  # refilled
    d.drain()  # unanswered: ends as no_answer, with the error sound
    d.monitor.assert_turns_resolved()


def test_the_cost_guard_cancels_a_hands_free_response_the_server_created() -> None:
    d = Driver(Settings(responses_per_minute=1))
    d.send(WakePress(held_ms=300))
    for n in range(2):
        d.send(SpeechStarted(), after=1)
        d.send(SpeechStopped(), after=1)
        d.send(Committed())
        acts = d.send(ResponseStarted(f"r{n}"))
        if n == 0:
            assert notices(acts, "answer_started")
            d.send(AnswerAudio("r0", "i0", pcm(100)))
            d.send(ResponseDone("r0"))
            d.send(PlaybackIdle())
    assert SendResponseCancel() in acts and "error" in sounds(acts)
    assert notices(acts, "cost_guard") and d.phase() is Phase.HANDSFREE
    late = d.send(AnswerAudio("r1", "i1", pcm(100)))
    assert [type(a).__name__ for a in late] == ["Notice"]  # late_audio_dropped, not played


def test_a_typed_prompt_is_subject_to_the_cost_guard() -> None:
    d = Driver(Settings(responses_per_minute=1))
    d.send(Say("one"))
    answer(d, "r1")
    acts = d.send(Say("two"))
    assert wire(acts) == [] and "error" in sounds(acts) and notices(acts, "cost_guard")


def test_no_answer_within_the_timeout_is_an_error_and_the_request_is_cancelled() -> None:
    d = Driver(Settings(answer_timeout_s=20))
    ptt(d)
    assert d.conv.next_deadline() == d.t + 20
    late = d.send(Tick(), after=20)
    assert SendResponseCancel() in late and "error" in sounds(late)
    assert notices(late, "no_answer")[0].fields["turn"] == 1
    assert d.phase() is Phase.IDLE
    # the answer arriving now is not played
    d.send(ResponseStarted("r1"))
    assert d.state.answer is None
    d.monitor.assert_turns_resolved()


def test_answer_audio_that_stalls_mid_answer_is_cut_and_the_error_follows() -> None:
    d = Driver(Settings(answer_timeout_s=5))
    ptt(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(400)))
    cut = d.send(Tick(), after=5)
    assert SendResponseCancel() in cut and notices(cut, "answer_cut")
    assert d.phase() is Phase.SPEAKING
    assert sounds(d.send(PlaybackIdle(), after=0.4)) == ["error"]


def test_a_speaker_that_never_reports_idle_does_not_hang_the_machine() -> None:
    d = Driver(Settings(playback_grace_s=5))
    ptt(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(2000)))
    d.send(ResponseDone("r1"))
    assert d.conv.next_deadline() == pytest.approx(d.t + 2 + 5)
    acts = d.send(Tick(), after=7)
    assert FlushPlayback() in acts and notices(acts, "playback_stalled")
    assert d.phase() is Phase.IDLE


def test_an_answer_without_audio_is_reported_with_the_error_sound() -> None:
    d = Driver()
    ptt(d)
    d.send(ResponseStarted("r1"))
    acts = d.send(ResponseDone("r1", "failed", "insufficient_quota"))
    assert "error" in sounds(acts) and d.phase() is Phase.IDLE
    assert notices(acts, "answer_failed")[0].fields["reason"] == "insufficient_quota"


def test_next_deadline_is_none_at_rest() -> None:
    d = Driver()
    assert d.conv.next_deadline() is None
    d.send(WakePress(held_ms=300))
    assert d.conv.next_deadline() == d.t + d.settings.follow_up_s


def test_a_reload_changes_the_cost_guard_without_refunding_spent_answers() -> None:
    d = Driver(Settings(responses_per_minute=10))
    for n in range(3):
        ptt(d)
        answer(d, f"r{n}")
    d.conv.settings = Settings(responses_per_minute=2)
    refused = ptt(d)
    assert notices(refused, "cost_guard")[0].fields["limit"] == 2
    d.conv.settings = Settings(responses_per_minute=600)
    d.send(Tick(), after=1)
    assert CREATE in ptt(d)


def test_settings_follow_the_config_file() -> None:
    from edged.config import parse

    cfg = parse("conversation:\n  follow_up_s: 3\n  responses_per_minute: 4\n"
                "controls:\n  min_press_ms: 80\naudio:\n  half_duplex: true\n"
                "realtime:\n  turn_detection:\n    type: none\n")
    s = Settings.from_config(cfg)
    assert (s.follow_up_s, s.responses_per_minute, s.min_press_ms, s.half_duplex,
            s.handsfree) == (3, 4, 80, True, False)
    assert Settings.from_config(parse("realtime: {}\n")).handsfree is True
