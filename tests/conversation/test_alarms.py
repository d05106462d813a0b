"""Alarms ring until a press, a stop or max_ring_s; the model may end a hands-free talk."""

from __future__ import annotations

import pytest

from edged.conversation import (
    AlarmDue,
    AnswerAudio,
    Cancel,
    Committed,
    EndConversation,
    Event,
    FlushPlayback,
    MicAudio,
    Phase,
    PlayAnswer,
    PlaybackFlushed,
    PlaybackIdle,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    Ring,
    RunTool,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendToolOutput,
    SendTruncate,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Stop,
    StopRinging,
    Tick,
    ToolCalled,
    ToolFinished,
    WakeHold,
    WakePress,
)
from tests.rigs.conversation import CREATE, Driver, kinds, notices, pcm, sounds, wire

OUT = '{"ok": true}'


def ringing(d: Driver, *labels: str) -> None:
    acts = d.send(AlarmDue(labels or ("tea",)))
    assert Ring(True) in acts, acts
    assert d.state.ringing is not None


def speaking(d: Driver, rid: str = "r1", item: str = "i1", ms: float = 1000) -> None:
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted(rid))
    d.send(AnswerAudio(rid, item, pcm(ms)))
    assert d.phase() is Phase.SPEAKING


# --------------------------------------------------------------------------- ringing


def test_an_alarm_due_at_rest_rings_and_shows_it() -> None:
    d = Driver()
    acts = d.send(AlarmDue(("timer 5 min",)))
    assert kinds(acts) == ["Ring", "SetLed"]
    assert acts[0] == Ring(True) and SetLed("ringing") in acts
    assert notices(acts, "ringing")[0].fields == {"labels": "timer 5 min", "again": False}
    assert d.phase() is Phase.IDLE and wire(acts) == []


def test_a_ptt_press_while_ringing_only_stops_the_ringing() -> None:
    d = Driver()
    ringing(d, "tea")
    acts = d.send(PttDown(), after=4.0)
    assert kinds(acts) == ["Ring", "SetLed"]  # no clear, no sound, no mic change
    assert acts[0] == Ring(False) and SetLed("idle") in acts
    stopped = notices(acts, "ring_stopped")[0]
    assert stopped.fields == {"by": "ptt", "rang_s": 4.0, "labels": "tea"}
    assert not notices(acts, "turn_started") and SendClear() not in acts
    assert d.phase() is Phase.IDLE
    assert wire(d.send(MicAudio(pcm(300)))) == []
    assert d.send(PttUp(), after=1.0) == []  # the release of that press does nothing
    assert d.phase() is Phase.IDLE
    # the next press is a turn again
    assert notices(d.press(pcm(300), after=1.0), "turn_started")


@pytest.mark.parametrize("event", [WakePress(held_ms=300), WakeHold()])
def test_a_wake_press_or_hold_while_ringing_only_stops_the_ringing(event: Event) -> None:
    d = Driver()
    ringing(d)
    acts = d.send(event, after=1.0)
    assert kinds(acts) == ["Ring", "SetLed"] and acts[0] == Ring(False)
    assert notices(acts, "ring_stopped")[0].fields["by"] == "wake"
    assert not notices(acts, "muted") and not notices(acts, "handsfree_started")
    assert SetHandsFree(True) not in acts and d.phase() is Phase.IDLE
    assert not d.state.handsfree


@pytest.mark.parametrize(("event", "by"), [(Cancel(), "cancel"), (Stop(), "ctl")])
def test_cancel_and_stop_stop_the_ringing(event: Event, by: str) -> None:
    d = Driver()
    ringing(d)
    acts = d.send(event, after=1.0)
    assert kinds(acts) == ["Ring", "SetLed"] and acts[0] == Ring(False)
    assert notices(acts, "ring_stopped")[0].fields["by"] == by
    assert d.phase() is Phase.IDLE and sounds(acts) == []


def test_stop_while_nothing_rings_is_a_cancel() -> None:
    stopped, cancelled = Driver(), Driver()
    speaking(stopped)
    speaking(cancelled)
    by_stop = stopped.send(Stop(), after=0.3)
    by_cancel = cancelled.send(Cancel(), after=0.3)
    assert by_stop == by_cancel
    assert FlushPlayback() in by_stop and SendResponseCancel() in wire(by_stop)
    assert stopped.phase() is Phase.IDLE and "done" in sounds(by_stop)
    assert Driver().send(Stop()) == []  # at rest, like a cancel: nothing to do


