"""Every event in every state: no exception, every invariant holds, and rest is reached.

Each state is reached by a recipe of plain events; each sample event is then
applied, the invariant monitor checks the step, and time alone must bring the
machine back to rest with every turn accounted for.
"""

from __future__ import annotations

import pytest

from edged.conversation import (
    EVENT_TYPES,
    AlarmDue,
    AnswerAudio,
    AnswerAudioDone,
    Cancel,
    Committed,
    ConfirmWanted,
    EndConversation,
    Event,
    LinkDown,
    LinkUp,
    MicAudio,
    Phase,
    PlaybackFlushed,
    PlaybackIdle,
    PttDown,
    PttUp,
    RemoteToolCalled,
    ResponseDone,
    ResponseStarted,
    Say,
    ServerError,
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
    WakeWord,
)
from edged.conversation.machine import BENIGN_ERRORS
from tests.rigs.conversation import Driver, pcm

P = pcm(300)
PTT_TURN: list[Event] = [PttDown(), MicAudio(P), MicAudio(pcm(400)), PttUp()]
HF: list[Event] = [WakePress(300)]
HF_TURN: list[Event] = [*HF, SpeechStarted(), SpeechStopped(), Committed()]
CALL = ToolCalled("r1", "fc1", "c1", "set_timer", '{"seconds": 5}')
TOOL_TURN: list[Event] = [*PTT_TURN, ResponseStarted("r1"), CALL]

# name → (link up at start, recipe, phase it must reach)
STATES: dict[str, tuple[bool, list[Event], Phase]] = {
    "idle offline": (False, [], Phase.IDLE),
    "idle": (True, [], Phase.IDLE),
    "listening": (True, [PttDown(), MicAudio(P), MicAudio(pcm(200))], Phase.LISTENING),
    "listening offline": (False, [PttDown(), MicAudio(P)], Phase.LISTENING),
    "listening, link dropped": (True, [PttDown(), MicAudio(P), LinkDown()], Phase.LISTENING),
    "thinking": (True, PTT_TURN, Phase.THINKING),
    "thinking, create deferred": (
        True, [*PTT_TURN, PttDown(), MicAudio(P), PttUp()], Phase.THINKING),
    "held for the link": (False, PTT_TURN, Phase.THINKING),
    "answer started": (True, [*PTT_TURN, ResponseStarted("r1")], Phase.THINKING),
    "speaking": (True, [*PTT_TURN, ResponseStarted("r1"), AnswerAudio("r1", "i1", P)],
                 Phase.SPEAKING),
    "playing out": (True, [*PTT_TURN, ResponseStarted("r1"), AnswerAudio("r1", "i1", P),
                           AnswerAudioDone("r1", "i1"), ResponseDone("r1")], Phase.SPEAKING),
    "cut by link drop": (True, [*PTT_TURN, ResponseStarted("r1"),
                                AnswerAudio("r1", "i1", P), LinkDown()], Phase.SPEAKING),
    "barged in, awaiting flush": (
        True, [*PTT_TURN, ResponseStarted("r1"), AnswerAudio("r1", "i1", P), PttDown(),
               MicAudio(P)],
        Phase.LISTENING),
    "hands-free": (True, HF, Phase.HANDSFREE),
    "hands-free speech": (True, [*HF, SpeechStarted()], Phase.HANDSFREE),
    "hands-free thinking": (True, HF_TURN, Phase.THINKING),
    "hands-free speaking": (
        True, [*HF_TURN, ResponseStarted("r1"), AnswerAudio("r1", "i1", P)], Phase.SPEAKING),
    "typed prompt": (True, [Say("hello")], Phase.THINKING),
    "typed prompt offline": (False, [Say("hello")], Phase.THINKING),
    "running a tool": (True, TOOL_TURN, Phase.TOOLS),
    "tool done, response not": (True, [*TOOL_TURN, ToolFinished("c1", "{}")], Phase.TOOLS),
    "waiting for the rest": (
        True, [*TOOL_TURN, ToolFinished("c1", "{}"), ResponseDone("r1")], Phase.THINKING),
    "the rest speaking": (
        True, [*TOOL_TURN, ToolFinished("c1", "{}"), ResponseDone("r1"), ResponseStarted("r2"),
               AnswerAudio("r2", "i2", P)], Phase.SPEAKING),
    "spoke, then called": (
        True, [*PTT_TURN, ResponseStarted("r1"), AnswerAudio("r1", "i1", P), CALL],
        Phase.SPEAKING),
    "hands-free tool": (
        True, [*HF_TURN, ResponseStarted("r1"), CALL], Phase.TOOLS),
    "ringing": (True, [AlarmDue(("t1",))], Phase.IDLE),
    "ringing, hands-free": (True, [*HF, AlarmDue(("t1",))], Phase.HANDSFREE),
    "ringing, muted": (True, [WakeHold(), AlarmDue(("t1",))], Phase.MUTED),
    "tool running offline": (True, [*TOOL_TURN, LinkDown()], Phase.IDLE),
    "muted": (True, [WakeHold()], Phase.MUTED),
    "muted offline": (False, [WakeHold()], Phase.MUTED),
}

