"""Link drops: speech is held (bounded) and delivered on reconnect, or dropped out loud."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    Committed,
    EndAnswer,
    LinkDown,
    LinkUp,
    MicAudio,
    Phase,
    PlayAnswer,
    PlaybackIdle,
    PttUp,
    ResponseStarted,
    Say,
    SendAppend,
    SendClear,
    SendCommit,
    SendText,
    SetHandsFree,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    WakePress,
)
from edged.conversation.machine import MAX_APPEND_BYTES
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def test_a_press_during_reconnect_is_held_and_delivered_when_the_link_returns() -> None:
    d = Driver()
    d.send(LinkDown("network"))
    down = d.press(pcm(300), after=1)
    assert wire(down) == [] and d.phase() is Phase.LISTENING
    assert notices(down, "utterance_held")
    for _ in range(10):
        assert wire(d.send(MicAudio(pcm(100)), after=0.1)) == []
    d.send(LinkUp(), after=0.1)
    # the link is back mid-press: held audio first, then live frames
    assert wire(d.log[-1][1]) == [SendClear(), SendAppend(pcm(1300))]
    assert wire(d.send(MicAudio(pcm(100)), after=0.1)) == [SendAppend(pcm(100))]
    assert wire(d.send(PttUp(), after=0.1)) == [SendCommit(), CREATE]


def test_release_before_the_link_is_up_sends_the_turn_on_reconnect_then_answers() -> None:
    d = Driver(link=False)
    d.press(pcm(300))
    d.send(MicAudio(pcm(700)), after=0.7)
    up = d.send(PttUp(), after=0.1)
    assert wire(up) == [] and d.phase() is Phase.THINKING and sounds(up) == ["done"]
    assert notices(up, "utterance_held")[0].fields["ms"] == 1000
    back = d.send(LinkUp(), after=3)
    assert back[0:1] == [notices(back, "link")[0]]
    assert wire(back) == [SendClear(), SendAppend(pcm(1000)), SendCommit(),
                          CREATE]
    assert SetHandsFree(False) in back
    assert notices(back, "utterance_delivered")[0].fields["held"] is True
    d.send(ResponseStarted("r1"))
    assert PlayAnswer("r1", "i1", pcm(40)) in d.send(AnswerAudio("r1", "i1", pcm(40)))
    d.monitor.assert_turns_resolved()


def test_a_drop_mid_utterance_resends_the_whole_utterance() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(MicAudio(pcm(200)), after=0.2)
    d.send(LinkDown("reset"), after=0.1)
    d.send(MicAudio(pcm(500)), after=0.5)
    back = d.send(LinkUp(), after=0.2)
    # the server's copy died with the session: everything goes again
    assert wire(back) == [SendClear(), SendAppend(pcm(1000))]
    assert notices(back, "utterance_resumed")


def test_a_drop_after_commit_but_before_the_answer_asks_again() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1)
    d.send(ResponseStarted("r1"))
    held = d.send(LinkDown("reset"))
    assert notices(held, "utterance_held") and d.phase() is Phase.THINKING
    back = d.send(LinkUp(), after=2)
    assert wire(back) == [SendClear(), SendAppend(pcm(300)), SendCommit(),
                          CREATE]
    # audio of the old session's response never plays
    assert not [a for a in d.send(AnswerAudio("r1", "i1", pcm(20))) if isinstance(
        a, PlayAnswer)]


def test_held_audio_beyond_hold_offline_s_is_dropped_with_the_error_sound() -> None:
    d = Driver(Settings(hold_offline_s=2), link=False)
    d.press(pcm(300))
    for _ in range(17):
        assert "error" not in sounds(d.send(MicAudio(pcm(100)), after=0.1))
    assert d.state.utterance is not None and d.state.utterance.ms == 2000
    over = d.send(MicAudio(pcm(100)), after=0.1)
    assert sounds(over) == ["error"] and d.phase() is Phase.IDLE
    dropped = notices(over, "utterance_dropped")[0]
    assert "hold_offline_s" in str(dropped.fields["reason"]) and dropped.fields["ms"] == 2100
    assert d.send(PttUp(), after=1) == []
    assert wire(d.send(LinkUp())) == []  # nothing left to send
    d.monitor.assert_turns_resolved()


def test_an_utterance_is_dropped_if_the_link_does_not_return_in_time() -> None:
    d = Driver(Settings(hold_offline_s=10), link=False)
    d.press(pcm(300))
    d.send(PttUp(), after=1)
    assert d.conv.next_deadline() == d.t + 10
    assert d.send(Tick(), after=9.9) == []
    late = d.send(Tick(), after=0.1)
    assert sounds(late) == ["error"] and d.phase() is Phase.IDLE
    assert "did not return" in str(notices(late, "utterance_dropped")[0].fields["reason"])
    assert wire(d.send(LinkUp())) == []


def test_hold_offline_zero_means_nothing_is_held() -> None:
    d = Driver(Settings(hold_offline_s=0), link=False)
    acts = d.press(pcm(300))
    assert "error" in sounds(acts) and d.phase() is Phase.IDLE


def test_an_answer_cut_by_a_drop_plays_out_then_sounds_the_error() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(500)))
    cut = d.send(LinkDown("reset"))
    assert EndAnswer("i1") in cut and "error" not in sounds(cut)
    assert notices(cut, "answer_cut")[0].fields["heard_ms"] == 500
    assert d.phase() is Phase.SPEAKING
    end = d.send(PlaybackIdle(), after=0.5)
    assert sounds(end) == ["error"] and d.phase() is Phase.IDLE


def test_a_hands_free_drop_ends_the_conversation_and_reports_lost_speech() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    d.send(SpeechStarted(), after=1)
    acts = d.send(LinkDown("reset"), after=1)
    assert "error" in sounds(acts) and d.phase() is Phase.IDLE
    assert SetHandsFree(False) in acts
    assert "hands-free" in str(notices(acts, "utterance_dropped")[0].fields["reason"])


def test_a_hands_free_drop_while_waiting_for_the_answer_reports_the_lost_turn() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    d.send(SpeechStarted(), after=1)
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    acts = d.send(LinkDown("reset"))
    assert notices(acts, "utterance_dropped") and "error" in sounds(acts)


def test_a_typed_prompt_is_held_and_sent_on_reconnect() -> None:
    d = Driver(link=False)
    d.send(Say("what time is it"))
    back = d.send(LinkUp(), after=1)
    assert wire(back) == [SendText("what time is it"), CREATE]


def test_long_held_audio_is_resent_in_bounded_pieces() -> None:
    d = Driver(Settings(hold_offline_s=60, max_utterance_s=60), link=False)
    d.press(pcm(300))
    for _ in range(12):
        d.send(MicAudio(pcm(1000)), after=1)
    d.send(PttUp(), after=0.1)
    appends = [a for a in wire(d.send(LinkUp())) if isinstance(a, SendAppend)]
    assert [len(a.pcm) for a in appends] == [MAX_APPEND_BYTES, MAX_APPEND_BYTES,
                                             len(pcm(2300))]
    assert b"".join(a.pcm for a in appends) == pcm(12300)
