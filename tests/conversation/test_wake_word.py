"""The wake word: starts a hands-free conversation, interrupts an answer, never ends one."""

from __future__ import annotations

from edged.conversation import (
    AlarmDue,
    AnswerAudio,
    FlushPlayback,
    LinkDown,
    MicAudio,
    Phase,
    PttDown,
    Ring,
    SendAppend,
    SendClear,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    SpeechStarted,
    WakeHold,
    WakePress,
    WakeWord,
)
from tests.rigs.conversation import Driver, notices, pcm, sounds, wire

HEARD = WakeWord("okay_nabu", 0.93)


def test_the_wake_word_starts_hands_free_live_without_the_pre_roll() -> None:
    d = Driver()
    acts = d.send(HEARD)
    assert wire(acts) == [SendClear()]
    # "live": the uplink opens at the detection; the pre-roll holds the phrase itself
    assert SetHandsFree(True) in acts and SetMic("live") in acts
    assert SetLed("listening") in acts and sounds(acts) == ["listening"]
    assert d.phase() is Phase.HANDSFREE
    heard = notices(acts, "wake_word")[0].fields
    assert heard == {"model": "okay_nabu", "probability": 0.93,
                     "outcome": "started a hands-free conversation"}
    assert notices(acts, "handsfree_started")[0].fields["by"] == "wake_word"
    frame = pcm(100)
    assert wire(d.send(MicAudio(frame), after=0.1)) == [SendAppend(frame)]


def test_a_wake_press_still_streams_with_the_pre_roll() -> None:
    d = Driver()
    acts = d.send(WakePress(held_ms=300))
    assert SetMic("stream") in acts
    assert notices(acts, "handsfree_started")[0].fields["by"] == "wake"


def test_the_wake_word_over_a_hands_free_answer_interrupts_it_and_keeps_listening() -> None:
    d = Driver()
    d.handsfree_answer(ms=2000)
    assert d.phase() is Phase.SPEAKING
    acts = d.send(HEARD, after=0.5)
    assert any(isinstance(a, FlushPlayback) for a in acts)  # barge-in: the speaker stops
    assert SetHandsFree(False) not in acts  # unlike a wake press, the conversation goes on
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree
    assert notices(acts, "wake_word")[0].fields["outcome"] == "interrupted the answer"
    assert sounds(acts) == ["listening"]


def test_a_wake_press_over_a_hands_free_answer_ends_the_conversation() -> None:
    """The contrast the wake word's own event exists for."""
    d = Driver()
    d.handsfree_answer(ms=2000)
    acts = d.send(WakePress(held_ms=300), after=0.5)
    assert SetHandsFree(False) in acts and d.phase() is Phase.IDLE


def test_the_wake_word_over_a_push_to_talk_answer_starts_hands_free() -> None:
    d = Driver()
    d.press(pcm(300))
    from edged.conversation import PttUp, ResponseStarted

    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(2000)))
    assert d.phase() is Phase.SPEAKING
    acts = d.send(HEARD, after=0.3)
    assert any(isinstance(a, FlushPlayback) for a in acts)
    assert SetHandsFree(True) in acts and d.phase() is Phase.HANDSFREE


def test_the_wake_word_stops_a_ringing_alarm_and_does_nothing_else() -> None:
    d = Driver()
    d.send(AlarmDue(("tea",)))
    acts = d.send(HEARD, after=2.0)
    assert Ring(False) in acts and d.state.ringing is None
    assert SetHandsFree(True) not in acts and d.phase() is Phase.IDLE
    assert notices(acts, "wake_word")[0].fields["outcome"] == "stopped the ringing"


def test_during_push_to_talk_the_wake_word_is_noted_and_ignored() -> None:
    d = Driver()
    d.send(PttDown())
    acts = d.send(HEARD, after=0.3)
    assert d.phase() is Phase.LISTENING and wire(acts) == []
    assert notices(acts, "wake_word")[0].fields["outcome"].startswith("ignored: push-to-talk")


def test_muted_the_wake_word_changes_nothing() -> None:
    d = Driver()
    d.send(WakeHold())
    acts = d.send(HEARD, after=0.3)
    assert d.phase() is Phase.MUTED and wire(acts) == [] and sounds(acts) == []


def test_with_the_link_down_the_wake_word_is_refused_with_the_error_sound() -> None:
    d = Driver()
    d.send(LinkDown("test"))
    acts = d.send(HEARD, after=0.3)
    assert sounds(acts) == ["error"] and d.phase() is Phase.IDLE
    assert "link is down" in notices(acts, "wake_word")[0].fields["outcome"]


def test_without_server_turn_detection_the_wake_word_is_refused() -> None:
    d = Driver(Settings(handsfree=False))
    acts = d.send(HEARD)
    assert sounds(acts) == ["error"] and d.phase() is Phase.IDLE
    assert "turn detection" in notices(acts, "wake_word")[0].fields["outcome"]


def test_half_duplex_closes_the_live_mic_while_the_answer_plays() -> None:
    d = Driver(Settings(half_duplex=True))
    d.send(HEARD)
    d.send(SpeechStarted(), after=0.5)
    from edged.conversation import Committed, ResponseStarted, SpeechStopped

    d.send(SpeechStopped(), after=1.0)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    acts = d.send(AnswerAudio("r1", "i1", pcm(500)))
    assert SetMic("preroll") in acts  # no echo streamed, and none for the detector to hear
