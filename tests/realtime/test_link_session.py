"""Session updates after the first: only what changed, each answered, a new voice by renewal.

Real websockets to the loopback simulator, which, like the real servers, refuses a
whole ``session.update`` that changes the voice once the model has spoken.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from edged.realtime.events import AudioDelta, SessionUpdated, session_from_config
from edged.simulator import Fault
from tests.realtime.test_link import Rig, aio, sim


def updates(s: Any, connection: int) -> list[dict[str, Any]]:
    return [ev for n, ev in s.events if n == connection and ev.get("type") == "session.update"]


def updated(rig: Rig) -> int:
    return sum(isinstance(e, SessionUpdated) for e in rig.events)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@aio
async def test_a_later_update_names_only_the_fields_that_changed(dialect: str) -> None:
    async with sim() as s, Rig(s, dialect=dialect) as rig:
        await rig.up()
        same = session_from_config(rig.config.realtime, handsfree=False)
        assert rig.link.set_session(same) is True
        handsfree = session_from_config(rig.config.realtime, handsfree=True)
        assert rig.link.set_session(handsfree) is True
        await rig.until(lambda: updated(rig) >= 2, "the update confirmed")
        sent = updates(s, 1)
        assert len(sent) == 2  # the first, then the change: nothing for the same session
        later = sent[1]["session"]
        if dialect == "ga":
            assert later == {"type": "realtime", "audio": {"input": {
                "turn_detection": later["audio"]["input"]["turn_detection"]}}}
        else:
            assert set(later) == {"turn_detection"}
        effective = s.session(1)
        assert effective is not None and "voice" in str(effective)
        assert rig.link._updates == {}  # session.updated answered it


@aio
async def test_a_connection_starts_with_one_session_update_however_often_it_is_set() -> None:
    async with sim() as s, Rig(s) as rig:
        await rig.up()
        for _ in range(3):  # the daemon sets the mode's session on every link-up
            rig.link.set_session(session_from_config(rig.config.realtime, handsfree=False))
        await rig.ask()
        assert rig.session_updates() == {1: 1}


@aio
async def test_a_new_voice_after_the_model_spoke_waits_for_an_idle_renewal(
        caplog: pytest.LogCaptureFixture) -> None:
    """Before: every update carried the voice, and a server that had spoken refused them
    all, hands-free's turn detection included."""
    caplog.set_level(logging.INFO, logger="edged.realtime")
    idle = False
    async with sim() as s, Rig(s, is_idle=lambda: idle) as rig:
        await rig.up()
        await rig.ask()
        assert any(isinstance(e, AudioDelta) for e in rig.events)  # the model has spoken
        rt = dataclasses.replace(rig.config.realtime, voice="verse")
        assert rig.link.set_session(session_from_config(rt, handsfree=True)) is True
        await rig.until(lambda: updated(rig) >= 2, "the turn detection update confirmed")
        later = updates(s, 1)[-1]["session"]
        assert "voice" not in str(later) and later["audio"]["input"]["turn_detection"]
        assert "applies from the next session" in caplog.text
        assert s.connections == 1  # not while the conversation is busy
        idle = True
        await rig.up(connects=2)
        first = updates(s, 2)[0]["session"]
        assert first["audio"]["output"]["voice"] == "verse"
        assert rig.link.status.renewals == 1
        assert not [e for e in rig.events if getattr(e, "code", None) == "cannot_update_voice"]


@aio
async def test_a_new_voice_before_the_model_spoke_is_sent_at_once() -> None:
    async with sim() as s, Rig(s) as rig:
        await rig.up()
        rt = dataclasses.replace(rig.config.realtime, voice="verse")
        rig.link.set_session(session_from_config(rt, handsfree=False))
        await rig.until(lambda: updated(rig) >= 2, "the voice update confirmed")
        assert updates(s, 1)[-1]["session"]["audio"] == {"output": {"voice": "verse"}}
        assert s.connections == 1


@aio
async def test_a_refused_update_is_logged_by_its_fields_and_sent_again_next_time(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edged.realtime")
    async with sim() as s:
        s.inject(Fault.reject("session.update", "invalid_value", nth=2))  # the first later one
        async with Rig(s) as rig:
            await rig.up()
            handsfree = session_from_config(rig.config.realtime, handsfree=True)
            rig.link.set_session(handsfree)
            await rig.until(lambda: not rig.link._updates, "the refusal")
            assert "refused the session update of turn_detection (invalid_value)" in caplog.text
            assert updated(rig) == 1
            rig.link.set_session(handsfree)  # the server still has the old value: again
            await rig.until(lambda: updated(rig) >= 2, "the update, accepted this time")
            assert len(updates(s, 1)) == 3
