"""The link against the loopback simulator, one test per fault.

Real websockets over 127.0.0.1 (and wss:// with a throwaway certificate); the
link runs with short backoff settings so recoveries take well under a second.
Timing rules themselves are checked exactly in test_policy.py; here the
assertions are about behaviour (recovers, stops hammering, right state, the
session re-sent), with generous timeouts for a loaded machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from edged.config import Config, LinkConfig, parse
from edged.realtime.credentials import CredentialsError
from edged.realtime.events import (
    AudioDelta,
    ClientEvent,
    ErrorEvent,
    InputAudioAppend,
    InputAudioCommit,
    ResponseCreate,
    ResponseDone,
    ServerEvent,
    Session,
    SessionCreated,
    SessionUpdated,
    session_from_config,
)
from edged.realtime.link import Link, LinkState, LinkStatus
from edged.rig.tls import HAVE_OPENSSL, make_loopback_tls
from edged.simulator import Fault, Simulator
from tests.leaks import secret_runs

KEY = "sk-test-linkkey-0123456789abcdefXYZ"
FAST = LinkConfig(open_timeout_s=5.0, ping_interval_s=5.0, ping_timeout_s=5.0,
                  backoff_base_s=0.05, backoff_cap_s=0.2, healthy_after_s=1.0,
                  circuit_threshold=3, circuit_reset_s=1.0, auth_retry_s=30.0,
                  session_renew_min=55.0, max_message_mb=10.0)
PCM = (b"\x00\x10\x00\xf0" * 2400)  # 200 ms of a loud square-ish wave, 24 kHz mono PCM16


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))
    return wrapper


def config_for(url: str, dialect: str = "auto", **link: Any) -> Config:
    cfg = parse(f"realtime:\n  provider: custom\n  url: {url}\n  dialect: {dialect}\n")
    # dataclasses.replace skips the file's ranges on purpose: tests need sub-second timings
    return dataclasses.replace(cfg, link=dataclasses.replace(FAST, **link))


class Rig:
    """A running Link plus everything it reported."""

    def __init__(self, sim: Simulator, *, dialect: str = "auto",
                 key_source: Callable[[], str] = lambda: KEY,
                 is_idle: Callable[[], bool] = lambda: True, session: Session | None = None,
                 ssl_context: Any = None, url: str | None = None,
                 on_event: Callable[[ServerEvent], None] | None = None, **link: Any) -> None:
        self.sim = sim
        self.config = config_for(url or sim.url, dialect, **link)
        self.events: list[ServerEvent] = []
        self.statuses: list[LinkStatus] = []
        self.sent: list[tuple[ClientEvent, float]] = []
        self.link = Link(self.config, key_source, on_event or self.events.append,
                         self.statuses.append,
                         is_idle, session=session, ssl_context=ssl_context,
                         on_sent=lambda e, t: self.sent.append((e, t)))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        self.task = asyncio.ensure_future(self.link.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.link.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)

    async def until(self, predicate: Callable[[], object], what: str,
                    timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                if self.task is not None and self.task.done():
                    self.task.result()
                    raise AssertionError(f"link stopped while waiting for {what}")
                await asyncio.sleep(0.01)

    async def up(self, connects: int = 1) -> None:
        await self.until(lambda: self.link.status.up and self.link.status.connects >= connects,
                         f"link up (connect {connects})")

    def states(self) -> list[LinkState]:
        return [s.state for s in self.statuses]

    def session_updates(self) -> dict[int, int]:
        """session.update events per simulator connection number."""
        counts: dict[int, int] = {}
        for n, ev in self.sim.events:
            if ev.get("type") == "session.update":
                counts[n] = counts.get(n, 0) + 1
        return counts

    def handshake_statuses(self) -> list[int]:
        return [status for _, status in self.sim.handshakes]

    async def ask(self) -> ResponseDone:
        """Push-to-talk one utterance and wait for the answer to finish."""
        start = len(self.events)
        assert self.link.send(InputAudioAppend(PCM))
        assert self.link.send(InputAudioCommit())
        assert self.link.send(ResponseCreate())
        await self.until(lambda: any(isinstance(e, ResponseDone) for e in self.events[start:]),
                         "response.done")
        return next(e for e in self.events[start:] if isinstance(e, ResponseDone))


def sim(**kw: Any) -> Simulator:
    kw.setdefault("pace", math.inf)
    return Simulator(**kw)


# --------------------------------------------------------------------------- healthy link


@aio
async def test_link_comes_up_only_after_session_updated_and_streams_both_ways() -> None:
    async with sim() as s, Rig(s) as rig:
        await rig.up()
        # the first thing on the wire is our session, in the GA shape
        first_type = s.events[0][1]["type"]
        assert first_type == "session.update"
        sent_session = s.events[0][1]["session"]
        assert sent_session["type"] == "realtime"
        assert sent_session["audio"]["input"]["turn_detection"] is None  # push-to-talk
        # "up" was reported after session.updated reached us
        assert any(isinstance(e, SessionUpdated) for e in rig.events)
        assert rig.states()[:2] == [LinkState.CONNECTING, LinkState.UP]
        done = await rig.ask()
        assert done.status == "completed"
        audio = b"".join(e.pcm for e in rig.events if isinstance(e, AudioDelta))
        assert audio == PCM  # the simulator echoes the utterance
        # on_sent saw each event after it was written, in order, with rising times
        kinds = [type(e).__name__ for e, _ in rig.sent]
        assert kinds == ["SessionUpdate", "InputAudioAppend", "InputAudioCommit",
                         "ResponseCreate"]
        times = [t for _, t in rig.sent]
        assert times == sorted(times)
        st = rig.link.status
        assert (st.connects, st.reconnects, st.dialect, st.url) == (1, 0, "ga", s.url)
        assert st.up_time_s > 0 and 0 < st.uptime_pct <= 100
    assert rig.link.status.state is LinkState.CLOSED
    assert rig.link.send(InputAudioCommit()) is False


@aio
async def test_send_says_false_while_the_link_is_not_up() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(503), times=1000)
        async with Rig(s) as rig:
            assert rig.link.send(InputAudioAppend(PCM)) is False  # not even started
            await s.wait_for_handshakes(2)
            assert rig.link.send(InputAudioAppend(PCM)) is False
            assert rig.link.send(ResponseCreate()) is False
            assert not any(ev.get("type") == "input_audio_buffer.append" for _, ev in s.events)


@aio
async def test_set_session_updates_without_reconnecting() -> None:
    async with sim() as s, Rig(s) as rig:
        await rig.up()
        handsfree = session_from_config(rig.config.realtime, handsfree=True)
        assert rig.link.set_session(handsfree) is True
        await rig.until(lambda: sum(isinstance(e, SessionUpdated) for e in rig.events) >= 2,
                        "second session.updated")
        assert s.connections == 1
        effective = s.session(1)
        assert effective is not None
        assert effective["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        assert effective["audio"]["input"]["turn_detection"]["interrupt_response"] is True
        # a later reconnect sends the new session, not the old one
        await s.drop_all()
        await rig.up(connects=2)
        assert s.session(2)["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"  # type: ignore[index]


@aio
async def test_beta_dialect_end_to_end() -> None:
    async with sim() as s, Rig(s, dialect="beta") as rig:
        await rig.up()
        assert s.requests[0].dialect == "beta"
        session = s.events[0][1]["session"]
        assert session["input_audio_format"] == "pcm16" and "audio" not in session
        await rig.ask()
        assert b"".join(e.pcm for e in rig.events if isinstance(e, AudioDelta)) == PCM
        assert rig.link.status.dialect == "beta"


@aio
async def test_wss_with_a_verified_certificate(tmp_path: Path) -> None:
    if not HAVE_OPENSSL:
        pytest.skip("the openssl tool is needed to make a throwaway certificate")
    tls = make_loopback_tls(tmp_path)
    async with sim(ssl_context=tls.server_context()) as s:
        assert s.url.startswith("wss://")
        async with Rig(s, ssl_context=tls.client_context()) as rig:
            await rig.up()
            await rig.ask()
        # without trusting the certificate the link refuses to talk (and backs off)
        async with Rig(s) as untrusting:
            await untrusting.until(lambda: untrusting.link.status.failures.get("network", 0) >= 1,
                                   "a TLS failure")
            assert "TLS" in (untrusting.link.status.last_error or "")
            assert untrusting.link.status.connects == 0


# --------------------------------------------------------------------------- handshake faults


@aio
async def test_5xx_at_the_handshake_backs_off_then_recovers_and_resends_the_session() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(503), times=2)
        async with Rig(s) as rig:
            await rig.up()
            assert rig.handshake_statuses() == [503, 503, 101]
            assert rig.link.status.failures == {"network": 2}
            assert LinkState.BACKOFF in rig.states()
            assert rig.session_updates() == {1: 1}
            assert "HTTP 503" in (rig.link.status.last_error or "")


@aio
async def test_401_stops_hammering_until_the_key_changes() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(401))
        async with Rig(s) as rig:
            await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED, "auth_failed")
            st = rig.link.status
            assert st.critical
            assert st.retry_in_s is not None and st.retry_in_s > 25.0
            assert "HTTP 401" in (st.last_error or "") and KEY not in (st.last_error or "")
            await asyncio.sleep(1.5)
            assert len(s.handshakes) == 1  # no retry during the long wait
            rig.link.credentials_changed()  # a reload brought a new key
            await rig.up()
            assert rig.handshake_statuses() == [401, 101]


@aio
async def test_403_is_a_credentials_failure_too() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(403))
        async with Rig(s) as rig:
            await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED, "auth_failed")
            assert rig.link.status.failures == {"credentials": 1}


@pytest.mark.parametrize("status", [404, 400])
def test_404_and_400_wait_for_a_config_change(status: int) -> None:
    @aio
    async def run() -> None:
        async with sim() as s:
            s.inject(Fault.refuse(status))
            async with Rig(s) as rig:
                await rig.until(lambda: rig.link.status.state is LinkState.CONFIG_FAILED,
                                "config_failed")
                await asyncio.sleep(1.0)
                assert len(s.handshakes) == 1
                assert rig.link.status.critical
                rig.link.reconnect("configuration reloaded", rig.config)
                await rig.up()
                assert rig.handshake_statuses() == [status, 101]
    run()


@aio
async def test_429_honours_retry_after() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(429, retry_after=1.0))
        async with Rig(s) as rig:
            await rig.until(lambda: rig.link.status.state is LinkState.BACKOFF, "backoff")
            left = rig.link.status.retry_in_s
            assert left is not None and 0 < left <= 1.0
            await rig.up()
            (t0, first), (t1, second) = s.handshakes[:2]
            assert (first, second) == (429, 101)
            assert t1 - t0 >= 0.95  # backoff alone would have retried within 0.05 s
            assert rig.link.status.failures == {"rate_limited": 1}


@aio
async def test_a_missing_key_is_reported_without_any_handshake() -> None:
    def no_key() -> str:
        raise CredentialsError("no API key found; tried environment variable X (not set)")

    async with sim() as s, Rig(s, key_source=no_key) as rig:
        await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED, "auth_failed")
        assert "no API key found" in (rig.link.status.last_error or "")
        assert s.handshakes == []


@aio
async def test_a_plain_ws_url_to_another_host_is_a_config_failure_without_connecting() -> None:
    async with sim() as s, Rig(s, url="ws://192.0.2.1:9/") as rig:
        await rig.until(lambda: rig.link.status.state is LinkState.CONFIG_FAILED, "config_failed")
        assert "ws:// is not encrypted" in (rig.link.status.last_error or "")


@aio
async def test_a_refused_session_is_a_config_failure() -> None:
    async with sim() as s, Rig(s, session=Session(input_format="g711_ulaw")) as rig:
        await rig.until(lambda: rig.link.status.state is LinkState.CONFIG_FAILED, "config_failed")
        assert "rejected the session" in (rig.link.status.last_error or "")
        assert rig.link.status.connects == 0
        assert any(isinstance(e, SessionCreated) for e in rig.events)


# --------------------------------------------------------------------------- faults after open


@aio
async def test_abnormal_close_after_open_backs_off_and_every_connect_resends_the_session() -> None:
    async with sim() as s:
        s.inject(Fault.close_after_open(1011, after_s=0.3), times=2)
        async with Rig(s) as rig:
            await rig.up(connects=3)
            assert rig.session_updates() == {1: 1, 2: 1, 3: 1}
            st = rig.link.status
            assert st.failures == {"network": 2}
            assert (st.connects, st.reconnects) == (3, 2)
            assert "1011" in (st.last_error or "")
            # each up was announced, with a non-up state in between
            ups = [i for i, state in enumerate(rig.states()) if state is LinkState.UP]
            assert len(ups) == 3
            assert all(b - a > 1 for a, b in itertools.pairwise(ups))


@aio
async def test_close_1001_reconnects_at_once() -> None:
    async with sim() as s:
        s.inject(Fault.close_after_open(1001, after_s=0.3))
        async with Rig(s, backoff_base_s=5.0, backoff_cap_s=5.0) as rig:
            await rig.up(connects=2)  # with 5 s backoff, only an immediate rejoin fits
            assert rig.link.status.failures == {"session_end": 1}
            assert LinkState.BACKOFF not in rig.states()


@aio
async def test_session_expired_reconnects_at_once() -> None:
    async with sim() as s:
        s.inject(Fault.session_expired(after_s=0.3))
        async with Rig(s, backoff_base_s=5.0, backoff_cap_s=5.0) as rig:
            await rig.up(connects=2)
            assert any(isinstance(e, ErrorEvent) and e.code == "session_expired"
                       for e in rig.events)
            assert rig.link.status.failures == {"session_end": 1}
            assert "session_expired" in (rig.link.status.last_error or "")
            assert rig.session_updates() == {1: 1, 2: 1}


@aio
async def test_drop_mid_answer_is_detected_and_recovered() -> None:
    async with sim(pace=4.0) as s:
        s.inject(Fault.drop_mid_answer())
        async with Rig(s) as rig:
            await rig.up()
            assert rig.link.send(InputAudioAppend(PCM * 5))
            assert rig.link.send(InputAudioCommit())
            assert rig.link.send(ResponseCreate())
            await rig.up(connects=2)
            assert any(isinstance(e, AudioDelta) for e in rig.events)  # it was mid-answer
            assert not any(isinstance(e, ResponseDone) for e in rig.events)
            assert rig.link.status.failures == {"network": 1}
            assert "without a close frame" in (rig.link.status.last_error or "")
            await rig.ask()  # and the new link works


@aio
async def test_drop_all_connections_recovers() -> None:
    async with sim() as s, Rig(s) as rig:
        await rig.up()
        await s.drop_all()
        await rig.up(connects=2)
        assert rig.session_updates() == {1: 1, 2: 1}


@aio
async def test_a_silent_peer_is_detected_by_pings() -> None:
    async with sim() as s:
        s.inject(Fault.silent())
        async with Rig(s, ping_interval_s=0.3, ping_timeout_s=0.3) as rig:
            await rig.up()
            await rig.up(connects=2)  # found by the pings, not by the 30 s wait's end
            assert "pings" in (rig.link.status.last_error or "")
            assert rig.link.status.failures == {"network": 1}


@aio
async def test_malformed_and_unknown_events_are_survived_and_counted() -> None:
    async with sim() as s:
        s.inject(Fault.malformed(bad_audio=True))
        async with Rig(s) as rig:
            await rig.up()
            await rig.ask()
            st = rig.link.status
            assert st.malformed_events >= 3  # invalid JSON, a non-object, bad base64
            assert st.unknown_events >= 1
            assert s.connections == 1 and st.failures == {}
            assert b"".join(e.pcm for e in rig.events if isinstance(e, AudioDelta)) == PCM


@aio
async def test_delayed_answers_do_not_look_like_a_failure() -> None:
    async with sim() as s:
        s.inject(Fault.delay_answers(1.0))
        async with Rig(s, ping_interval_s=0.3, ping_timeout_s=0.5) as rig:
            await rig.up()
            await rig.ask()
            assert s.connections == 1 and rig.link.status.failures == {}


@aio
async def test_a_server_that_never_confirms_the_session_is_given_up_on() -> None:
    async with sim() as s:
        s.inject(Fault.silent(after_s=0.0))
        async with Rig(s, open_timeout_s=0.5) as rig:
            await rig.up()
            assert rig.handshake_statuses() == [101, 101]
            assert "did not confirm the session" in (rig.link.status.last_error or "")
            assert rig.link.status.failures == {"network": 1}


@aio
async def test_reconnect_during_a_stuck_handshake_starts_over_at_once() -> None:
    async with sim() as s:
        s.inject(Fault.silent(after_s=0.0))
        async with Rig(s, open_timeout_s=60.0) as rig:
            await s.wait_for_connections(1)
            assert rig.link.status.state is LinkState.CONNECTING
            rig.link.reconnect("configuration reloaded")
            await rig.up()
            assert s.connections == 2
            assert rig.link.status.failures == {}


# --------------------------------------------------------------------------- circuit, renewal


@aio
async def test_a_long_outage_opens_the_circuit_then_one_probe_per_reset_period() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(503), times=1000)
        async with Rig(s, circuit_threshold=3, circuit_reset_s=1.0) as rig:
            await rig.until(lambda: rig.link.status.state is LinkState.CIRCUIT_OPEN,
                            "circuit open")
            await s.wait_for_handshakes(5, timeout=15)
            times = [t for t, _ in s.handshakes]
            probes = [b - a for a, b in itertools.pairwise(times[2:])]
            assert all(gap >= 0.95 for gap in probes), probes  # one probe per reset_s
            s.clear_faults()
            await rig.up()
            assert rig.link.status.failures["network"] >= 4


@aio
async def test_renewal_waits_for_an_idle_moment() -> None:
    idle = False
    async with sim() as s, Rig(s, is_idle=lambda: idle, session_renew_min=0.01) as rig:
        await rig.up()
        await asyncio.sleep(1.5)  # renewal has been due since 0.6 s, but we are busy
        assert s.connections == 1
        idle = True
        await rig.up(connects=2)
        st = rig.link.status
        assert st.renewals == 1
        assert st.failures == {}
        assert rig.session_updates() == {1: 1, 2: 1}


@aio
async def test_reconnect_while_up_uses_the_new_config_at_once() -> None:
    async with sim() as s, sim() as other, Rig(s) as rig:
        await rig.up()
        rig.link.reconnect("endpoint changed", config_for(other.url))
        await rig.up(connects=2)
        assert other.connections == 1
        assert rig.link.status.url == other.url
        assert rig.link.status.failures == {}


# --------------------------------------------------------------------------- hygiene


@aio
async def test_the_key_never_reaches_a_log_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with sim(require_key="other-key") as s, Rig(s) as rig:
        await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED, "auth_failed")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("edged"))
    assert "Authorization" in ours  # websockets did log our header line...
    assert KEY not in ours  # ...without the key (the simulator's own server log may show it)
    assert all(KEY not in str(st) for st in rig.statuses)
    assert s.requests[0].auth == "bearer"


@pytest.mark.parametrize("key", [KEY, "Hq3Rt8Wm1Zx6Vn4Pb2LyQ7"])  # with and without sk-
@aio
async def test_a_server_quoting_the_key_is_masked_before_anyone_sees_it(
        key: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="edged")
    async with sim() as s:
        s.inject(Fault.quote_key())
        async with Rig(s, key_source=lambda: key) as rig:
            await rig.up()
            await rig.until(lambda: any(isinstance(e, ErrorEvent) for e in rig.events),
                            "the error event")
            assert rig.link.status.up  # an error, not a close
    [error] = [e for e in rig.events if isinstance(e, ErrorEvent)]
    assert error.code == "invalid_api_key"
    assert error.message.startswith("Incorrect API key provided: [redacted] (read as [redacted])")
    ours = "\n".join(r.getMessage() for r in caplog.records)
    assert "realtime server error invalid_api_key: Incorrect API key provided: [redacted]" in ours
    assert secret_runs(key, ours + repr(rig.events) + repr(rig.statuses)) == []


@aio
async def test_a_lone_surrogate_from_the_server_is_replaced_on_arrival() -> None:
    async with sim() as s:
        s.inject(Fault.surrogate())
        async with Rig(s) as rig:
            await rig.up()
            await rig.until(lambda: any(isinstance(e, ErrorEvent) for e in rig.events),
                            "the error event")
    [error] = [e for e in rig.events if isinstance(e, ErrorEvent)]
    assert error.message == "The server failed on character \ufffd here."
    error.message.encode("utf-8")


@aio
async def test_handler_exceptions_do_not_take_the_link_down() -> None:
    async with sim() as s:
        def explode(_event: ServerEvent) -> None:
            raise RuntimeError("bug in the caller")
        async with Rig(s, on_event=explode) as rig:
            await rig.up()
            assert rig.link.send(InputAudioAppend(PCM))
            assert rig.link.send(InputAudioCommit())
            assert rig.link.send(ResponseCreate())
            await s.wait_until(lambda: any(a.sent_audio for a in s.answers), 10, "an answer")
            assert rig.link.status.up and s.connections == 1


@aio
async def test_close_during_a_backoff_returns_promptly() -> None:
    async with sim() as s:
        s.inject(Fault.refuse(401))
        rig = Rig(s)
        async with rig:
            await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED, "auth_failed")
        assert rig.link.status.state is LinkState.CLOSED

