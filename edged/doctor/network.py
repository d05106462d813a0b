"""Checks 9–11: the endpoint's name resolves, TLS works, and the WebSocket handshake
succeeds with the real key (then the connection is closed; no session is started).

Each failure is classified by a pure function into what a person can act on: the
key (401/403), the model, deployment or URL (400/404), the account (429), the
server (5xx), the clock or the CA store (certificate errors), or the network
(timeouts, unreachable hosts, DNS).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, skip, warn
from edged.realtime.trust import system_context

_NETWORK = "the network: is this machine online? (ip route; ping -c 1 1.1.1.1)"


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    port: int
    secure: bool

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def target_of(url: str) -> Target:
    """Pure: host, port and scheme of the endpoint URL."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    return Target(url, parts.hostname or "", parts.port or (443 if secure else 80), secure)


def _target(ctx: Context) -> Target:
    from edged.realtime.endpoint import endpoint_url

    assert ctx.config is not None
    return target_of(endpoint_url(ctx.config.realtime))


def _timeout(ctx: Context) -> float:
    if ctx.options.timeout_s is not None:
        return ctx.options.timeout_s
    assert ctx.config is not None
    return ctx.config.link.open_timeout_s


def _loopback(host: str) -> bool:
    from edged.realtime.endpoint import is_loopback

    return is_loopback(host)


# --------------------------------------------------------------------------- DNS


def dns_problem(errno: int | None, host: str) -> tuple[str, str]:
    """Pure: (summary, fix) for a failed lookup (``errno``: a ``socket.EAI_*``, None = timeout)."""
    if errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
        return (f"{host} does not resolve (no such name)",
                "check the host in the config (realtime.azure_resource or realtime.url); if "
                "it is right, check the DNS server in /etc/resolv.conf")
    if errno is None or errno == socket.EAI_AGAIN:
        return (f"no DNS answer for {host} (temporary failure or timeout)", _NETWORK +
                ", then the DNS server in /etc/resolv.conf")
    return (f"cannot resolve {host} (error {errno})", _NETWORK)


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """getaddrinfo with a deadline (it has none of its own); raises socket.gaierror."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="edged-doctor-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in box:
        raise box["error"]
    if "infos" not in box:
        raise TimeoutError
    return list(dict.fromkeys(str(info[4][0]) for info in box["infos"]))


def check_dns(ctx: Context) -> CheckResult:
    from edged.realtime.endpoint import EndpointError

    check_id, title = "dns", "DNS"
    try:
        target = _target(ctx)
    except EndpointError as exc:
        return fail(check_id, title, str(exc), "fix the realtime section of the config")
    try:
        ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        pass
    else:
        return ok(check_id, title, f"{target.host} is an address: nothing to resolve",
                  host=target.host, addresses=[target.host])
    started = time.monotonic()
    try:
        addresses = _resolve(target.host, target.port, _timeout(ctx))
    except socket.gaierror as exc:
        summary, fix = dns_problem(exc.errno, target.host)
        return fail(check_id, title, summary, fix, host=target.host, error=exc.errno)
    except TimeoutError:
        summary, fix = dns_problem(None, target.host)
        return fail(check_id, title, summary, fix, host=target.host, error="timeout")
    took = (time.monotonic() - started) * 1000
    shown = ", ".join(addresses[:3]) + (", …" if len(addresses) > 3 else "")
    return ok(check_id, title, f"{target.host} → {shown} ({took:.0f} ms)", host=target.host,
              addresses=addresses, ms=round(took, 1))


# --------------------------------------------------------------------------- TCP and TLS


def connect_problem(exc: OSError, target: Target, timeout: float) -> tuple[str, str]:
    """Pure: (summary, fix) for a TCP connection that failed."""
    local = _loopback(target.host)
    if isinstance(exc, TimeoutError):
        return (f"no connection to {target.where} within {timeout:g} s",
                "a firewall or proxy may block it; " + _NETWORK if not local else
                "the server there does not answer: is it running and not stuck?")
    if isinstance(exc, ConnectionRefusedError):
        return (f"{target.where} refused the connection",
                "nothing listens there: is the server running? check the port in realtime.url"
                if local else "check the port in realtime.url; " + _NETWORK)
    return (f"cannot reach {target.where}: {exc.strerror or exc}", _NETWORK)


def tls_problem(exc: ssl.SSLError, target: Target, now: str) -> tuple[str, str]:
    """Pure: (summary, fix) for a failed TLS handshake; ``now`` is the local time as text."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, message = exc.verify_code, exc.verify_message
        summary = f"the certificate of {target.host} is not trusted: {message}"
        if code in (9, 10):  # not yet valid / expired: usually this clock is wrong
            return summary, (f"check this machine's clock (it says {now}): sudo timedatectl "
                             "set-ntp true; a Pi without network time starts in the past")
        if code == 62:
            return summary, ("the certificate is for another name: check the host in "
                             "realtime.url or realtime.azure_resource")
        return summary, ("for your own server, point SSL_CERT_FILE at its CA certificate "
                         "(sudo systemctl edit edged: Environment=SSL_CERT_FILE=...); "
                         "otherwise a proxy intercepts TLS, or run: sudo apt install "
                         "--reinstall ca-certificates")
    return (f"TLS with {target.where} failed: {exc.reason or exc}",
            "a proxy or firewall interferes with TLS; " + _NETWORK)


