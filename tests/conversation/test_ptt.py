"""Push-to-talk turns: order of client events, pre-roll, taps, short and stuck presses."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    AnswerAudioDone,
    EndAnswer,
    LinkUp,
    MicAudio,
    Phase,
    PlayAnswer,
    PlaybackIdle,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    SetLed,
    SetMic,
    Settings,
    Tick,
)
from tests.rigs.conversation import CREATE, Driver, kinds, notices, pcm, sounds, wire


def test_a_turn_sends_clear_preroll_frames_then_commit_and_response_create() -> None:
    d = Driver()
    preroll = pcm(300)
    down = d.send(PttDown())
    assert wire(down) == [SendClear()]
    assert "listening" in sounds(down)
    assert SetMic("stream") in down and SetLed("listening") in down
    started = notices(down, "turn_started")[0]
    assert started.fields["preroll_ms"] == d.settings.preroll_ms == 300
    # The engine's pre-roll ring is the first frame once the mic streams.
    assert wire(d.send(MicAudio(preroll))) == [SendAppend(preroll)]
    frames = [pcm(100) for _ in range(5)]
    for f in frames:
        assert wire(d.send(MicAudio(f), after=0.1)) == [SendAppend(f)]
    up = d.send(PttUp(), after=0.05)
    assert wire(up) == [SendCommit(), CREATE]
    assert sounds(up) == ["done"]
    assert SetMic("preroll") in up and SetLed("thinking") in up
    assert d.phase() is Phase.THINKING
    delivered = notices(up, "utterance_delivered")[0]
    assert delivered.fields["ms"] == 800 and delivered.fields["held"] is False


def test_the_answer_plays_and_the_turn_ends_when_the_speaker_drains() -> None:
    d = Driver()
    d.press(pcm(300))
    d.send(PttUp(), after=1.0)
    assert notices(d.send(ResponseStarted("r1")), "answer_started")
    first = d.send(AnswerAudio("r1", "i1", pcm(40)))
    assert PlayAnswer("r1", "i1", pcm(40)) in first and SetLed("speaking") in first
    assert d.phase() is Phase.SPEAKING
    assert EndAnswer("i1") in d.send(AnswerAudioDone("r1", "i1"))
    assert d.send(ResponseDone("r1")) == []  # still playing out
    assert d.phase() is Phase.SPEAKING
    end = d.send(PlaybackIdle(), after=0.5)
    assert d.phase() is Phase.IDLE and SetLed("idle") in end
    d.monitor.assert_turns_resolved()


def test_a_tap_shorter_than_min_press_does_not_send_a_turn() -> None:
    d = Driver(Settings(min_press_ms=150))
    d.press(pcm(300))
    up = d.send(PttUp(), after=0.1)
    assert wire(up) == [SendClear()]  # the pre-roll on the server is thrown away
    assert SendCommit() not in up and "error" not in sounds(up)
    ignored = notices(up, "press_ignored")[0]
    assert ignored.fields["button"] == "ptt" and ignored.fields["held_ms"] == 100
    assert "min_press_ms" in str(ignored.fields["reason"])
    assert d.phase() is Phase.IDLE


def test_a_press_at_the_min_press_length_is_a_turn() -> None:
    d = Driver(Settings(min_press_ms=150))
    d.press(pcm(300))
    assert SendCommit() in d.send(PttUp(), after=0.15)


def test_an_utterance_under_min_utterance_ms_is_discarded_with_the_error_sound() -> None:
    d = Driver(Settings(min_press_ms=0, min_utterance_ms=100))
    d.send(PttDown())  # no pre-roll configured
    d.send(MicAudio(pcm(60)), after=0.06)
    up = d.send(PttUp(), after=0.01)
    assert wire(up) == [SendClear()]
    assert sounds(up) == ["error"] and SetLed("error") in up
    dropped = notices(up, "utterance_dropped")[0]
    assert dropped.fields["ms"] == 60 and "min_utterance_ms" in str(dropped.fields["reason"])
    # the error LED falls back to idle by itself
    d.send(Tick(), after=d.settings.error_led_s)
    assert d.state.led == "idle"


def test_a_stuck_button_ends_the_turn_as_a_release_would_and_is_reported() -> None:
    d = Driver(Settings(max_utterance_s=30))
    d.press(pcm(300))
    for _ in range(29):
        d.send(MicAudio(pcm(1000)), after=1.0)
        assert d.send(Tick()) == [] or d.phase() is Phase.LISTENING
    assert d.conv.next_deadline() == d.state.utterance.started + 30  # type: ignore[union-attr]
    stuck = d.send(Tick(), after=1.0)
    assert wire(stuck) == [SendCommit(), CREATE]
    report = notices(stuck, "stuck_button")[0]
    assert report.fields["held_s"] == 30.0 and report.fields["limit_s"] == 30
    assert d.phase() is Phase.THINKING
    # audio after the guard is not sent; the eventual release is silent
    assert wire(d.send(MicAudio(pcm(100)))) == []
    assert d.send(PttUp(), after=5) == []
    assert d.phase() is Phase.THINKING


def test_a_press_while_listening_is_ignored_and_noticed() -> None:
    d = Driver()
    d.press(pcm(300))
    again = d.send(PttDown())
    assert wire(again) == [] and notices(again, "press_ignored")


def test_frames_outside_a_turn_are_not_sent() -> None:
    d = Driver()
    assert d.send(MicAudio(pcm(100))) == []
    d.send(PttDown())
    d.send(PttUp(), after=1.0)
    assert d.send(MicAudio(pcm(100))) == []


def test_start_sets_the_led_and_mic_and_link_up_turns_off_hands_free() -> None:
    d = Driver(link=False)
    start = d.log[0][1]
    assert kinds(start) == ["SetLed", "SetMic"]
    assert SetLed("error") in start  # offline until the link comes up
    up = d.send(LinkUp())
    assert kinds(up) == ["SetHandsFree", "SetLed"] and SetLed("idle") in up
