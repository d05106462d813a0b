"""Checks 9–11 against the real simulator over loopback (ws:// and wss:// with a
self-signed certificate), and a listening socket that never answers."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.doctor import network
from edged.doctor.context import Context
from edged.rig.tls import HAVE_OPENSSL, LoopbackTLS, make_loopback_tls
from edged.simulator import Fault, SimulatorThread
from tests.doctor.helpers import KEY, context, custom, shown


def ctx_for(tmp_path: Path, url: str, timeout_s: float = 5.0) -> Context:
    return context(tmp_path, custom(url), environ={"EDGED_DOCTOR_KEY": KEY},
                   timeout_s=timeout_s)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(require_key=KEY) as s:
        yield s


def test_handshake_succeeds_with_the_right_key_and_closes(tmp_path: Path,
                                                          sim: SimulatorThread) -> None:
    ctx = ctx_for(tmp_path, sim.url)
    assert network.check_dns(ctx).status == "ok"
    assert network.check_tls(ctx).status == "skip"  # ws:// to loopback
    result = network.check_handshake(ctx)
    assert result.status == "ok", result
    assert result.details["status"] == 101
    assert sim.handshakes()[-1][1] == 101
    assert sim.read(lambda s: s.live_connections) == []  # closed, no session left open
    assert sim.read(lambda s: s.requests[-1].auth) == "bearer"
    assert KEY not in shown(result)


def test_a_refused_key_is_401_and_points_at_the_key(tmp_path: Path,
                                                    sim: SimulatorThread) -> None:
    ctx = context(tmp_path, custom(sim.url), environ={"EDGED_DOCTOR_KEY": "sk-wrong-key-123"},
                  timeout_s=5.0)
    result = network.check_handshake(ctx)
    assert result.status == "fail"
    assert result.details["status"] == 401
    assert result.fix is not None and "key" in result.fix
    assert "sk-wrong-key-123" not in shown(result)


def test_404_points_at_the_model_deployment_and_url(tmp_path: Path,
                                                    sim: SimulatorThread) -> None:
    sim.inject(Fault.refuse(404))
    result = network.check_handshake(ctx_for(tmp_path, sim.url))
    assert result.status == "fail"
    assert result.details["status"] == 404
    assert result.fix is not None
    assert all(k in result.fix for k in ("realtime.model", "realtime.deployment", "realtime.url"))


def test_a_server_that_never_answers_is_a_timeout(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, never accepts
        port = server.getsockname()[1]
        result = network.check_handshake(ctx_for(tmp_path, f"ws://127.0.0.1:{port}",
                                                 timeout_s=1.0))
    assert result.status == "fail"
    assert "within 1 s" in result.summary
    assert result.fix is not None


def test_nothing_listening_is_connection_refused(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = network.check_handshake(ctx_for(tmp_path, f"ws://127.0.0.1:{port}"))
    assert result.status == "fail"
    assert "refused" in result.summary
    assert result.fix is not None and "running" in result.fix


def test_localhost_resolves(tmp_path: Path) -> None:
    result = network.check_dns(ctx_for(tmp_path, "ws://localhost:9/"))
    assert result.status == "ok"
    assert set(result.details["addresses"]) & {"127.0.0.1", "::1"}


@pytest.fixture
def tls(tmp_path: Path) -> LoopbackTLS:
    if not HAVE_OPENSSL:
        pytest.skip("openssl is not installed (scripts/setup installs it)")
    return make_loopback_tls(tmp_path)


def test_a_self_signed_server_fails_tls_until_its_certificate_is_trusted(
        tmp_path: Path, tls: LoopbackTLS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with SimulatorThread(require_key=KEY, ssl_context=tls.server_context()) as sim:
        ctx = ctx_for(tmp_path, sim.url)
        untrusted = network.check_tls(ctx)
        assert untrusted.status == "fail"
        assert "not trusted" in untrusted.summary
        assert untrusted.fix is not None and "SSL_CERT_FILE" in untrusted.fix
        # the daemon and the doctor use Python's default context, which honours SSL_CERT_FILE
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
        trusted = network.check_tls(ctx)
        assert trusted.details["version"].startswith("TLSv1.")
        # the rig's certificate lives one day: trusted, with a warning that it expires soon
        assert 0 < trusted.details["cert_days_left"] <= 1
        assert trusted.status == "warn", trusted
        assert trusted.fix is not None and "expires soon" in trusted.fix
        assert network.check_handshake(ctx).status == "ok"


def test_pure_classifications() -> None:
    summary, fix = network.dns_problem(socket.EAI_NONAME, "nowhere.example")
    assert "does not resolve" in summary and "realtime" in fix
    summary, fix = network.dns_problem(socket.EAI_AGAIN, "api.openai.com")
    assert "online" in fix
    target = network.target_of("wss://api.openai.com/v1/realtime?model=x")
    assert (target.host, target.port, target.secure) == ("api.openai.com", 443, True)
    assert "key" in network.handshake_problem(401)[1]
    assert "quota" in network.handshake_problem(429)[0]
    assert "later" in network.handshake_problem(503)[1]
    expired = ssl.SSLCertVerificationError(1, "certificate verify failed")
    expired.verify_code, expired.verify_message = 10, "certificate has expired"
    assert "clock" in network.tls_problem(expired, target, "1970-01-01 00:00 UTC")[1]
