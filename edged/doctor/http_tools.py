"""The HTTP tools check: each ``tools.http`` entry's host resolves, accepts a
connection and (for https) a TLS handshake with the tool's own CA, its token can be
read, and, only where the owner set ``doctor_arguments``, one real request is sent.

A request may switch on a light or open a door, so none is sent unless the owner
named arguments that are safe to send. The request goes through the daemon's own
code (``edged.tools.http``), so a ✓ means a call from the model would get through.
Tokens are read by the same code and never shown; a refusal names where the token
came from.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, Status, skip

if TYPE_CHECKING:
    from edged.config import HttpToolConfig

ID, TITLE = "http_tools", "HTTP tools"
NOT_SENT = "request not sent (set doctor_arguments to let doctor try one)"
_RANK: dict[Status, int] = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True, slots=True)
class Step:
    """One thing found about a tool: a status, a few words, and the fix if it is not ok."""

    status: Status
    text: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """What the checks found about one tool, in order; a failed step ends it."""

    tool: str
    host: str
    port: int
    steps: tuple[Step, ...]

    @property
    def status(self) -> Status:
        return max((s.status for s in self.steps), key=_RANK.__getitem__, default="ok")

    @property
    def line(self) -> str:
        return f"{self.tool}: " + "; ".join(s.text for s in self.steps)

    @property
    def fix(self) -> str | None:
        worst = [s for s in self.steps if s.status == self.status and s.fix]
        return f"{self.tool}: {worst[0].fix}" if worst else None


def verdict(probes: Sequence[Probe]) -> CheckResult:
    """Pure: one result for every tool; the worst tool decides the status and the fix."""
    status: Status = max((p.status for p in probes), key=_RANK.__getitem__, default="ok")
    bad = [p for p in probes if p.status != "ok"]
    if len(probes) == 1:
        summary = probes[0].line
    else:
        summary = f"{len(probes)} tools, {len(probes) - len(bad)} ok" + (
            f"; look at {', '.join(p.tool for p in bad)}" if bad else "")
    fix = next((p.fix for p in probes if p.status == status and p.fix), None)
    notes = tuple(p.line for p in probes) if len(probes) > 1 else ()
    details = {"tools": [{"name": p.tool, "host": p.host, "port": p.port, "status": p.status,
                          "steps": [s.text for s in p.steps]} for p in probes]}
    return CheckResult(ID, TITLE, status, summary, None if status == "ok" else fix, notes,
                       details)


def check_http_tools(ctx: Context) -> CheckResult:
    assert ctx.config is not None
    tools = ctx.config.tools
    if not tools.http:
        return skip(ID, TITLE, "skipped: no tools.http configured")
    if not tools.enabled:
        return skip(ID, TITLE, "skipped: tools.enabled is false (the model is offered no "
                    "tools)")
    return verdict([probe(tool, ctx) for tool in tools.http])


# --------------------------------------------------------------------------- one tool


def probe(cfg: HttpToolConfig, ctx: Context) -> Probe:
    """Every step for one tool, stopping at the first that fails."""
    from edged.tools.http import fill_url

    parts = urlsplit(fill_url(cfg.url or "", {}))
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    name = cfg.name or "?"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        return Probe(name, host, 0, (Step("fail", "the url's port is not a number from 1 to "
                                          "65535", "fix the port in the tool's url"),))
    timeout = ctx.options.timeout_s if ctx.options.timeout_s is not None else cfg.timeout_s
    steps = [_resolve(host, port, timeout)]
    if steps[0].status != "fail":
        steps.append(_connect(cfg, host, port, secure, timeout))
    if steps[-1].status == "fail":
        return Probe(name, host, port, tuple(steps))
    found, token = _token(cfg, ctx.environ, secure, host)
    steps.append(found)
    if found.status == "ok":
        steps.append(_request(cfg, token, timeout))
    return Probe(name, host, port, tuple(steps))


def _resolve(host: str, port: int, timeout: float) -> Step:
    import ipaddress

    from edged.doctor.network import _resolve as resolve

    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return Step("ok", f"{host} is an address")
    try:
        addresses = resolve(host, port, timeout)
    except socket.gaierror as exc:
        unknown = exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
        return Step("fail", f"{host} does not resolve" if unknown else
                    f"cannot resolve {host} (error {exc.errno})",
                    "check the host in the tool's url; a .local name needs mDNS "
                    "(sudo apt install libnss-mdns), or use the address" if unknown else
                    "the network or the DNS server in /etc/resolv.conf")
    except TimeoutError:
        return Step("fail", f"no DNS answer for {host} within {timeout:g} s",
                    "the network or the DNS server in /etc/resolv.conf")
    return Step("ok", f"{host} → {', '.join(addresses[:2])}")


def _connect(cfg: HttpToolConfig, host: str, port: int, secure: bool, timeout: float) -> Step:
    from edged.tools.http import HttpError, failure, tls_context

    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        context = tls_context(cfg.ca_file) if secure else None
    except HttpError as exc:
        return Step("fail", str(exc), "tools.http ca_file must name the PEM certificate of "
                    "the CA that signed the server's certificate")
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if context is None:
                return Step("ok", f"{where} accepts connections")
            with context.wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version() or "TLS"
    except OSError as exc:  # ssl.SSLError and TimeoutError too
        why = failure(exc, where, host, timeout)
        return Step("fail", why, _connect_fix(exc, cfg))
    took = (time.monotonic() - started) * 1000
    trust = f"CA {cfg.ca_file}" if cfg.ca_file else "the system's CAs"
    return Step("ok", f"{version} with {where} ({trust}, {took:.0f} ms)")


def _connect_fix(exc: OSError, cfg: HttpToolConfig) -> str:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in (9, 10):
            return "check this machine's clock (sudo timedatectl set-ntp true)"
        if exc.verify_code == 62:
            return "the certificate is for another name: use that name in the tool's url"
        return ("for a server with its own CA (a self-signed Home Assistant), set the tool's "
                "ca_file to that CA's certificate" if not cfg.ca_file else
                f"{cfg.ca_file} is not the CA that signed the server's certificate")
    if isinstance(exc, ConnectionRefusedError):
        return "nothing listens there: is the server running? check the port in the tool's url"
    if isinstance(exc, TimeoutError):
        return "a firewall, or the host is down: can this machine reach it? (ping it)"
    return "the network: can this machine reach the host? (ip route; ping it)"


def _token(cfg: HttpToolConfig, environ: Mapping[str, str], secure: bool,
           host: str) -> tuple[Step, str | None]:
    from edged.realtime.credentials import CredentialsError
    from edged.realtime.endpoint import is_loopback
    from edged.tools.http import read_token

    try:
        secret = read_token(cfg, environ)
    except CredentialsError as exc:
        return _token_problem(cfg, str(exc), exc.tried), None
    if secret is None:
        return Step("ok", "no token"), None
    plain = "" if secure or is_loopback(host) else " (sent unencrypted over http://)"
    return Step("ok", f"token in {secret.source}, not shown{plain}"), secret.reveal()


def _token_problem(cfg: HttpToolConfig, message: str, tried: tuple[str, ...]) -> Step:
    """Pure: a token that cannot be read here. Outside the service the credential cannot
    be read at all, and a root-only file only by root: that is a warning, not a fault."""
    said = " ".join(tried).lower()
    shown = message.removeprefix("no token found; tried ")
    if "refusing" in message:
        return Step("fail", shown, message[message.index("run:") + 5:]
                    if "run:" in message else f"chmod 600 {cfg.token_file}")
    only_here = all("credentials_directory is not set" in t.lower()
                    or "permission denied" in t.lower() for t in tried)
    if only_here and tried:
        fix = ("run sudo edged doctor (the token file is root-only, as it should be)"
               if "permission denied" in said else
               f"the credential is the service's alone; also set token_file (the file "
               f"LoadCredential= reads, e.g. /etc/edged/{cfg.token_credential}) so "
               "sudo edged doctor can read it")
        return Step("warn", f"token not readable here ({shown}); request not sent", fix)
    where = cfg.token_file or f"/etc/edged/{cfg.token_credential}"
    return Step("fail", f"no token ({shown})",
                f"put the token in {where} (one line; sudo chmod 600 {where}) and hand it to "
                "the service with LoadCredential= (docs/tools.md)")


def _request(cfg: HttpToolConfig, token: str | None, timeout: float) -> Step:
    """The one request, with the owner's doctor_arguments, through the daemon's code."""
    import asyncio
    import dataclasses

    from edged.tools import schema
    from edged.tools.configured import parameters_schema
    from edged.tools.http import HttpError, call_http

    arguments: Any = cfg.doctor_arguments
    if arguments is None:
        return Step("ok", NOT_SENT)
    if not isinstance(arguments, dict):
        return Step("fail", "doctor_arguments is not a mapping of the tool's arguments",
                    "write it like the model's arguments, e.g. doctor_arguments: {text: hello}")
    mismatch = schema.check(parameters_schema(cfg.parameters), arguments)
    if mismatch is not None:
        return Step("fail", f"doctor_arguments do not fit the tool's parameters: {mismatch}",
                    "fix doctor_arguments (they are checked like the model's arguments)")
    started = time.monotonic()
    try:
        answer = asyncio.run(call_http(dataclasses.replace(cfg, timeout_s=timeout),
                                       arguments, token=token))
    except HttpError as exc:
        return Step("fail", f"request: {exc}", _refusal_fix(exc.status, cfg))
    took = (time.monotonic() - started) * 1000
    cut = ", cut at max_response_kb" if answer.get("truncated") else ""
    return Step("ok", f"request answered HTTP {answer.get('status')} in {took:.0f} ms{cut}")


def _refusal_fix(status: int | None, cfg: HttpToolConfig) -> str:
    """Pure: the fix for a request that was sent and failed."""
    from edged.tools.http import token_names

    if status in (401, 403):
        if not (cfg.token_credential or cfg.token_file):
            return "the server wants a token: set token_credential (and token_file)"
        return (f"the token in {token_names(cfg).removeprefix('the ')} is wrong, revoked or "
                "lacks access: make a new one (Home Assistant: your profile, Security, "
                "long-lived access tokens) and replace it")
    words = {404: "the server has no such path: check the tool's url", 3: "put the address "
             "it redirects to in the tool's url", 4: "the server refused doctor_arguments or "
             "the body: read its words above", 5: "a problem on the server's side: look at its "
             "log"}
    if status is not None:
        return words.get(status) or words.get(status // 100) or f"HTTP {status}"
    return "see the steps before it; the server took the connection but not the request"
