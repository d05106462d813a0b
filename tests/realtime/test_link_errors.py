"""Errors and protocol breaks a real server reaches, said for what they are.

Real websockets to the loopback simulator and its faults.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edged.realtime.events import ErrorEvent
from edged.realtime.link import LinkState
from edged.simulator import Fault
from tests.realtime.test_link import Rig, aio, sim
from tests.realtime.test_token_service import DEVICE_TOKEN, TokenLink
from tests.rigs.token_service import TokenServiceRig


@aio
async def test_an_error_long_before_an_ordinary_close_does_not_classify_it() -> None:
    """Before: insufficient_quota answered seconds earlier made a close 1001 an auth
    failure, and the link waited 15 minutes."""
    async with sim() as s:
        s.inject(Fault.error_then_close("insufficient_quota", after_s=3.0))
        async with Rig(s, backoff_base_s=5.0, backoff_cap_s=5.0) as rig:
            await rig.up(connects=2)  # with 5 s backoff, only an immediate rejoin fits
            assert any(isinstance(e, ErrorEvent) and e.code == "insufficient_quota"
                       for e in rig.events)
            assert rig.link.status.failures == {"session_end": 1}
            assert LinkState.AUTH_FAILED not in rig.states()
            assert "insufficient_quota" not in (rig.link.status.last_error or "")


@aio
async def test_an_error_right_before_the_close_still_explains_it() -> None:
    async with sim() as s:
        s.inject(Fault.error_then_close("insufficient_quota", after_s=0.2))
        async with Rig(s) as rig:
            await rig.until(lambda: LinkState.AUTH_FAILED in rig.states(), "auth_failed")
            assert "after error insufficient_quota" in (rig.link.status.last_error or "")


@pytest.mark.parametrize(("fault", "said"), [
    (Fault.big_frame(2), "1009 (the server sent a message over link.max_message_mb (1 MB))"),
    (Fault.bad_utf8(), "1007 (the server sent text that is not valid UTF-8)"),
], ids=["over max_size", "invalid UTF-8"])
@aio
async def test_a_protocol_break_is_said_as_our_close_not_a_lost_connection(
        fault: Fault, said: str) -> None:
    async with sim() as s:
        s.inject(fault)
        async with Rig(s, max_message_mb=1.0) as rig:
            await rig.up(connects=2)
            assert rig.link.status.last_error == f"edged closed the connection: {said}"
            assert rig.link.status.failures == {"network": 1}


@aio
async def test_a_reload_clears_the_last_error_of_a_reconnect_it_causes() -> None:
    """Before: the link-down line after a reload showed the error of an older drop."""
    async with sim() as s:
        s.inject(Fault.bad_utf8())
        async with Rig(s) as rig:
            await rig.up(connects=2)
            assert rig.link.status.last_error
            rig.link.reconnect("configuration reloaded")
            await rig.up(connects=3)
            assert rig.link.status.last_error is None
            assert rig.link.status.renewals == 1


@aio
async def test_a_config_failed_wait_ends_at_once_when_asked() -> None:
    """What a reload of even an unchanged file does: the log promised it."""
    async with sim() as s:
        s.inject(Fault.refuse(404))
        async with Rig(s, auth_retry_s=900.0) as rig:
            await rig.until(lambda: LinkState.CONFIG_FAILED in rig.states(), "config_failed")
            rig.link.credentials_changed()  # not a key problem: still waiting
            await asyncio.sleep(0.3)  # the wait re-checks its plan at once; give it time
            assert rig.link.status.state is LinkState.CONFIG_FAILED
            assert len(s.handshakes) == 1
            rig.link.config_changed()
            await rig.up()


@aio
async def test_a_token_service_outage_backs_off_and_opens_the_circuit_like_a_handshake(
        tmp_path: Path) -> None:
    token_file = tmp_path / "device-token"
    token_file.write_text(DEVICE_TOKEN)
    token_file.chmod(0o600)
    async with sim() as s:
        with TokenServiceRig(DEVICE_TOKEN, mode="500", on_mint=lambda v: setattr(
                s, "require_key", v)) as svc:
            async with TokenLink(s, svc.url, token_file) as rig:
                await rig.until(lambda: rig.link.status.state is LinkState.CIRCUIT_OPEN,
                                "circuit_open")
                st = rig.link.status
                assert st.failures == {"network": 3}  # FAST: the circuit opens at 3
                assert st.last_error == "token service answered HTTP 500: server trouble"
                assert LinkState.BACKOFF in rig.states() and not st.critical
                assert s.handshakes == []
                svc.mode = "ok"  # the service is back: the next probe connects
                await rig.up()
                assert svc.mints == 1 and rig.handshake_statuses() == [101]


@pytest.mark.parametrize(("mode", "said"), [
    ("garbage", "token service: the answer is malformed: the answer is not JSON"),
    ("no_value", "token service: the answer is malformed: the answer has no 'value' (the "
                 "client secret)"),
])
def test_a_malformed_token_answer_is_said_and_retried_with_backoff(
        tmp_path: Path, mode: str, said: str) -> None:
    token_file = tmp_path / "device-token"
    token_file.write_text(DEVICE_TOKEN)
    token_file.chmod(0o600)

    @aio
    async def run() -> None:
        async with sim() as s:
            with TokenServiceRig(DEVICE_TOKEN, mode=mode) as svc:  # type: ignore[arg-type]
                async with TokenLink(s, svc.url, token_file) as rig:
                    await rig.until(lambda: len(svc.requests) >= 2, "a second try")
                    assert rig.link.status.last_error == said
                    assert set(rig.link.status.failures) == {"network"}
                    assert LinkState.BACKOFF in rig.states()
                    assert s.handshakes == []
    run()