EVENTS: list[Event] = [
    PttDown(), PttUp(), WakePress(300), WakePress(10), WakeHold(), WakeWord("okay_nabu", 0.9),
    Cancel(), ConfirmWanted("garage", 8.0), RemoteToolCalled("r1", "mcp1", "lights"),
    RemoteToolCalled("r1", "mcpa1", "lights", pending=True),
    RemoteToolCalled("r9", "mcp2", "lights", approval_id="mcpa1"),
    Say("hi"), Say("   "), LinkUp(), LinkDown("test"), MicAudio(pcm(100)), MicAudio(b""),
    SpeechStarted(), SpeechStopped(), Committed(), ResponseStarted("r1"),
    ResponseStarted("r9"), AnswerAudio("r1", "i1", pcm(50)), AnswerAudio("r9", "i9", pcm(50)),
    AnswerAudio("r1", "i1", b""), AnswerAudioDone("r1", "i1"), AnswerAudioDone("r9", "i9"),
    ResponseDone("r1"), ResponseDone("r1", "failed", "server_error"),
    ResponseDone("r9", "cancelled", "turn_detected"),
    *[ServerError(code, "race") for code in sorted(BENIGN_ERRORS)],
    ServerError("invalid_request_error", "bad"), ServerError(None), PlaybackIdle(),
    PlaybackFlushed({"i1": 30}), PlaybackFlushed({}), PlaybackFlushed({"i1": -5}), Tick(),
    CALL, ToolCalled("r1", "fc2", "c2", "get_time", "{}"),
    ToolCalled("r1", "fc3", "c3", "set_timer", "{}", "incomplete"),
    ToolCalled("r9", "fc9", "c9", "set_timer", "{}"), ToolFinished("c1", '{"id":"t1"}'),
    ToolFinished("c1", '{"error":"no"}', ok=False), ToolFinished("zz", "{}"),
    AlarmDue(("t2",)), StopRinging(), Stop(), EndConversation(),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES)


def reach(name: str, settings: Settings | None = None) -> Driver:
    link, recipe, phase = STATES[name]
    d = Driver(settings, link=link)
    for event in recipe:
        d.send(event, after=0.5)
    assert d.phase() is phase, f"recipe {name!r} reached {d.phase()}, not {phase}"
    return d


@pytest.mark.parametrize("name", list(STATES))
def test_every_event_in_state(name: str) -> None:
    for event in EVENTS:
        for delay in (0.0, 0.5, 100.0):
            d = reach(name)
            d.send(event, after=delay)
            d.drain()
            d.monitor.assert_turns_resolved()


@pytest.mark.parametrize("name", list(STATES))
def test_every_pair_of_events_in_state(name: str) -> None:
    """Two events in a row: reaches the states the recipes do not name."""
    for first in EVENTS:
        d0 = reach(name)
        d0.send(first, after=0.2)
        for second in EVENTS:
            d = reach(name)
            d.send(first, after=0.2)
            d.send(second, after=0.2)
            d.drain()
            d.monitor.assert_turns_resolved()


@pytest.mark.parametrize("settings", [
    Settings(half_duplex=True),
    Settings(hold_offline_s=0, follow_up_s=0, min_press_ms=0),
    Settings(handsfree=False, responses_per_minute=1),
], ids=["half-duplex", "zero bounds", "no hands-free, one answer a minute"])
def test_every_event_in_every_state_under_other_settings(settings: Settings) -> None:
    for link, recipe, _ in STATES.values():
        for event in EVENTS:
            d = Driver(settings, link=link)
            d.run(recipe, step=0.5)
            d.send(event, after=0.5)
            d.drain()
            d.monitor.assert_turns_resolved()
