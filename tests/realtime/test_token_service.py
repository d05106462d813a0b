"""credentials.token_url: a client secret from the fleet's token service, not a key.

The rules (what an answer means, how long a secret lasts, when it is reused) with
plain values; the fetch against a real HTTP server on 127.0.0.1 (tests/rigs/
token_service.py); and the link against the real simulator, which accepts exactly
the secret the service minted last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from edged.config import Config, ConfigError, CredentialsConfig, parse
from edged.realtime.client_secret import (
    Held,
    MalformedAnswer,
    TokenFailure,
    lifetime,
    read_answer,
    reuse_margin,
    usable,
)
from edged.realtime.credentials import CredentialsError, load_device_token
from edged.realtime.link import Link, LinkState, LinkStatus
from edged.realtime.policy import Cause, classify_token_status
from edged.realtime.token_service import TokenService, request_body
from edged.redact import REDACTOR, Redactor
from edged.rig.tls import HAVE_OPENSSL, make_loopback_tls
from edged.simulator import Simulator
from tests.leaks import secret_runs
from tests.realtime.test_link import Rig, aio, config_for, sim
from tests.rigs.token_service import TokenServiceRig

DEVICE_TOKEN = "dt-0042-Qm7Xr2Lp9Wz4Tn6V"
NOW = 1_800_000_000.0  # some wall-clock instant, epoch seconds
HOUR = 3600.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(**doc: object) -> bytes:
    return json.dumps(doc).encode()


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "device-token"
    path.write_text(DEVICE_TOKEN + "\n")
    path.chmod(0o600)
    return path


def creds_for(url: str, token_file: Path, **more: object) -> CredentialsConfig:
    return dataclasses.replace(
        CredentialsConfig(credential=None, key_file=None, env=None, token_url=url,
                          device_token_credential=None, device_token_file=str(token_file),
                          token_timeout_s=3.0), **more)


def service(url: str, token_file: Path, clock: FakeClock | None = None,
            wall: float | None = None, synced: bool = True, **more: object) -> TokenService:
    """``wall``: how far this machine's clock is off; ``synced``: what the system says."""
    cfg = Config()
    kwargs: dict[str, object] = {"clock_synced": lambda: synced}
    if wall is not None:
        kwargs["wall"] = lambda: time.time() + wall
    return TokenService(creds_for(url, token_file, **more), cfg.realtime, handshake_s=10.0,
                        environ={}, clock=clock or FakeClock(), **kwargs)  # type: ignore[arg-type]


async def failure_of(svc: TokenService) -> TokenFailure:
    with pytest.raises(TokenFailure) as info:
        await svc.secret()
    return info.value


# --------------------------------------------------------------------------- the answer


def test_a_device_clock_an_hour_off_still_times_the_secret_by_the_service_date() -> None:
    expires_at = NOW + 600
    for off in (-HOUR, 0.0, HOUR):  # this clock behind, right, ahead
        minted = read_answer(answer(value="ek_abc123def456", expires_at=expires_at),
                             http_date(NOW), NOW + off, clock_synced=False)
        assert (minted.lifetime_s, minted.basis) == (600.0, "service clock")
        assert minted.skew_s == off


def test_without_a_date_header_only_a_synchronised_clock_counts() -> None:
    body = answer(value="ek_abc123def456", expires_at=NOW + 600)
    synced = read_answer(body, None, NOW, clock_synced=True)
    assert (synced.lifetime_s, synced.basis, synced.skew_s) == (600.0, "this clock", None)
    # not synchronised (a Pi just booted without network time): used once, not kept
    assert read_answer(body, None, NOW - HOUR, clock_synced=False).lifetime_s == 0.0
    assert read_answer(body, None, NOW, clock_synced=False).lifetime_s == 0.0
    # synchronised yet saying nonsense: over already, or longer than any secret lives
    assert read_answer(body, None, NOW + HOUR, clock_synced=True).lifetime_s == 0.0
    assert read_answer(answer(value="ek_abc123def456", expires_at=NOW + 3 * HOUR), None, NOW,
                       clock_synced=True).lifetime_s == 0.0


