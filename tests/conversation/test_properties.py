"""Random event sequences (Hypothesis): the machine's promises hold whatever the order.

The invariant monitor (tests/rigs/conversation.py) checks every step: no client
event while the link is down, no audio of a cancelled or superseded answer, at
most one response wanted, response.create never while the server runs one,
truncates within what was received, every transition noticed, mute honoured,
every error-like drop audible. At the end, time alone must bring the machine
to rest with every turn accounted for.

Audio comes in any whole number of samples, not only whole milliseconds (a
flushed uplink ends with a partial frame; a server delta may hold any number of
samples), including less than a millisecond, and the player's ``played``
figures may have fractions. ``TruncateWatch`` pins the truncate computation
from outside, on every step: ``audio_end_ms`` is min(played, received) in whole
milliseconds, never beyond the whole milliseconds received, and a truncate is
sent exactly when something unheard remains. Odd byte counts are not generated:
the edge hands the machine whole PCM16 samples only (the codec refuses an odd
audio delta, the capture delivers int16 frames); the machine counts bytes and
does not check this, so the watch only asserts that it never splits a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edged.conversation import (
    PCM_BYTES_PER_MS,
    Action,
    AnswerAudio,
    AnswerAudioDone,
    Cancel,
    Committed,
    Event,
    FlushPlayback,
    LinkDown,
    LinkUp,
    MicAudio,
    PlayAnswer,
    PlaybackFlushed,
    PlaybackIdle,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    Say,
    SendAppend,
    SendTruncate,
    ServerError,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    WakeHold,
    WakePress,
)
from tests.rigs.conversation import Driver, notices, pcm

SAMPLE_BYTES = 2
SAMPLES_PER_MS = PCM_BYTES_PER_MS // SAMPLE_BYTES


def samples(n: int) -> bytes:
    """Silence of ``n`` whole PCM16 samples (not necessarily whole milliseconds)."""
    return b"\x00" * (n * SAMPLE_BYTES)


def flushed(played: dict[str, float]) -> PlaybackFlushed:
    """A player report; the field says int (the real player floors), but the machine
    must take whole milliseconds of whatever it is given, fractions included."""
    return PlaybackFlushed(cast(dict[str, int], played))


sample_counts = st.one_of(
    st.integers(0, SAMPLES_PER_MS - 1),  # less than a millisecond
    st.integers(0, 400).map(lambda ms: ms * SAMPLES_PER_MS),  # whole milliseconds
    st.integers(0, 400 * SAMPLES_PER_MS),  # any whole number of samples
)
audio = st.one_of(st.sampled_from([b"", pcm(20), pcm(100), pcm(400)]),
                  sample_counts.map(samples))
played_ms = st.one_of(
    st.integers(-10, 2000),
    st.floats(-10, 2000, allow_nan=False, allow_infinity=False),
    st.builds(lambda ms, frac: ms + frac, st.integers(0, 500),
              st.sampled_from([0.001, 0.25, 0.5, 0.999])),
)


# --------------------------------------------------------------------------- the truncate watch


@dataclass
class Flushed:
    """An item the player was told to drop, as the watch saw it."""

    nbytes: int
    active: bool  # its response was still running
    session: int  # the session the answer came on
    flushed_on: int  # the session at the barge-in


@dataclass
class TruncateWatch:
    """Follows answer audio from the actions and checks every truncate against it.

    Only events, actions and notices are read (not the machine's state), so the
    watch keeps holding while the machine's insides change.
    """

    link: bool = False
    session: int = 0
    answer: str | None = None
    answer_session: int = 0
    items: dict[str, int] = field(default_factory=dict)  # bytes given to the player
    done: bool = False
    unheard: dict[str, Flushed] = field(default_factory=dict)

    def step(self, event: Event | None, actions: list[Action]) -> None:
        truncates = [a for a in actions if isinstance(a, SendTruncate)]
        if isinstance(event, PlaybackFlushed):
            self._check_flush(event, actions, truncates)
        else:
            assert not truncates, f"truncate without a player report: {truncates}"
        if isinstance(event, ResponseDone) and event.response_id == self.answer:
            self.done = True
        for a in actions:
            if isinstance(a, PlayAnswer | SendAppend):
                assert len(a.pcm) % SAMPLE_BYTES == 0, f"{a!r} splits a sample"
            if isinstance(a, PlayAnswer):
                assert a.response_id == self.answer, (a, self.answer)
                self.items[a.item_id] = self.items.get(a.item_id, 0) + len(a.pcm)
        self._follow_notices(actions)

    def _follow_notices(self, actions: list[Action]) -> None:
        for n in notices(actions):
            if n.kind == "link":
                self.link = bool(n.fields["up"])
                if self.link:
                    self.session += 1
            elif n.kind == "answer_started":
                self.answer = cast(str, n.fields["response_id"])
                self.answer_session = self.session
                self.items = {}
                self.done = False
            elif n.kind == "answer_cut":
                self.done = True
            elif n.kind == "barge_in" and n.fields["response_id"] is not None:
                assert n.fields["response_id"] == self.answer
                if self.items:
                    assert any(isinstance(a, FlushPlayback) for a in actions)
                for item, nbytes in self.items.items():
                    self.unheard[item] = Flushed(nbytes, not self.done, self.answer_session,
                                                 self.session)
                self.answer = None
                self.items = {}

    def _check_flush(self, ev: PlaybackFlushed, actions: list[Action],
                     truncates: list[SendTruncate]) -> None:
        sent = {t.item_id: t.audio_end_ms for t in truncates}
        assert len(sent) == len(truncates), f"an item truncated twice: {truncates}"
        told = {n.fields["item_id"]: n.fields["received_ms"]
                for n in notices(actions, "truncated")}
        skipped = {n.fields["item_id"] for n in notices(actions, "truncate_skipped")}
        want: dict[str, int] = {}
        want_skipped: set[str] = set()
        for item, f in self.unheard.items():
            whole = f.nbytes // PCM_BYTES_PER_MS  # only whole milliseconds were received
            end = max(0, min(math.floor(ev.played.get(item, 0)), whole))
            if item in sent:
                assert 0 <= sent[item] <= whole, (
                    f"truncate {item} at {sent[item]} ms: beyond the {whole} whole ms "
                    f"received ({f.nbytes} bytes)")
                assert sent[item] == end, (
                    f"truncate {item} at {sent[item]} ms, not min(played "
                    f"{ev.played.get(item, 0)}, received {whole}) = {end} ms")
                assert told.get(item) == whole, (item, told, whole)
            if not f.active and end >= whole:
                continue  # all of it was heard: nothing to truncate
            if f.session != self.session or not self.link:  # only its own session had it
                want_skipped.add(item)
            else:
                want[item] = end
        assert sent == want, (
            f"truncates {sent}, expected {want} (unheard {self.unheard}, played {ev.played})")
        assert skipped == want_skipped, (skipped, want_skipped)
        self.unheard.clear()


class WatchedDriver(Driver):
    """The rig's driver, with the truncate watch on every step too."""

    def __init__(self, settings: Settings | None = None, *, link: bool = True) -> None:
        self.truncates = TruncateWatch()
        super().__init__(settings, link=link)

    def send(self, event: Event, *, after: float = 0.0) -> list[Action]:
        actions = super().send(event, after=after)
        try:
            self.truncates.step(event, actions)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.history()}") from None
        return actions