def check_tls(ctx: Context) -> CheckResult:
    check_id, title = "tls", "TLS"
    target = _target(ctx)
    if not target.secure:
        return skip(check_id, title, f"skipped: ws:// to {target.host} is not encrypted "
                    "(allowed only to this machine)")
    timeout = _timeout(ctx)
    context = system_context()  # what the daemon uses: the system store
    started = time.monotonic()
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as sock, \
                context.wrap_socket(sock, server_hostname=target.host) as tls:
            version = tls.version() or "TLS"
            cert = tls.getpeercert() or {}
    except ssl.SSLError as exc:
        summary, fix = tls_problem(exc, target, time.strftime("%Y-%m-%d %H:%M %Z"))
        return fail(check_id, title, summary, fix, host=target.host)
    except OSError as exc:
        summary, fix = connect_problem(exc, target, timeout)
        return fail(check_id, title, summary, fix, host=target.host)
    took = (time.monotonic() - started) * 1000
    facts: dict[str, Any] = {"host": target.host, "version": version, "ms": round(took, 1)}
    summary = f"{version} with {target.where} ({took:.0f} ms)"
    expires = cert.get("notAfter")
    if isinstance(expires, str):
        days = (ssl.cert_time_to_seconds(expires) - time.time()) / 86400
        facts["cert_days_left"] = round(days, 1)
        summary += f", certificate valid {days:.0f} more days"
        if days < 7:
            return warn(check_id, title, summary, "the server's certificate expires soon: "
                        "renew it (your own server) or check this machine's clock", **facts)
    return ok(check_id, title, summary, **facts)


# --------------------------------------------------------------------------- handshake


_HANDSHAKE_PROBLEMS: dict[int, tuple[str, str]] = {
    401: ("the server refused the API key (HTTP 401)",
          "the key is wrong, revoked, or for another provider: put the right one where "
          "the API key check found it"),
    403: ("the key has no access to this model or resource (HTTP 403)",
          "check the account's access to realtime models, or the Azure resource's "
          "network rules"),
    404: ("the endpoint does not exist (HTTP 404)",
          "check realtime.model, realtime.deployment, realtime.azure_resource, "
          "realtime.api_version and realtime.url"),
    400: ("the server rejected the request (HTTP 400)",
          "the model or deployment is not a realtime one, or realtime.api_version is "
          "wrong for it"),
    429: ("rate limited or out of quota (HTTP 429)",
          "check the account's billing and limits; edged waits as the server asks"),
}


def handshake_problem(status: int) -> tuple[str, str]:
    """Pure: (summary, fix) for an HTTP status that refused the WebSocket upgrade."""
    if status in _HANDSHAKE_PROBLEMS:
        return _HANDSHAKE_PROBLEMS[status]
    if 500 <= status <= 599:
        return (f"the server had an error (HTTP {status})",
                "a problem on the provider's side: try again later (edged retries by itself)")
    return (f"the server refused the WebSocket upgrade (HTTP {status})",
            "check realtime.url and realtime.provider")


async def _handshake(url: str, headers: list[tuple[str, str]], timeout: float,
                     context: ssl.SSLContext | None) -> int:
    from websockets.asyncio.client import connect

    from edged import __version__

    async with connect(url, additional_headers=headers, open_timeout=timeout,
                       close_timeout=2.0, compression=None, ping_interval=None,
                       user_agent_header=f"edged/{__version__} (doctor)", ssl=context) as ws:
        response = ws.response
        return response.status_code if response is not None else 101


def check_handshake(ctx: Context) -> CheckResult:
    import asyncio

    from websockets.exceptions import InvalidHandshake, InvalidStatus

    from edged.doctor.credentials import handshake_endpoint, refused_secret
    from edged.redact import redact

    check_id, title = "handshake", "WebSocket"
    assert ctx.config is not None
    endpoint = handshake_endpoint(ctx)  # with credentials.token_url: a client secret
    target = target_of(endpoint.url)
    timeout = _timeout(ctx)
    context = system_context() if target.secure else None
    started = time.monotonic()
    facts: dict[str, Any] = {"url": endpoint.url, "dialect": endpoint.dialect,
                             "auth": endpoint.auth}
    try:
        status = asyncio.run(_handshake(endpoint.url, endpoint.headers(), timeout, context))
    except InvalidStatus as exc:
        code = exc.response.status_code
        minted = refused_secret(code) if ctx.config.credentials.token_url else None
        summary, fix = minted or handshake_problem(code)
        return fail(check_id, title, summary, fix, status=code, **facts)
    except TimeoutError:
        return fail(check_id, title, f"no WebSocket handshake from {target.where} within "
                    f"{timeout:g} s", "the network: a firewall, proxy or captive portal holds "
                    "the connection" if not _loopback(target.host) else "the server accepts "
                    "connections but does not answer: is it stuck?", status=None, **facts)
    except ssl.SSLError as exc:
        summary, fix = tls_problem(exc, target, time.strftime("%Y-%m-%d %H:%M %Z"))
        return fail(check_id, title, summary, fix, status=None, **facts)
    except OSError as exc:
        summary, fix = connect_problem(exc, target, timeout)
        return fail(check_id, title, summary, fix, status=None, **facts)
    except InvalidHandshake as exc:
        text = redact(str(exc))
        return fail(check_id, title, f"the handshake failed: {text}",
                    "the URL may not be a realtime WebSocket endpoint: check realtime.url",
                    status=None, **facts)
    took = (time.monotonic() - started) * 1000
    return ok(check_id, title, f"handshake accepted (HTTP {status}) by {target.where} in "
              f"{took:.0f} ms, {endpoint.dialect} dialect, {endpoint.auth} auth; closed",
              status=status, ms=round(took, 1), **facts)
