"""Random event sequences (Hypothesis): the machine's promises hold whatever the order.

The invariant monitor (tests/rigs/conversation.py) checks every step: no client
event while the link is down, no audio of a cancelled or superseded answer, at
most one response wanted, response.create never while the server runs one,
truncates within what was received, every transition noticed, mute honoured,
every error-like drop audible. At the end, time alone must bring the machine
to rest with every turn accounted for.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edged.conversation import (
    AnswerAudio,
    AnswerAudioDone,
    Cancel,
    Committed,
    Event,
    LinkDown,
    LinkUp,
    MicAudio,
    PlaybackFlushed,
    PlaybackIdle,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    Say,
    ServerError,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    WakeHold,
    WakePress,
)
from tests.rigs.conversation import Driver, pcm

rids = st.sampled_from(["r1", "r2", "r3"])
items = st.sampled_from(["i1", "i2"])
audio = st.sampled_from([b"", pcm(20), pcm(100), pcm(400)])

events: st.SearchStrategy[Event] = st.one_of(
    st.builds(PttDown, audio), st.just(PttUp()), st.builds(WakePress, st.integers(0, 1000)),
    st.just(WakeHold()), st.just(Cancel()), st.builds(Say, st.sampled_from(["", "hi"])),
    st.just(LinkUp()), st.just(LinkDown("x")), st.builds(MicAudio, audio),
    st.just(SpeechStarted()), st.just(SpeechStopped()), st.just(Committed()),
    st.builds(ResponseStarted, rids), st.builds(AnswerAudio, rids, items, audio),
    st.builds(AnswerAudioDone, rids, items),
    st.builds(ResponseDone, rids, st.sampled_from(["completed", "cancelled", "failed"])),
    st.builds(ServerError, st.sampled_from([
        "response_cancel_not_active", "conversation_already_has_active_response",
        "input_audio_buffer_commit_empty", "invalid_request_error", None])),
    st.just(PlaybackIdle()),
    st.builds(PlaybackFlushed, st.dictionaries(items, st.integers(-10, 2000), max_size=2)),
    st.just(Tick()),
)
delays = st.sampled_from([0.0, 0.05, 0.2, 1.0, 5.0, 25.0])
configs = st.builds(
    Settings,
    min_press_ms=st.sampled_from([0, 150]),
    min_utterance_ms=st.sampled_from([100, 500]),
    max_utterance_s=st.sampled_from([1.0, 30.0]),
    follow_up_s=st.sampled_from([0.0, 8.0]),
    hold_offline_s=st.sampled_from([0.0, 2.0, 30.0]),
    responses_per_minute=st.sampled_from([1, 10]),
    half_duplex=st.booleans(),
    handsfree=st.booleans(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, link=st.booleans(), steps=st.lists(st.tuples(events, delays),
                                                        max_size=60))
def test_random_sequences_keep_every_promise(cfg: Settings, link: bool,
                                             steps: list[tuple[Event, float]]) -> None:
    d = Driver(cfg, link=link)
    for event, delay in steps:
        d.send(event, after=delay)
    d.drain()
    d.monitor.assert_turns_resolved()


def ptt_turn() -> st.SearchStrategy[list[Event]]:
    return st.just([PttDown(pcm(300)), MicAudio(pcm(400)), PttUp()])


def server_answer(rid: str) -> list[Event]:
    return [ResponseStarted(rid), AnswerAudio(rid, rid + "i", pcm(200)),
            AnswerAudioDone(rid, rid + "i"), ResponseDone(rid)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    ptt_turn(), st.builds(server_answer, rids), st.just([LinkDown("x")]),
    st.just([LinkUp()]), st.just([PlaybackIdle()]), st.just([Tick()]),
    st.just([PttDown(pcm(300))]), st.just([PlaybackFlushed({"r1i": 100, "r2i": 50})]),
), max_size=25), st.lists(delays, min_size=1, max_size=5))
def test_plausible_conversations_keep_every_promise(chunks: list[list[Event]],
                                                    gaps: list[float]) -> None:
    """Sequences shaped like real turns reach deep states more often than noise does."""
    d = Driver()
    n = 0
    for chunk in chunks:
        for event in chunk:
            d.send(event, after=gaps[n % len(gaps)])
            n += 1
    d.drain()
    d.monitor.assert_turns_resolved()


def handsfree_answer(rid: str) -> list[Event]:
    return [SpeechStarted(), SpeechStopped(), Committed(), *server_answer(rid)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.just([WakePress(400)]), st.builds(handsfree_answer, rids),
    st.builds(server_answer, rids), st.just([SpeechStarted()]), st.just([WakeHold()]),
    st.just([LinkDown("x")]), st.just([LinkUp()]), st.just([PlaybackIdle()]),
    st.just([Tick()]), ptt_turn(), st.just([Say("hi")]), st.just([Cancel()]),
    st.just([PlaybackFlushed({"r1i": 100, "r2i": 50, "r3i": 0})]),
), max_size=25), st.lists(delays, min_size=1, max_size=5), st.booleans())
def test_plausible_hands_free_conversations_keep_every_promise(
        chunks: list[list[Event]], gaps: list[float], half_duplex: bool) -> None:
    d = Driver(Settings(half_duplex=half_duplex))
    n = 0
    for chunk in chunks:
        for event in chunk:
            d.send(event, after=gaps[n % len(gaps)])
            n += 1
    d.drain()
    d.monitor.assert_turns_resolved()