# --------------------------------------------------------------------------- random sequences


rids = st.sampled_from(["r1", "r2", "r3"])
items = st.sampled_from(["i1", "i2"])

events: st.SearchStrategy[Event] = st.one_of(
    st.just(PttDown()), st.just(PttUp()), st.builds(WakePress, st.integers(0, 1000)),
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
    st.builds(flushed, st.dictionaries(items, played_ms, max_size=2)),
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
    d = WatchedDriver(cfg, link=link)
    for event, delay in steps:
        d.send(event, after=delay)
    d.drain()
    d.monitor.assert_turns_resolved()


def ptt_turn(preroll: bytes, speech: bytes) -> list[Event]:
    return [PttDown(), MicAudio(preroll), MicAudio(speech), PttUp()]


def server_answer(rid: str, chunks: list[bytes]) -> list[Event]:
    return [ResponseStarted(rid), *(AnswerAudio(rid, rid + "i", c) for c in chunks),
            AnswerAudioDone(rid, rid + "i"), ResponseDone(rid)]


def interrupted_answer(rid: str, chunks: list[bytes], done: bool, barge: Event,
                       played: float | None) -> list[Event]:
    """A typed turn whose answer is interrupted, then the player's report."""
    item = rid + "i"
    return [Say("hi"), ResponseStarted(rid), *(AnswerAudio(rid, item, c) for c in chunks),
            *([ResponseDone(rid)] if done else []), barge,
            flushed({} if played is None else {item: played})]


ptt_turns = st.builds(ptt_turn, audio, audio)
answer_chunks = st.lists(audio, min_size=1, max_size=3)
server_answers = st.builds(server_answer, rids, answer_chunks)
player_reports = st.builds(flushed, st.dictionaries(
    st.sampled_from(["r1i", "r2i", "r3i"]), played_ms, max_size=3))
barges = st.sampled_from([Cancel(), PttDown(), Say("again")])
interrupted_answers = st.builds(interrupted_answer, rids, answer_chunks, st.booleans(),
                                st.one_of(barges, st.just(SpeechStarted())),
                                st.none() | played_ms)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    ptt_turns, server_answers, st.just([LinkDown("x")]),
    st.just([LinkUp()]), st.just([PlaybackIdle()]), st.just([Tick()]),
    st.just([PttDown()]), player_reports.map(lambda e: [e]), interrupted_answers,
), max_size=25), st.lists(delays, min_size=1, max_size=5))
def test_plausible_conversations_keep_every_promise(chunks: list[list[Event]],
                                                    gaps: list[float]) -> None:
    """Sequences shaped like real turns reach deep states more often than noise does."""
    d = WatchedDriver()
    n = 0
    for chunk in chunks:
        for event in chunk:
            d.send(event, after=gaps[n % len(gaps)])
            n += 1
    d.drain()
    d.monitor.assert_turns_resolved()


