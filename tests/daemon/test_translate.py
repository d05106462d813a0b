"""The pure mapping between the machine's vocabulary and the wire protocol's."""

from __future__ import annotations

from edged.conversation import (
    AnswerAudio,
    AnswerAudioDone,
    Committed,
    FlushPlayback,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    SendText,
    SendTruncate,
    ServerError,
    SpeechStarted,
    SpeechStopped,
)
from edged.daemon.translate import client_event, machine_event
from edged.realtime import events as rt


def test_server_events_become_machine_events() -> None:
    pcm = b"\x01\x00" * 7  # an odd, sub-millisecond delta passes through untouched
    assert machine_event(rt.AudioDelta("r1", "i1", pcm)) == AnswerAudio("r1", "i1", pcm)
    assert machine_event(rt.SpeechStarted(120)) == SpeechStarted()
    assert machine_event(rt.SpeechStopped(900)) == SpeechStopped()
    assert machine_event(rt.AudioCommitted()) == Committed()
    assert machine_event(rt.ResponseCreated("r1")) == ResponseStarted("r1")
    assert machine_event(rt.AudioDone("r1", "i1")) == AnswerAudioDone("r1", "i1")
    assert machine_event(rt.ResponseDone("r1", "failed", "x")) == ResponseDone("r1", "failed",
                                                                                "x")
    assert machine_event(rt.ErrorEvent("invalid_request_error", "bad", "nope")) == \
        ServerError("bad", "nope")
    assert machine_event(rt.RateLimits(())) is None


def test_send_actions_become_client_events_with_their_event_id() -> None:
    assert client_event(SendAppend(b"ab", 1.5), "edged_1") == rt.InputAudioAppend(b"ab",
                                                                                   "edged_1")
    assert client_event(SendClear()) == rt.InputAudioClear()
    assert client_event(SendCommit(), "e") == rt.InputAudioCommit("e")
    assert client_event(SendResponseCreate("e"), "ignored") == rt.ResponseCreate("e")
    assert client_event(SendResponseCancel()) == rt.ResponseCancel(None, None)
    assert client_event(SendTruncate("i1", 605)) == rt.ItemTruncate("i1", 0, 605)
    assert client_event(SendText("hi")) == rt.ItemCreateText("hi")
    assert client_event(FlushPlayback()) is None


def test_the_uplink_meter_times_appends_by_event_id_not_by_object_identity() -> None:
    from edged.daemon.observe import Observer, Timeline
    from edged.health.metrics import Metrics

    metrics = Metrics(0.0)
    observer = Observer(metrics, reporter=None, timeline=Timeline())  # type: ignore[arg-type]
    observer.append_queued("edged_7", capture_end=10.000)
    # the event the link wrote is a different object with equal bytes: still timed
    observer.sent(rt.InputAudioAppend(b"ab", "edged_7"), at=10.0125)
    observer.sent(rt.InputAudioAppend(b"ab", "edged_7"), at=11.0)  # counted once
    observer.sent(rt.InputAudioAppend(b"ab", None), at=12.0)  # pre-roll: not timed
    assert metrics.uplink.count == 1
    assert abs((metrics.uplink.percentile(50) or 0) - 12.5) < 1e-6
