"""A real server's error paths, against the real ``edged run``: no stuck turns, no
poisoned connections, no silent loss.

Each test makes the simulator misbehave the way a real server did (a fault, given to
the next connection; the test drops the first one to get there), drives turns with
``edged ctl`` as a separate process and follows them with ``edged ctl watch``. Real
everything: PyAudio on the PulseAudio rig's paced devices, websockets over loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edged.demo.scenario import utterance
from edged.simulator import Fault
from tests.e2e.daemon_rig import Edged, ctl_env, wait
from tests.rigs.ctl import Event, Watcher

pytestmark = pytest.mark.pulse


@pytest.fixture
def watch(edged_run: Edged) -> Iterator[Watcher]:
    w = Watcher(edged_run.socket, ctl_env())
    w.wait_for(lambda e: e["event"] == "state", "the first state line")
    yield w
    w.stop()


def next_connection_with(r: Edged, fault: Fault) -> None:
    """The fault for the next connection, and that connection, up."""
    before = r.sim.connections()
    r.sim.inject(fault)
    r.sim.drop_all()
    wait(lambda: r.sim.connections() > before and r.link_up(), "the link back up")


def outcome(w: Watcher, turn: int) -> Event:
    """The event that settled a turn: its answer started, or why not."""
    return w.wait_for(lambda e: e["event"] in ("answer_started", "answer_failed", "no_answer",
                                               "utterance_dropped")
                      and e["data"].get("turn") == turn, f"turn {turn}'s outcome")


def say(r: Edged, text: str) -> None:
    done = r.ctl("say", text)
    assert done.returncode == 0, done.stdout + done.stderr


def sent_types(r: Edged, connection: int) -> list[str]:
    return [ev["type"] for n, ev in r.sim.events() if n == connection]


def test_a_refused_request_fails_its_turn_and_the_next_turn_is_answered(
        edged_run: Edged, watch: Watcher) -> None:
    """Before: the refused response.create stayed counted, a response.cancel was sent for
    it, and the next turn got no response.create until the 20 s answer timeout."""
    r = edged_run
    next_connection_with(r, Fault.reject("response.create", "invalid_value", nth=1))
    say(r, "first")
    failed = outcome(watch, 1)
    assert failed["event"] == "answer_failed", failed
    say(r, "second")
    answered = outcome(watch, 2)
    assert answered["event"] == "answer_started", answered
    types = sent_types(r, r.sim.connections())
    assert types.count("response.create") == 2
    assert "response.cancel" not in types  # nothing to cancel for a refused request


def test_an_error_long_before_an_ordinary_close_is_not_an_auth_failure(
        edged_run: Edged, watch: Watcher) -> None:
    """Before: insufficient_quota, then close 1001 five seconds later: auth_failed for
    fifteen minutes."""
    r = edged_run
    next_connection_with(r, Fault.error_then_close("insufficient_quota", after_s=3.0))
    wait(lambda: r.sim.connections() == 3 and r.link_up(), "the link up again after the "
         "close", timeout=90)
    watch.wait_for(lambda e: e["event"] == "server_error"
                   and e["data"]["code"] == "insufficient_quota", "the error, noticed")
    states = [e["data"].get("state") for e in watch.seen if e["event"] == "link"]
    assert "auth_failed" not in states, states


def test_session_expired_between_request_and_answer_asks_again(
        edged_run: Edged, watch: Watcher) -> None:
    """Before: the session_expired error failed the turn and nothing was asked again."""
    r = edged_run
    next_connection_with(r, Fault.session_expired_at("create"))
    first = r.sim.connections()
    say(r, "what time is it")
    answered = outcome(watch, 1)
    assert answered["event"] == "answer_started", answered
    assert r.sim.connections() == first + 1
    assert "conversation.item.create" in sent_types(r, first + 1)  # the turn sent again


@pytest.mark.parametrize("fault", [Fault.fail_answer(2),
                                   Fault.incomplete_answer(2, "max_output_tokens")],
                         ids=["failed", "incomplete"])
def test_an_answer_that_ends_part_way_says_so_with_the_error_sound(
        edged_run: Edged, watch: Watcher, fault: Fault) -> None:
    r = edged_run
    next_connection_with(r, fault)
    say(r, "tell me a long story")
    assert outcome(watch, 1)["event"] == "answer_started"
    ended = watch.wait_for(lambda e: e["event"] == "answer_ended", "answer_ended")
    assert ended["data"]["status"] in ("failed", "incomplete")
    assert ended["data"]["error_sound"] is True and ended["data"]["heard_ms"] > 0
    watch.wait_for(lambda e: e["event"] == "transition" and e["data"]["to"] == "idle",
                   "the answer played out")


def test_a_voice_change_after_the_model_spoke_keeps_hands_free_working(
        edged_run: Edged, watch: Watcher) -> None:
    """Before: every session.update carried the voice; once the model had spoken the
    server refused them all, so the wake press's turn detection never arrived."""
    r = edged_run
    say(r, "hello")
    assert outcome(watch, 1)["event"] == "answer_started"
    watch.wait_for(lambda e: e["event"] == "transition" and e["data"]["to"] == "idle",
                   "the answer heard")
    doc = r.write(realtime={"voice": "verse"})
    assert doc["realtime"]["voice"] == "verse"
    done = r.ctl("reload")
    assert done.stdout.strip() == "applied: realtime.voice", done.stdout + done.stderr
    # idle: the new voice comes with a renewed session, not with a refused update
    wait(lambda: r.sim.connections() == 2 and r.link_up(), "the renewed session")
    second = [ev for n, ev in r.sim.events() if n == 2 and ev["type"] == "session.update"]
    assert second[0]["session"]["audio"]["output"]["voice"] == "verse"
    assert r.ctl("wake").returncode == 0
    r.pulse.feed_mic(utterance("weather"), rate=24000)
    r.pulse.wait_fed()
    committed = watch.wait_for(lambda e: e["event"] == "transition"
                               and e["data"]["cause"] == "committed", "the server's turn end")
    assert committed["data"]["to"] == "thinking"
    errors = [e for e in watch.seen if e["event"] == "server_error"]
    assert not errors, errors


def test_a_reload_of_an_unchanged_file_retries_a_404_at_once(
        edged_run: Edged, watch: Watcher) -> None:
    """Before: only a change of the endpoint keys lifted the wait, though the log said
    'or at once after a reload'."""
    r = edged_run
    r.sim.inject(Fault.refuse(404))
    r.sim.drop_all()
    watch.wait_for(lambda e: e["event"] == "link" and e["data"].get("state") == "config_failed",
                   "config_failed", timeout=90)
    done = r.ctl("reload")
    assert done.stdout.strip() == "applied: nothing changed", done.stdout + done.stderr
    watch.wait_for(lambda e: e["event"] == "link" and e["data"].get("state") == "up"
                   and e["data"].get("up") is None, "the link up at once", timeout=90)