def test_expires_in_and_the_older_client_secret_shape_are_read_too() -> None:
    minted = read_answer(answer(value="ek_abc123def456", expires_in=120), None, NOW,
                         clock_synced=False)
    assert (minted.lifetime_s, minted.basis) == (120.0, "expires_in")
    nested = answer(id="sess_1", client_secret={"value": "ek_nested0001",
                                                "expires_at": NOW + 60})
    assert read_answer(nested, http_date(NOW), 0.0, clock_synced=False).value == \
        "ek_nested0001"


def test_lifetimes_are_clamped() -> None:
    assert lifetime(NOW + 10 * HOUR, None, NOW, 0.0, False) == (7200.0, "service clock")
    assert lifetime(None, -5.0, None, NOW, True) == (0.0, "expires_in")
    assert lifetime(None, None, None, NOW, True) == (0.0, "unknown")


@pytest.mark.parametrize(("body", "date", "said"), [
    (b"<html>captive portal</html>", None, "not JSON"),
    (b"\xff\xfe", None, "not JSON"),
    (b"[1, 2]", None, "not a JSON object"),
    (answer(expires_at=NOW + 60), None, "no 'value'"),
    (answer(value="", expires_at=NOW + 60), None, "no 'value'"),
    (answer(value="ek_two words here", expires_at=NOW + 60), None, "not a usable secret"),
    (answer(value="ek_abc123def456"), None, "neither 'expires_at' nor 'expires_in'"),
    (answer(value="ek_abc123def456", expires_at="soon"), None, "'expires_at' is not a number"),
    (answer(value="ek_abc123def456", expires_at=NOW - 1), http_date(NOW), "had expired"),
    (b'{"value": "' + b"x" * 70_000 + b'"}', None, "over 64 KiB"),
], ids=["html", "binary", "list", "no value", "empty value", "spaces", "no expiry",
        "text expiry", "expired", "huge"])
def test_malformed_answers_say_what_is_wrong_without_quoting_it(
        body: bytes, date: str | None, said: str) -> None:
    with pytest.raises(MalformedAnswer) as info:
        read_answer(body, date, NOW, clock_synced=True)
    assert said in str(info.value)
    assert "ek_two" not in str(info.value)


def test_a_held_secret_is_reused_until_a_margin_before_its_end() -> None:
    held = Held("ek_abc123def456", received_at=100.0, lifetime_s=600.0)
    assert reuse_margin(600.0, 10.0) == 60.0  # a tenth, at most a minute
    assert reuse_margin(7200.0, 10.0) == 60.0
    assert reuse_margin(60.0, 10.0) == 10.0  # never less than a handshake may take
    assert usable(held, 100.0, 10.0)
    assert usable(held, 100.0 + 539.9, 10.0)
    assert not usable(held, 100.0 + 540.0, 10.0)
    assert not usable(held, 99.0, 10.0)  # a clock that went back: no guessing
    assert not usable(Held("ek_abc123def456", 100.0, 0.0), 100.0, 10.0)  # one connect only
    assert not usable(None, 100.0, 10.0)
    assert "ek_abc" not in repr(held)


@pytest.mark.parametrize(("status", "cause"), [
    (401, Cause.CREDENTIALS), (403, Cause.CREDENTIALS), (429, Cause.RATE_LIMITED),
    (500, Cause.NETWORK), (502, Cause.NETWORK), (503, Cause.NETWORK), (408, Cause.NETWORK),
    (404, Cause.CONFIGURATION), (400, Cause.CONFIGURATION), (302, Cause.CONFIGURATION),
])
def test_token_service_statuses_fall_in_the_handshake_classes(status: int, cause: Cause) -> None:
    failure = classify_token_status(status, "device token file /etc/edged/device-token", 5.0)
    assert failure.cause is cause
    assert f"HTTP {status}" in failure.detail
    if cause is Cause.CREDENTIALS:
        assert "device token" in failure.detail and "/etc/edged/device-token" in failure.detail
        assert "API key" not in failure.detail