def test_the_stop_ringing_tool_stops_the_ringing_and_nothing_else() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    ringing(d)
    assert d.phase() is Phase.HANDSFREE
    acts = d.send(StopRinging(), after=2.0)
    assert kinds(acts) == ["Ring", "SetLed"] and acts[0] == Ring(False)
    assert SetLed("listening") in acts
    assert notices(acts, "ring_stopped")[0].fields["by"] == "tool"
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree
    assert d.send(StopRinging()) == []  # nothing rings: nothing to do


def test_stop_ringing_during_an_answer_does_not_touch_the_answer() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    ringing(d)
    d.send(SpeechStarted(), after=1.0)  # "stop that alarm"
    d.send(SpeechStopped(), after=1.0)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(300)))
    assert d.phase() is Phase.SPEAKING and d.state.led == "ringing"
    acts = d.send(StopRinging())
    assert kinds(acts) == ["Ring", "SetLed"] and acts[0] == Ring(False)
    assert SetLed("speaking") in acts and d.phase() is Phase.SPEAKING
    more = d.send(AnswerAudio("r1", "i1", pcm(300)))
    assert [a for a in more if isinstance(a, PlayAnswer)]
    d.send(ResponseDone("r1"))
    d.send(PlaybackIdle(), after=0.6)
    assert d.phase() is Phase.HANDSFREE


def test_ringing_stops_by_itself_after_max_ring_s() -> None:
    d = Driver(Settings(max_ring_s=60.0))
    ringing(d)
    start = d.t
    assert d.conv.next_deadline() == pytest.approx(start + 60.0)
    assert d.send(Tick(), after=59.9) == []
    acts = d.send(Tick(), after=0.1)
    assert acts[0] == Ring(False) and SetLed("idle") in acts
    assert notices(acts, "ring_stopped")[0].fields["by"] == "timeout"
    assert notices(acts, "ring_stopped")[0].fields["rang_s"] == 60.0
    assert d.conv.next_deadline() is None


def test_another_alarm_while_ringing_extends_it_without_a_second_ring() -> None:
    d = Driver(Settings(max_ring_s=60.0))
    ringing(d, "tea")
    again = d.send(AlarmDue(("eggs",)), after=40.0)
    assert Ring(True) not in again and kinds(again) == []
    assert notices(again, "ringing")[0].fields == {"labels": "eggs", "again": True}
    assert not [a for a in d.send(Tick(), after=20.0) if isinstance(a, Ring)]  # 60 s in
    acts = d.send(Tick(), after=40.0)
    assert acts[0] == Ring(False)
    stopped = notices(acts, "ring_stopped")[0]
    assert stopped.fields["labels"] == "tea, eggs" and stopped.fields["rang_s"] == 100.0


# --------------------------------------------------------------------------- interrupting


def test_an_alarm_during_an_answer_interrupts_it_and_rings() -> None:
    d = Driver()
    speaking(d)
    acts = d.send(AlarmDue(("tea",)), after=0.4)
    assert acts[0] == FlushPlayback()
    assert wire(acts) == [SendResponseCancel()]
    assert notices(acts, "barge_in")[0].fields == {
        "by": "alarm", "response_id": "r1", "turn": 1, "cancel_sent": True}
    assert Ring(True) in acts and SetLed("ringing") in acts
    assert d.phase() is Phase.IDLE
    assert wire(d.send(PlaybackFlushed({"i1": 400}))) == [SendTruncate("i1", 400)]
    late = d.send(AnswerAudio("r1", "i1", pcm(100)))
    assert not [a for a in late if isinstance(a, PlayAnswer)]
    d.send(ResponseDone("r1", "cancelled", "client_cancelled"))
    d.send(Stop(), after=2.0)
    d.monitor.assert_turns_resolved()
    d.drain()


