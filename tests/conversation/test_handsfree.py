"""Wake button: hands-free conversations, follow-up quiet, mute, and overlap with PTT."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    Committed,
    FlushPlayback,
    MicAudio,
    Phase,
    PlayAnswer,
    PlaybackIdle,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    Say,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    WakeHold,
    WakePress,
)
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire


def handsfree_turn(d: Driver, rid: str, item: str) -> None:
    d.send(SpeechStarted(), after=0.5)
    d.send(SpeechStopped(), after=1.5)
    d.send(Committed())
    d.send(ResponseStarted(rid))
    d.send(AnswerAudio(rid, item, pcm(500)))
    d.send(ResponseDone(rid))
    d.send(PlaybackIdle(), after=0.6)


def test_a_wake_press_starts_hands_free_with_server_turn_detection_and_streams() -> None:
    d = Driver()
    acts = d.send(WakePress(held_ms=250))
    assert wire(acts) == [SendClear()]
    assert SetHandsFree(True) in acts and SetMic("stream") in acts
    assert SetLed("listening") in acts and sounds(acts) == ["listening"]
    assert d.phase() is Phase.HANDSFREE
    frame = pcm(100)
    assert wire(d.send(MicAudio(frame), after=0.1)) == [SendAppend(frame)]


def test_the_server_decides_turns_and_the_conversation_continues_after_the_answer() -> None:
    d = Driver()
    d.send(WakePress(held_ms=250))
    d.send(SpeechStarted(), after=0.5)
    d.send(SpeechStopped(), after=1.5)
    committed = d.send(Committed())
    assert SetLed("thinking") in committed and d.phase() is Phase.THINKING
    assert notices(committed, "transition")[0].fields["cause"] == "committed"
    # the server creates the response itself: the machine sends no response.create
    assert wire(d.send(ResponseStarted("r1"))) == []
    assert PlayAnswer("r1", "i1", pcm(500)) in d.send(AnswerAudio("r1", "i1", pcm(500)))
    # the mic keeps streaming during the answer so the person can interrupt
    assert wire(d.send(MicAudio(pcm(100)))) == [SendAppend(pcm(100))]
    d.send(ResponseDone("r1"))
    d.send(PlaybackIdle(), after=0.6)
    assert d.phase() is Phase.HANDSFREE
    handsfree_turn(d, "r2", "i2")
    assert d.phase() is Phase.HANDSFREE
    assert CREATE not in [a for _, acts in d.log for a in acts]


def test_the_conversation_ends_after_follow_up_s_of_quiet() -> None:
    d = Driver(Settings(follow_up_s=8))
    d.send(WakePress(held_ms=250))
    handsfree_turn(d, "r1", "i1")
    assert d.conv.next_deadline() == d.t + 8
    assert d.send(Tick(), after=7.9) == []
    end = d.send(Tick(), after=0.1)
    assert SetHandsFree(False) in end and SendClear() in end and sounds(end) == ["done"]
    assert SetMic("preroll") in end and d.phase() is Phase.IDLE
    assert "conversation.follow_up_s" in str(notices(end, "handsfree_ended")[0].fields)


def test_speech_in_progress_holds_the_follow_up_timer() -> None:
    d = Driver(Settings(follow_up_s=2))
    d.send(WakePress(held_ms=250))
    d.send(SpeechStarted(), after=1)
    assert d.conv.next_deadline() == d.t + d.settings.max_utterance_s
    assert d.send(Tick(), after=10) == [] and d.phase() is Phase.HANDSFREE
    d.send(SpeechStopped())
    assert d.conv.next_deadline() == d.t + 2


def test_speech_that_never_stops_ends_the_conversation_at_max_utterance_s() -> None:
    d = Driver(Settings(max_utterance_s=30))
    d.send(WakePress(held_ms=250))
    d.send(SpeechStarted(), after=1)
    assert d.send(Tick(), after=29.9) == []
    acts = d.send(Tick(), after=0.1)
    assert SetHandsFree(False) in acts and "error" in sounds(acts)
    assert "max_utterance_s" in str(notices(acts, "handsfree_ended")[0].fields["reason"])
    assert d.phase() is Phase.IDLE and SetMic("preroll") in acts


def test_another_press_ends_the_conversation_and_stops_the_answer() -> None:
    d = Driver()
    d.send(WakePress(held_ms=250))
    d.send(SpeechStarted(), after=0.5)
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(800)))
    end = d.send(WakePress(held_ms=300), after=0.2)
    assert end[0] == FlushPlayback()
    # turn detection goes off with the press, so the server will not cancel: we do
    assert SendResponseCancel() in end and SetHandsFree(False) in end
    assert d.phase() is Phase.IDLE and sounds(end) == ["done"]


def test_a_long_hold_mutes_and_presses_are_ignored_until_the_next_hold() -> None:
    d = Driver()
    d.send(WakePress(held_ms=250))
    mute = d.send(WakeHold(), after=1)
    assert SetMic("closed") in mute and SetLed("muted") in mute
    assert SetHandsFree(False) in mute and d.phase() is Phase.MUTED
    for event in (PttDown(), PttUp(), WakePress(held_ms=400), Say("hi")):
        acts = d.send(event, after=0.5)
        assert wire(acts) == [] and d.phase() is Phase.MUTED
    assert wire(d.send(MicAudio(pcm(100)))) == []
    unmute = d.send(WakeHold(), after=3)
    assert SetMic("preroll") in unmute and SetLed("idle") in unmute
    assert notices(unmute, "unmuted") and d.phase() is Phase.IDLE


def test_muting_during_push_to_talk_drops_the_utterance_and_says_so() -> None:
    d = Driver()
    d.press(pcm(300))
    acts = d.send(WakeHold(), after=2)
    assert SendClear() in acts
    assert notices(acts, "utterance_dropped")[0].fields["reason"] == "muted"
    assert d.send(PttUp(), after=1) == []  # the release after the hold is silent
    d.monitor.assert_turns_resolved()


def test_ptt_during_hands_free_ends_it_and_takes_a_push_to_talk_turn() -> None:
    d = Driver()
    d.send(WakePress(held_ms=250))
    acts = d.press(pcm(300), after=2)
    assert acts.index(SetHandsFree(False)) < acts.index(SendClear())
    assert d.phase() is Phase.LISTENING and not d.state.handsfree
    # The mic was already streaming: the engine prepends no pre-roll ring.
    assert notices(acts, "turn_started")[0].fields["preroll_ms"] == 0
    assert wire(d.send(PttUp(), after=1)) == [SendCommit(), CREATE]
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(100)))
    d.send(ResponseDone("r1"))
    d.send(PlaybackIdle())
    assert d.phase() is Phase.IDLE  # back to push-to-talk rest, not hands-free


def test_a_wake_press_while_ptt_is_held_is_ignored() -> None:
    d = Driver()
    d.press(pcm(300))
    acts = d.send(WakePress(held_ms=300), after=0.5)
    assert wire(acts) == [] and notices(acts, "press_ignored")
    assert d.phase() is Phase.LISTENING


def test_a_wake_press_during_a_ptt_answer_interrupts_it_and_goes_hands_free() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(800)))
    acts = d.send(WakePress(held_ms=300), after=0.3)
    assert acts[0] == FlushPlayback() and SendResponseCancel() in acts
    assert SetHandsFree(True) in acts and d.phase() is Phase.HANDSFREE


def test_a_wake_tap_is_ignored() -> None:
    d = Driver(Settings(min_press_ms=150))
    acts = d.send(WakePress(held_ms=40))
    assert wire(acts) == [] and d.phase() is Phase.IDLE
    assert notices(acts, "press_ignored")[0].fields["button"] == "wake"


def test_half_duplex_stops_streaming_while_the_answer_plays() -> None:
    d = Driver(Settings(half_duplex=True))
    d.send(WakePress(held_ms=250))
    d.send(SpeechStarted(), after=0.5)
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    assert SetMic("preroll") in d.send(AnswerAudio("r1", "i1", pcm(300)))
    assert wire(d.send(MicAudio(pcm(100)))) == []
    d.send(ResponseDone("r1"))
    assert SetMic("stream") in d.send(PlaybackIdle())


def test_without_turn_detection_the_wake_button_says_why_it_cannot_work() -> None:
    d = Driver(Settings(handsfree=False))
    acts = d.send(WakePress(held_ms=300))
    assert "error" in sounds(acts) and d.phase() is Phase.IDLE
    assert "turn_detection" in str(notices(acts, "press_ignored")[0].fields["reason"])


def test_a_wake_press_while_offline_is_refused_with_the_error_sound() -> None:
    d = Driver(link=False)
    acts = d.send(WakePress(held_ms=300))
    assert "error" in sounds(acts) and wire(acts) == [] and d.phase() is Phase.IDLE