def test_the_request_names_model_and_voice_and_the_azure_deployment() -> None:
    rt = Config().realtime
    assert json.loads(request_body(rt)) == {"model": "gpt-realtime", "voice": "alloy"}
    azure = dataclasses.replace(rt, provider="azure", azure_resource="r", deployment="dep1")
    assert json.loads(request_body(azure))["model"] == "dep1"


def test_an_ek_client_secret_is_masked_even_unregistered() -> None:
    text = "bearer-less ek_68af6b5c0a8c8190a4fa18d5e69b33d5 in a message"
    assert "68af6b5c" not in Redactor().redact(text)
    assert Redactor().redact("ek_short and week_0123456789abcdef0") == \
        "ek_short and week_0123456789abcdef0"


# --------------------------------------------------------------------------- the config


@pytest.mark.parametrize(("url", "said"), [
    ("http://tokens.example.org/t", "http:// is not encrypted and only allowed to this machine"),
    ("ftp://tokens.example.org/t", "must be an https:// URL"),
    ("https:///t", "must be an https:// URL"),
    ("https://user:pw@tokens.example.org/t", "must not hold a user or password"),
    ("https://tokens.example.org/t#x", "#fragment"),
    ("https://tokens.example.org:99999/t", "not a valid URL"),
])
def test_a_bad_token_url_is_named_with_its_line(url: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(f"realtime:\n  voice: alloy\ncredentials:\n  token_url: '{url}'\n", "e.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.key) == (4, "credentials.token_url")
    assert said in problem.reason


def test_token_url_needs_a_device_token_source_but_no_api_key_source() -> None:
    cfg = parse("credentials:\n  credential: null\n  key_file: null\n  env: null\n"
                "  token_url: http://127.0.0.1:8080/token\n")
    assert cfg.credentials.token_url == "http://127.0.0.1:8080/token"
    assert cfg.credentials.device_token_credential == "edged-device-token"
    with pytest.raises(ConfigError) as info:
        parse("credentials:\n  token_url: https://t.example.org/x\n"
              "  device_token_credential: null\n  device_token_file: null\n", "e.yaml")
    assert str(info.value) == ("e.yaml:4: credentials.device_token_file: with token_url set, "
                               "device_token_credential or device_token_file must name where "
                               "this speaker's token is")


# --------------------------------------------------------------------------- the device token


def test_the_device_token_is_read_like_the_api_key(tmp_path: Path, token_file: Path) -> None:
    creds_dir = tmp_path / "creds"
    creds_dir.mkdir()
    (creds_dir / "edged-device-token").write_text("dt-from-systemd-0001\n")
    cfg = CredentialsConfig(device_token_file=str(token_file))
    first = load_device_token(cfg, {"CREDENTIALS_DIRECTORY": str(creds_dir)})
    assert (first.reveal(), first.source) == ("dt-from-systemd-0001",
                                              "systemd credential 'edged-device-token'")
    second = load_device_token(cfg, {})
    assert (second.reveal(), second.source) == (DEVICE_TOKEN, f"device token file {token_file}")
    token_file.chmod(0o644)
    with pytest.raises(CredentialsError) as info:
        load_device_token(cfg, {})
    assert f"refusing device token file {token_file}" in str(info.value)
    assert f"chmod 600 {token_file}" in str(info.value)
    token_file.unlink()
    with pytest.raises(CredentialsError) as info:
        load_device_token(cfg, {"OPENAI_API_KEY": "sk-not-this-one-0000000000"})
    assert str(info.value) == (
        "no device token found; tried systemd credential 'edged-device-token' "
        f"($CREDENTIALS_DIRECTORY is not set); device token file {token_file} (no such file)")


# --------------------------------------------------------------------------- the fetch


@aio
async def test_a_secret_is_fetched_with_the_device_token_and_reused_until_near_its_end(
        token_file: Path) -> None:
    clock = FakeClock()
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600) as rig:
        svc = service(rig.url, token_file, clock)
        first, reused = await svc.secret()
        assert reused is False and first.reveal() == rig.minted[0]
        assert first.reveal().startswith("ek_") and REDACTOR.redact(first.reveal()) != \
            first.reveal()  # registered the moment it arrived
        seen = rig.requests[0]
        assert seen.token_ok and seen.path == "/v1/speaker-token"
        assert seen.body == {"model": "gpt-realtime", "voice": "alloy"}
        assert seen.content_type == "application/json"
        clock.now += 539.0
        again, reused = await svc.secret()
        assert (again, reused, rig.mints) == (first, True, 1)
        clock.now += 1.0  # 60 s before the end: time for a new one
        fresh, reused = await svc.secret()
        assert reused is False and rig.mints == 2 and fresh.reveal() == rig.minted[1]


@aio
async def test_a_device_clock_an_hour_off_caches_by_the_service_date(token_file: Path) -> None:
    for off in (HOUR, -HOUR):
        with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600) as rig:
            clock = FakeClock()
            svc = service(rig.url, token_file, clock, wall=off)
            await svc.secret()
            clock.now += 500
            assert (await svc.secret())[1] is True and rig.mints == 1