def test_an_alarm_while_waiting_for_an_answer_drops_the_turn_and_abandons_it() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    assert d.phase() is Phase.THINKING
    acts = d.send(AlarmDue(("tea",)), after=0.5)
    dropped = notices(acts, "utterance_dropped")[0]
    assert dropped.fields["turn"] == 1 and "alarm" in str(dropped.fields["reason"])
    assert wire(acts) == [SendResponseCancel()] and notices(acts, "barge_in")
    assert Ring(True) in acts and d.phase() is Phase.IDLE
    started = d.send(ResponseStarted("r1"))
    assert notices(started, "response_ignored")[0].fields["reason"] == (
        "cancelled before it started")
    assert not [a for a in d.send(AnswerAudio("r1", "i1", pcm(100)))
                if isinstance(a, PlayAnswer)]
    d.send(ResponseDone("r1", "cancelled", "client_cancelled"))
    d.send(Cancel())
    d.monitor.assert_turns_resolved()
    d.drain()


def test_an_alarm_after_the_answer_started_but_before_its_audio_cancels_it() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted("r1"))
    acts = d.send(AlarmDue(("tea",)), after=0.2)
    assert wire(acts) == [SendResponseCancel()] and Ring(True) in acts
    assert notices(acts, "barge_in")[0].fields["response_id"] == "r1"
    assert not [a for a in d.send(AnswerAudio("r1", "i1", pcm(100)))
                if isinstance(a, PlayAnswer)]
    assert d.phase() is Phase.IDLE


def test_an_alarm_while_a_hands_free_turn_awaits_its_answer_drops_that_answer() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    d.send(SpeechStarted(), after=1.0)
    d.send(SpeechStopped(), after=1.0)
    d.send(Committed())  # the server is making its answer
    assert d.phase() is Phase.THINKING
    acts = d.send(AlarmDue(("tea",)), after=0.2)
    assert Ring(True) in acts and d.phase() is Phase.HANDSFREE
    started = d.send(ResponseStarted("r1"), after=0.1)
    audio = d.send(AnswerAudio("r1", "i1", pcm(300)))
    assert not [a for a in audio if isinstance(a, PlayAnswer)]
    assert not notices(started, "answer_started")
    assert SendResponseCancel() in wire(acts) + wire(started)
    dropped = notices(acts, "utterance_dropped")
    assert dropped and "alarm" in str(dropped[0].fields["reason"])
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree


def test_an_alarm_while_a_tool_runs_rings_and_the_output_is_still_told() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    d.send(ResponseStarted("r1"))
    assert RunTool("c1", "set_timer", "{}") in d.send(
        ToolCalled("r1", "fc1", "c1", "set_timer", "{}"))
    d.send(ResponseDone("r1"))
    acts = d.send(AlarmDue(("tea",)))
    assert Ring(True) in acts and d.phase() is Phase.IDLE
    assert notices(acts, "barge_in")[0].fields["by"] == "alarm"
    assert wire(d.send(ToolFinished("c1", OUT))) == [SendToolOutput("c1", OUT)]
    d.send(StopRinging())
    d.drain()


def test_an_alarm_during_push_to_talk_rings_and_the_turn_goes_on() -> None:
    d = Driver()
    d.press(pcm(300))
    acts = d.send(AlarmDue(("tea",)), after=0.5)
    assert Ring(True) in acts and d.phase() is Phase.LISTENING
    assert not notices(acts, "utterance_dropped")
    up = d.send(PttUp(), after=0.5)
    assert wire(up) == [SendCommit(), CREATE] and d.phase() is Phase.THINKING


def test_an_alarm_during_a_hands_free_conversation_rings_and_it_goes_on() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    acts = d.send(AlarmDue(("tea",)), after=1.0)
    assert Ring(True) in acts and SetLed("ringing") in acts
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree
    assert SetHandsFree(False) not in acts and not notices(acts, "handsfree_ended")
    assert d.state.mic == "stream"
    # the person says "stop": the model calls stop_ringing and answers
    d.send(SpeechStarted(), after=1.0)
    d.send(SpeechStopped(), after=1.0)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    stop = d.send(StopRinging())
    assert Ring(False) in stop
    d.send(AnswerAudio("r1", "i1", pcm(300)))
    d.send(ResponseDone("r1"))
    d.send(PlaybackIdle(), after=0.5)
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree


def test_an_alarm_during_a_hands_free_answer_interrupts_it_and_the_talk_goes_on() -> None:
    d = Driver()
    d.handsfree_answer(500)
    acts = d.send(AlarmDue(("tea",)), after=0.2)
    assert acts[0] == FlushPlayback() and SendResponseCancel() in wire(acts)
    assert Ring(True) in acts
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree


def test_an_alarm_while_muted_rings_and_the_led_returns_to_muted() -> None:
    d = Driver()
    d.send(WakeHold())
    assert d.phase() is Phase.MUTED
    acts = d.send(AlarmDue(("tea",)), after=1.0)
    assert Ring(True) in acts and SetLed("ringing") in acts
    assert d.phase() is Phase.MUTED and SetMic("preroll") not in acts
    stop = d.send(Cancel(), after=1.0)
    assert stop[0] == Ring(False) and SetLed("muted") in stop
    assert d.phase() is Phase.MUTED


def test_a_hold_while_muted_and_ringing_stops_the_ringing_and_stays_muted() -> None:
    d = Driver(Settings(max_ring_s=30.0))
    d.send(WakeHold())
    ringing(d)
    acts = d.send(WakeHold(), after=1.0)
    assert acts[0] == Ring(False) and SetLed("muted") in acts
    assert not notices(acts, "unmuted") and d.phase() is Phase.MUTED
    ringing(d)
    timeout = d.send(Tick(), after=30.0)
    assert timeout[0] == Ring(False) and SetLed("muted") in timeout


# --------------------------------------------------------------------------- ending a talk


def test_the_model_ends_a_hands_free_talk_once_its_answer_is_heard() -> None:
    d = Driver()
    d.handsfree_answer(500)
    ending = d.send(EndConversation())
    assert notices(ending, "conversation_ending")
    assert kinds(ending) == [] and d.phase() is Phase.SPEAKING  # the answer still plays
    more = d.send(AnswerAudio("r1", "i1", pcm(200)))
    assert [a for a in more if isinstance(a, PlayAnswer)]
    assert d.send(EndConversation()) == []  # once is enough
    d.send(ResponseDone("r1"))
    acts = d.send(PlaybackIdle(), after=0.7)
    assert SetHandsFree(False) in acts and "done" in sounds(acts)
    ended = notices(acts, "handsfree_ended")[0]
    assert "assistant" in str(ended.fields["reason"])
    assert d.phase() is Phase.IDLE and not d.state.handsfree
    assert d.state.mic == "preroll"


def test_the_model_ends_a_hands_free_talk_after_the_rest_of_a_tool_round() -> None:
    d = Driver()
    d.send(WakePress(held_ms=300))
    d.send(SpeechStarted(), after=1)
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    d.send(ResponseStarted("r1"))
    d.send(ToolCalled("r1", "fc1", "c1", "end_conversation", "{}"))
    d.send(EndConversation())
    d.send(ResponseDone("r1"))
    assert wire(d.send(ToolFinished("c1", OUT))) == [SendToolOutput("c1", OUT), CREATE]
    assert d.state.handsfree
    d.send(ResponseStarted("r2"))
    d.send(AnswerAudio("r2", "i2", pcm(300)))
    d.send(ResponseDone("r2"))
    acts = d.send(PlaybackIdle(), after=0.5)
    assert notices(acts, "handsfree_ended") and "done" in sounds(acts)
    assert d.phase() is Phase.IDLE


def test_ending_the_conversation_outside_hands_free_does_nothing() -> None:
    d = Driver()
    assert d.send(EndConversation()) == []
    speaking(d)
    assert d.send(EndConversation()) == []
    d.send(ResponseDone("r1"))
    idle = d.send(PlaybackIdle(), after=1.0)
    assert not notices(idle, "handsfree_ended") and d.phase() is Phase.IDLE
    # a later hands-free talk is not ended by it
    d.handsfree_answer(300, rid="r2", item="i2")
    d.send(ResponseDone("r2"))
    after = d.send(PlaybackIdle(), after=0.5)
    assert not notices(after, "handsfree_ended") and d.phase() is Phase.HANDSFREE


def test_speaking_over_a_goodbye_keeps_the_hands_free_talk_going() -> None:
    """The model said goodbye, the person went on talking: the conversation goes on."""
    d = Driver()
    d.handsfree_answer(500)
    d.send(EndConversation())
    d.send(SpeechStarted(), after=0.2)  # spoken over: the server cancels the goodbye
    assert not d.state.end_after_answer
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    d.send(ResponseStarted("r2"))
    d.send(AnswerAudio("r2", "i2", pcm(300)))
    d.send(ResponseDone("r2"))
    acts = d.send(PlaybackIdle(), after=0.5)
    assert not notices(acts, "handsfree_ended")
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree
