"""The playback jitter buffer, with plain values and no clock."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edged.audio.buffers import PlayQueue

RATE = 1000  # 1 frame = 1 ms keeps the arithmetic readable
MONO = 2  # bytes per frame


def frames(values: list[int] | range) -> bytes:
    return np.asarray(list(values), np.int16).tobytes()


def pull(q: PlayQueue, n: int, dac: float = 0.0, now: float = 0.0) -> list[int]:
    data, _ = q.pull(n, dac, now)
    return [int(v) for v in np.frombuffer(data, np.int16)]


def state(q: PlayQueue) -> str:
    return q.state


def test_playback_waits_for_the_prebuffer_then_plays_in_order() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=30, capacity=1000)
    q.push("a", frames(range(1, 21)))
    assert pull(q, 10) == [0] * 10  # 20 < 30 queued: still buffering
    assert state(q) == "buffering"
    q.push("a", frames(range(21, 41)))
    assert pull(q, 10) == list(range(1, 11))
    assert state(q) == "playing"
    assert q.handed("a") == 10


def test_end_of_answer_plays_the_tail_without_the_prebuffer() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=500, capacity=1000)
    q.push("a", frames([5, 6, 7]))
    q.end("a")
    data, got = q.pull(5, 0.0)
    assert np.frombuffer(data, np.int16).tolist() == [5, 6, 7, 0, 0]
    assert got.drained and not got.underrun and got.audio == 3
    assert state(q) == "idle"


def test_running_dry_mid_answer_is_an_underrun_filled_with_silence() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames([1, 2, 3]))
    data, got = q.pull(5, 0.0)
    assert np.frombuffer(data, np.int16).tolist() == [1, 2, 3, 0, 0]
    assert got.underrun and q.underruns == 1 and state(q) == "buffering"
    # silence, never the old audio again, until more arrives
    assert pull(q, 4) == [0, 0, 0, 0]
    assert q.underruns == 1  # one episode, counted once
    q.push("a", frames([4, 5]))
    assert pull(q, 2) == [4, 5]
    q.end("a")  # the answer ends while the buffer is dry: drained, not another underrun
    _, got = q.pull(2, 0.0)
    assert got.drained and state(q) == "idle" and q.underruns == 1


def test_flush_stops_at_once_and_reports_what_was_handed() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames(range(1, 101)))
    assert pull(q, 40)[-1] == 40
    assert q.flush() == {"a": 40}
    assert pull(q, 10) == [0] * 10  # the very next buffer is silent
    assert state(q) == "idle" and q.queued == 0


def test_audio_for_a_flushed_item_is_refused() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames([1, 2]))
    q.flush()
    assert q.push("a", frames([3, 4])) is None  # late deltas of the cancelled answer
    assert state(q) == "idle"
    assert q.push("b", frames([5])) == 0  # the next answer plays normally
    assert pull(q, 1) == [5]


def test_a_full_buffer_drops_the_excess_and_counts_it() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=5)
    assert q.push("a", frames(range(1, 5))) == 0
    assert q.push("a", frames(range(5, 9))) == 4
    assert q.dropped == 3 and q.queued == 5
    assert pull(q, 5) == [1, 2, 3, 4, 5]


def test_stereo_frames_stay_whole() -> None:
    q = PlayQueue(RATE, 4, prebuffer=0, capacity=100)
    q.push("a", frames([1, -1, 2, -2, 3, -3]) + b"\x09")  # a dangling byte is dropped
    data, got = q.pull(2, 0.0)
    assert np.frombuffer(data, np.int16).tolist() == [1, -1, 2, -2]
    assert got.audio == 2 and q.queued == 1


def test_heard_follows_the_speaker_time_of_each_buffer() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames(range(1, 101)))
    q.pull(20, 10.0, 9.95)  # these 20 ms reach the speaker at t=10.0 … 10.02
    q.pull(20, 10.02, 9.97)
    assert q.handed("a") == 40
    assert q.heard("a", 9.99) == 0
    assert q.heard("a", 10.005) == 5
    assert q.heard("a", 10.03) == 30
    assert q.heard("a", 11.0) == 40
    assert q.started("a") == (9.95, 10.0)


def test_items_are_accounted_separately() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames([1, 2, 3]))
    q.end("a")
    q.push("b", frames([4, 5, 6]))
    assert pull(q, 4) == [1, 2, 3, 4]
    assert (q.handed("a"), q.handed("b")) == (3, 1)
    assert q.flush() == {"b": 1}


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 30)), max_size=30),
       st.integers(0, 50))
def test_audio_comes_out_in_order_once_whatever_the_timing(
        steps: list[tuple[int, int]], prebuffer: int) -> None:
    q = PlayQueue(RATE, MONO, prebuffer=prebuffer, capacity=10_000)
    pushed: list[int] = []
    played: list[int] = []
    for push_n, pull_n in steps:
        chunk = list(range(len(pushed) + 1, len(pushed) + 1 + push_n))  # never zero
        q.push("a", frames(chunk))
        pushed.extend(chunk)
        out = pull(q, pull_n)
        assert len(out) == pull_n
        played.extend(v for v in out if v)
    # silence fills the gaps, but audio is never repeated, reordered or skipped
    assert played == pushed[: len(played)]
    assert q.handed("a") == len(played)
    assert q.queued == len(pushed) - len(played)


def test_a_dropped_device_buffer_counts_only_what_was_heard() -> None:
    q = PlayQueue(RATE, MONO, prebuffer=0, capacity=1000)
    q.push("a", frames(range(1, 101)))
    q.pull(20, 10.0, 9.95)  # reaches the speaker 10.00 … 10.02
    q.pull(20, 10.02, 9.97)  # … 10.04
    assert q.sounding_until() == 10.04
    q.flush()
    q.drop_in_flight(10.025)  # the device discarded its buffer at 10.025
    assert q.handed("a") == 25 and q.heard("a", 11.0) == 25
    assert q.sounding_until() == 0.0