@aio
async def test_without_a_date_header_an_unsynchronised_clock_means_no_reuse(
        token_file: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600, send_date=False) as rig:
        right = service(rig.url, token_file, synced=True)
        await right.secret()
        assert (await right.secret())[1] is True  # a synchronised clock: reused
        unsure = service(rig.url, token_file, wall=-HOUR, synced=False)
        await unsure.secret()
        assert (await unsure.secret())[1] is False  # a guess: a fresh secret each time
        ahead = service(rig.url, token_file, wall=HOUR, synced=True)
        await ahead.secret()
        assert (await ahead.secret())[1] is False  # "over an hour ago": never trusted
        assert rig.mints == 5


@aio
async def test_expires_in_is_honoured(token_file: Path) -> None:
    clock = FakeClock()
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=100, mode="expires_in") as rig:
        svc = service(rig.url, token_file, clock)
        await svc.secret()
        clock.now += 89.0  # margin: max(10 s handshake, a tenth of 100 s)
        assert (await svc.secret())[1] is True
        clock.now += 1.0
        assert (await svc.secret())[1] is False


@pytest.mark.parametrize(("mode", "cause", "said"), [
    ("401", Cause.CREDENTIALS, "HTTP 401: it refused this speaker's device token (from "
                               "device token file {file})"),
    ("403", Cause.CREDENTIALS, "HTTP 403: it refused this speaker's device token"),
    ("500", Cause.NETWORK, "HTTP 500: server trouble"),
    ("503", Cause.NETWORK, "HTTP 503: server trouble"),
    ("429", Cause.RATE_LIMITED, "HTTP 429: rate limited"),
    ("302", Cause.CONFIGURATION, "a redirect, which edged does not follow"),
    ("garbage", Cause.NETWORK, "token service: the answer is malformed: the answer is not JSON"),
    ("no_value", Cause.NETWORK, "the answer has no 'value'"),
    ("expired", Cause.NETWORK, "the secret had expired when it was sent"),
    ("huge", Cause.NETWORK, "the answer is malformed: the answer is over"),
])
def test_each_refusal_is_classed_like_a_handshake_failure(
        token_file: Path, mode: str, cause: Cause, said: str) -> None:
    @aio
    async def run() -> None:
        with TokenServiceRig(DEVICE_TOKEN, mode=mode) as rig:  # type: ignore[arg-type]
            svc = service(rig.url, token_file)
            failure = (await failure_of(svc)).failure
            assert failure.cause is cause
            assert said.format(file=token_file) in failure.detail
            if mode in ("429", "503"):
                assert failure.retry_after == 7.0
            assert len(rig.requests) == 1  # no redirect followed, no retry behind our back
            assert DEVICE_TOKEN not in failure.detail
    run()


@aio
async def test_a_wrong_device_token_is_refused_and_named(token_file: Path) -> None:
    with TokenServiceRig("dt-some-other-speaker-0000") as rig:
        failure = (await failure_of(service(rig.url, token_file))).failure
        assert failure.cause is Cause.CREDENTIALS
        assert f"device token file {token_file}" in failure.detail
        assert rig.requests[0].token_ok is False


@aio
async def test_a_missing_device_token_asks_nothing_and_says_where_it_looked(
        tmp_path: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN) as rig:
        failure = (await failure_of(service(rig.url, tmp_path / "nowhere"))).failure
        assert failure.cause is Cause.CREDENTIALS
        assert failure.detail == ("no device token found; tried device token file "
                                  f"{tmp_path / 'nowhere'} (no such file)")
        assert rig.requests == []


@aio
async def test_a_slow_service_times_out_and_nothing_listening_is_refused(
        token_file: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN, mode="slow") as rig:
        svc = service(rig.url, token_file, token_timeout_s=0.5)
        failure = (await failure_of(svc)).failure
        assert failure.cause is Cause.NETWORK
        assert failure.detail == ("token service: no answer within 0.5 s "
                                  "(credentials.token_timeout_s)")
        url = rig.url
    failure = (await failure_of(service(url, token_file))).failure  # the rig is gone
    assert failure.cause is Cause.NETWORK
    assert failure.detail.startswith("token service: cannot connect")


@pytest.mark.skipif(not HAVE_OPENSSL, reason="needs the openssl tool for a loopback certificate")
@aio
async def test_https_verifies_the_service_certificate(token_file: Path, tmp_path: Path) -> None:
    tls = make_loopback_tls(tmp_path)
    with TokenServiceRig(DEVICE_TOKEN, tls=tls.server_context()) as rig:
        assert rig.url.startswith("https://")
        untrusted = service(rig.url, token_file)  # the system's CA store: not this cert
        failure = (await failure_of(untrusted)).failure
        assert failure.cause is Cause.NETWORK and "TLS failed" in failure.detail
        assert rig.mints == 0
        trusted = TokenService(creds_for(rig.url, token_file), Config().realtime,
                               handshake_s=10.0, environ={},
                               ssl_context=tls.client_context())
        secret, _ = await trusted.secret()
        assert secret.reveal() == rig.minted[0]


# --------------------------------------------------------------------------- the link


def _no_api_key() -> str:
    raise AssertionError("with token_url the API key must not be read")


class TokenLink(Rig):
    """test_link's Rig, with credentials.token_url set and the token service given."""

    def __init__(self, s: Simulator, url: str, token_file: Path,
                 clock: FakeClock | None = None, **link: object) -> None:
        super().__init__(s, key_source=_no_api_key, **link)
        self.config = dataclasses.replace(config_for(s.url, **link),
                                          credentials=creds_for(url, token_file))
        self.tokens = TokenService(self.config.credentials, self.config.realtime,
                                   handshake_s=self.config.link.open_timeout_s, environ={},
                                   clock=clock or time.monotonic)
        self.link = Link(self.config, _no_api_key, self.events.append, self.statuses.append,
                         tokens=self.tokens)


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def _logged(caplog: pytest.LogCaptureFixture, statuses: list[LinkStatus]) -> str:
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("edged")
                     and not r.name.startswith("edged.simulator"))
    return ours + repr(statuses)


@aio
async def test_the_link_connects_with_a_fetched_secret_reuses_it_and_renews_it_after_expiry(
        token_file: Path, everything_logged: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    async with sim() as s:
        s.require_key = "sk-nothing-matches-this-yet-000"

        def accept(value: str) -> None:  # the simulator takes only the latest secret
            s.require_key = value

        with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600, on_mint=accept) as svc:
            async with TokenLink(s, svc.url, token_file, clock) as rig:
                await rig.up()
                assert svc.mints == 1
                assert [(r.status, r.auth) for r in s.requests] == [(101, "bearer")]
                await s.drop_all()
                await rig.up(connects=2)
                assert svc.mints == 1  # still valid: reused, the service not asked
                clock.now += 540.0  # within a minute of its end
                await s.drop_all()
                await rig.up(connects=3)
                assert svc.mints == 2
                assert [r.status for r in s.requests] == [101, 101, 101]
    text = _logged(everything_logged, rig.statuses)
    for secret in [*svc.minted, DEVICE_TOKEN]:
        assert secret_runs(secret, text) == []