def handsfree_answer(rid: str, chunks: list[bytes]) -> list[Event]:
    return [SpeechStarted(), SpeechStopped(), Committed(), *server_answer(rid, chunks)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.just([WakePress(400)]),
    st.builds(handsfree_answer, rids, st.lists(audio, min_size=1, max_size=3)),
    server_answers, st.just([SpeechStarted()]), st.just([WakeHold()]),
    st.just([LinkDown("x")]), st.just([LinkUp()]), st.just([PlaybackIdle()]),
    st.just([Tick()]), ptt_turns, st.just([Say("hi")]), st.just([Cancel()]),
    st.builds(MicAudio, audio).map(lambda e: [e]), player_reports.map(lambda e: [e]),
    interrupted_answers,
), max_size=25), st.lists(delays, min_size=1, max_size=5), st.booleans())
def test_plausible_hands_free_conversations_keep_every_promise(
        chunks: list[list[Event]], gaps: list[float], half_duplex: bool) -> None:
    d = WatchedDriver(Settings(half_duplex=half_duplex))
    n = 0
    for chunk in chunks:
        for event in chunk:
            d.send(event, after=gaps[n % len(gaps)])
            n += 1
    d.drain()
    d.monitor.assert_turns_resolved()


# --------------------------------------------------------------------------- truncate, directed


@settings(max_examples=300, deadline=None)
@given(chunks=st.dictionaries(items, st.lists(sample_counts, min_size=1, max_size=4),
                              min_size=1, max_size=2),
       done=st.booleans(), barge=barges,
       link_after=st.booleans(), data=st.data())
def test_truncate_is_what_was_heard_of_what_was_received(
        chunks: dict[str, list[int]], done: bool, barge: Event, link_after: bool,
        data: st.DataObject) -> None:
    """Every barge-in reaches the truncate, with received and played near each other."""
    d = WatchedDriver()
    d.send(Say("hi"))
    d.send(ResponseStarted("r1"))
    for item, counts in chunks.items():
        for n in counts:
            d.send(AnswerAudio("r1", item, samples(n)), after=0.01)
    if done:
        d.send(ResponseDone("r1"))
    d.send(barge, after=0.1)
    if not link_after:
        d.send(LinkDown("x"))
    played: dict[str, float] = {}
    for item, counts in chunks.items():
        exact = sum(counts) / SAMPLES_PER_MS  # ms received, fractions included
        near = st.builds(lambda at, by: max(0.0, at + by), st.sampled_from(
            [exact, math.floor(exact), math.ceil(exact)]), st.sampled_from(
            [-1.0, -0.5, -0.001, 0.0, 0.001, 0.5, 1.0]))
        heard = data.draw(st.one_of(st.none(), played_ms, near), label=f"played {item}")
        if heard is not None:
            played[item] = heard
    out = d.send(flushed(played))  # the watch checks every figure

    for item, counts in chunks.items():  # and, said plainly once more:
        whole = sum(counts) * SAMPLE_BYTES // PCM_BYTES_PER_MS
        end = max(0, min(math.floor(played.get(item, 0)), whole))
        unheard = sum(counts) > 0 and (not done or end < whole)
        sent = [t for t in out if isinstance(t, SendTruncate) and t.item_id == item]
        if unheard and link_after:
            assert sent == [SendTruncate(item, end)]
        else:
            assert sent == []


def test_old_session_item_not_truncated() -> None:
    """Before: the item's session was taken at the barge-in, not from the answer."""
    d = Driver()
    d.run([Say("hi"), ResponseStarted("r1"), AnswerAudio("r1", "i1", pcm(100))])
    d.run([LinkDown("x"), LinkUp()])  # the answer plays out; the new session never had i1
    d.send(Cancel())
    out = d.send(PlaybackFlushed({"i1": 10}))
    assert not [a for a in out if isinstance(a, SendTruncate)]
    assert notices(out, "truncate_skipped")[0].fields["item_id"] == "i1"