@aio
async def test_a_401_from_the_token_service_is_an_auth_failure_naming_the_device_token(
        token_file: Path, everything_logged: pytest.LogCaptureFixture) -> None:
    async with sim() as s:
        with TokenServiceRig(DEVICE_TOKEN, mode="401", on_mint=lambda v: setattr(
                s, "require_key", v)) as svc:
            async with TokenLink(s, svc.url, token_file) as rig:
                await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED,
                                "auth_failed")
                st = rig.link.status
                assert st.critical and st.failures == {"credentials": 1}
                assert st.last_error == ("token service answered HTTP 401: it refused this "
                                         "speaker's device token (from device token file "
                                         f"{token_file})")
                assert s.handshakes == []  # the realtime server was never bothered
                await asyncio.sleep(0.3)
                assert len(svc.requests) == 1  # and the service not hammered
                svc.mode = "ok"
                rig.link.credentials_changed()  # a reload after the token was fixed
                await rig.up()
    journal = [r for r in everything_logged.records if r.levelno == logging.ERROR
               and r.name == "edged.realtime"]
    assert any("refused this speaker's device token" in r.getMessage()
               and "API key" not in r.getMessage() for r in journal)
    assert secret_runs(DEVICE_TOKEN, _logged(everything_logged, rig.statuses)) == []


@aio
async def test_a_revoked_held_secret_is_dropped_and_a_new_one_fetched(token_file: Path) -> None:
    async with sim() as s:
        with TokenServiceRig(DEVICE_TOKEN, on_mint=lambda v: setattr(
                s, "require_key", v)) as svc:
            async with TokenLink(s, svc.url, token_file) as rig:
                await rig.up()
                s.require_key = "sk-revoked-all-old-secrets-00"  # the first one is revoked
                await s.drop_all()
                await rig.up(connects=2)
                assert svc.mints == 2
                assert [r.status for r in s.requests] == [101, 401, 101]
                assert any("refused a reused client secret" in (st.last_error or "")
                           for st in rig.statuses)
                assert LinkState.AUTH_FAILED not in rig.states()


@aio
async def test_a_freshly_minted_secret_refused_by_the_server_is_an_auth_failure(
        token_file: Path) -> None:
    async with sim() as s:
        s.require_key = "sk-the-service-mints-wrong-ones"
        with TokenServiceRig(DEVICE_TOKEN) as svc:
            async with TokenLink(s, svc.url, token_file) as rig:
                await rig.until(lambda: rig.link.status.state is LinkState.AUTH_FAILED,
                                "auth_failed")
                assert "the server refused the client secret the token service had just " \
                       "minted" in (rig.link.status.last_error or "")


@aio
async def test_a_renewal_waits_for_a_secret_and_the_session_goes_on_meanwhile(
        token_file: Path, everything_logged: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    async with sim() as s:
        with TokenServiceRig(DEVICE_TOKEN, on_mint=lambda v: setattr(
                s, "require_key", v)) as svc:
            async with TokenLink(s, svc.url, token_file, clock,
                                 session_renew_min=0.01) as rig:  # renewal due after 0.6 s
                await rig.up()
                svc.mode = "503"  # the token service goes down...
                clock.now += 600.0  # ...and the held secret has ended
                await rig.until(lambda: len(svc.requests) >= 2, "the renewal's fetch")
                await asyncio.sleep(0.3)
                assert rig.link.status.up and s.connections == 1  # still the first session
                assert rig.link.status.renewals == 0
                svc.mode = "ok"  # back: the renewal goes ahead at its next try
                await rig.up(connects=2)
                assert rig.link.status.renewals == 1
    assert any("session renewal postponed, the session goes on: token service answered "
               "HTTP 503" in r.getMessage() for r in everything_logged.records)
