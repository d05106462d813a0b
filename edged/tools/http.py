"""The ``http`` tool: one request per call, built from the owner's template and the
model's arguments, and its answer turned into something the model can read.

A pure core builds the request (:func:`build_request`) and reads the answer
(:func:`read_result`); one thin exchange over asyncio streams sits between them. It
is written like the token service's fetch (``edged.realtime.token_service``) and for
the same reasons: nothing to install on a Pi, it runs on the loop and can be
cancelled, and nothing happens behind the owner's back. No redirect is followed (it
could carry the token to another host), no proxy variable is honoured, TLS always
verifies the certificate and the host name, and no more than ``max_response_kb`` of
the answer is read.

Every failure is a :class:`HttpError`, a ``ToolError`` whose sentence the model reads
and can repeat to the person. The token never appears in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import io
import json
import logging
import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from edged import __version__
from edged.config import PLACEHOLDER_RE, HttpToolConfig
from edged.realtime.credentials import CredentialsError, Secret, load_secret
from edged.realtime.trust import system_context
from edged.redact import REDACTOR, printable, register_secret
from edged.tools.registry import ToolError

log = logging.getLogger("edged.tools")

HEAD_BYTES = 16384  # the status line and headers; more is not an answer worth reading
TEXT_CHARS = 2000  # a text answer is cut to this for the model
EXCERPT_CHARS = 120  # of an error answer's body, in the sentence
_CHUNK_SLACK = 4096  # chunked framing read beyond the cap
_URL_SAFE = "/?#[]@!$&'()*+,;=:%~"  # a template's own characters kept as written
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name


class HttpError(ToolError):
    """A call that came to nothing; ``status`` is the HTTP status when there was one."""

    def __init__(self, sentence: str, status: int | None = None) -> None:
        super().__init__(sentence)
        self.status = status


@dataclass(frozen=True, slots=True)
class Request:
    """One request, as plain values."""

    method: str
    secure: bool
    host: str
    port: int
    target: str  # path and query, percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes | None

    @property
    def where(self) -> str:
        """``host:port`` as a person writes it (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1",
                 *(f"{k}: {v}" for k, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (self.body or b"")


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, as plain values; ``truncated``: more was sent than was read."""

    status: int
    content_type: str
    location: str | None
    body: bytes
    truncated: bool


# --------------------------------------------------------------------------- the token


def token_names(cfg: HttpToolConfig) -> str:
    """Where the tool's token comes from, in words (never the token)."""
    named = [f"the systemd credential '{cfg.token_credential}'" if cfg.token_credential
             else "", f"the token file {cfg.token_file}" if cfg.token_file else ""]
    return " or ".join(n for n in named if n) or "no token (token_credential, token_file)"


def read_token(cfg: HttpToolConfig, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The token and where it came from (None: the tool has none), by the API key's rules:
    the systemd credential, else the root-only file (one readable by others is refused).
    Registered with the redactor the moment it is read; raises CredentialsError."""
    if not (cfg.token_credential or cfg.token_file):
        return None
    secret = load_secret("token", "token file", (cfg.token_credential, cfg.token_file, None),
                         environ)
    register_secret(secret.reveal(), f"http_token:{cfg.name}")
    return secret


def load_token(cfg: HttpToolConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token (token_credential from $CREDENTIALS_DIRECTORY, else token_file), or
    None when the tool has none; registered with the redactor. Raises ToolError naming the
    credential or file (never the value) when configured but unreadable."""
    try:
        secret = read_token(cfg, environ)
    except CredentialsError as exc:
        why = str(exc).removeprefix("no token found; tried ")
        log.warning("tool %s has no token: %s", cfg.name, why,
                    extra={"fields": {"tool": cfg.name}})
        raise HttpError(f"its token could not be read ({why})") from None
    return None if secret is None else secret.reveal()


# --------------------------------------------------------------------------- the request


def _text(value: Any) -> str:
    """An argument as URL or body text: JSON's spelling for booleans, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill_url(template: str, arguments: Mapping[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by its argument, percent-encoded whole
    (a ``/`` or ``?`` in a value cannot change the path); an absent one is empty. The
    template's own text is percent-encoded only where it is not valid in a URL."""
    out: list[str] = []
    at = 0
    for m in PLACEHOLDER_RE.finditer(template):
        out += (quote(template[at:m.start()], safe=_URL_SAFE),
                quote(_text(arguments.get(m.group(1))), safe=""))
        at = m.end()
    out.append(quote(template[at:], safe=_URL_SAFE))
    return "".join(out)


class _Absent:
    """An optional argument the model left out, where a lone ``{name}`` stood."""


_ABSENT = _Absent()


def fill_body(template: Any, arguments: Mapping[str, Any]) -> Any:
    """The JSON body: a string that is exactly ``{name}`` becomes the argument itself (a
    number stays a number); ``{name}`` inside longer text is replaced as text. An absent
    argument's lone placeholder leaves its member out of an object (Home Assistant, for
    one, refuses ``null`` where it wants a number), and is null elsewhere."""
    value = _fill(template, arguments)
    return None if value is _ABSENT else value


def _fill(node: Any, arguments: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PLACEHOLDER_RE.fullmatch(node)
        if whole:
            return arguments.get(whole.group(1), _ABSENT)
        return PLACEHOLDER_RE.sub(lambda m: _text(arguments.get(m.group(1))), node)
    if isinstance(node, Mapping):
        filled = {str(k): _fill(v, arguments) for k, v in node.items()}
        return {k: v for k, v in filled.items() if v is not _ABSENT}
    if isinstance(node, list | tuple):
        return [None if v is _ABSENT else v for v in (_fill(x, arguments) for x in node)]
    return node


def build_request(cfg: HttpToolConfig, arguments: Mapping[str, Any],
                  token: str | None) -> Request:
    """The request for one call. Without a ``body`` template, POST, PUT and PATCH send the
    arguments themselves as a JSON object; GET and DELETE send no body."""
    parts = urlsplit(fill_url(cfg.url or "", arguments))
    try:
        port = parts.port
    except ValueError:
        raise HttpError("its URL has an invalid port") from None
    if parts.username is not None or parts.password is not None:
        raise HttpError("its URL must not hold a user or password (use token_credential)")
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if cfg.body is not None:
        payload: Any = fill_body(cfg.body, arguments)
    elif cfg.method in ("POST", "PUT", "PATCH"):
        payload = dict(arguments)
    else:
        payload = _ABSENT
    body = None if payload is _ABSENT else json.dumps(
        payload, ensure_ascii=False, separators=(",", ":")).encode()
    given = {k.lower() for k in cfg.headers}
    netloc = f"[{host}]" if ":" in host else host
    headers: list[tuple[str, str]] = [("Host", netloc if parts.port is None
                                       else f"{netloc}:{port}")]
    for name, value in cfg.headers.items():
        if not _TOKEN_CHARS.fullmatch(name) or not (value.isascii() and value.isprintable()):
            raise HttpError(f"its header {name!r} is not a valid HTTP header (plain ASCII on "
                            "one line)")
        headers.append((name, value))
    defaults = [("Accept", "application/json"), ("User-Agent", f"edged/{__version__}")]
    if body is not None:
        defaults.append(("Content-Type", "application/json"))
    headers += [(k, v) for k, v in defaults if k.lower() not in given]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    if body is not None or cfg.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(body or b""))))
    headers.append(("Connection", "close"))
    return Request(cfg.method, secure, host, port, target, tuple(headers), body)


# --------------------------------------------------------------------------- the answer


def _masked(answer: dict[str, Any]) -> dict[str, Any]:
    return {REDACTOR.redact_secrets(k): _mask(v) for k, v in answer.items()}


def _mask(value: Any) -> Any:
    """Registered secrets masked in every string (the server might echo the token), and
    nothing else touched: the model gets the server's data as it was."""
    if isinstance(value, str):
        return REDACTOR.redact_secrets(value)
    if isinstance(value, Mapping):
        return {REDACTOR.redact_secrets(str(k)): _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def read_result(answer: Answer, where: str, cfg: HttpToolConfig,
                has_token: bool) -> dict[str, Any]:
    """What the model is told of a 2xx answer; raises HttpError for any other status.

    A JSON object comes back as it is, with ``"status"`` added (an object that has its
    own ``status`` goes under ``"result"``, as arrays and plain values do); other text
    as ``"text"``. An answer cut at ``max_response_kb`` is never parsed: its start comes
    back as text, with ``"truncated": true``."""
    status = answer.status
    text = answer.body.decode("utf-8", errors="replace")
    if 300 <= status < 400:
        raise HttpError(_redirected(answer, where), status)
    if status in (401, 403):
        if has_token:
            log.warning("tool %s: %s refused the token (HTTP %d); check %s", cfg.name, where,
                        status, token_names(cfg),
                        extra={"fields": {"tool": cfg.name, "http_status": status}})
            raise HttpError(f"{where} refused the token (HTTP {status}): check "
                            f"{token_names(cfg)}", status)
        raise HttpError(f"{where} refused the request (HTTP {status}): the tool sends no "
                        "token (set token_credential or token_file)", status)
    if not 200 <= status < 300:
        excerpt = _shorten(REDACTOR.redact_secrets(printable(" ".join(text.split()))),
                           EXCERPT_CHARS)
        raise HttpError(f"{where} answered HTTP {status}" + (f": {excerpt}" if excerpt
                                                               else ""), status)
    if answer.truncated:
        log.info("tool %s: the answer was over %d KiB; only its start was read", cfg.name,
                 cfg.max_response_kb)
        return _masked({"status": status, "truncated": True,
                      "text": _shorten(printable(text).strip(), TEXT_CHARS)})
    if not text.strip():
        return {"status": status}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _masked({"text": _shorten(printable(text).strip(), TEXT_CHARS),
                        "status": status})
    if isinstance(value, dict) and "status" not in value:
        return _masked({**value, "status": status})
    return _masked({"result": value, "status": status})


def _redirected(answer: Answer, where: str) -> str:
    where_to = ""
    if answer.location:
        parts = urlsplit(answer.location.strip())
        shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}" \
            if parts.netloc else parts.path
        where_to = f" to {_shorten(REDACTOR.redact_secrets(printable(shown)), 80)}"
    return (f"{where} redirected the request{where_to} (HTTP {answer.status}); redirects are "
            "not followed: the tool's url must be the final address")


_NO_ANSWER: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ConnectionRefusedError, "could not reach {where}: connection refused"),
    ((asyncio.IncompleteReadError, ConnectionResetError),
     "{where} closed the connection without an answer"),
    (asyncio.LimitOverrunError, f"{{where}} answered with headers over {HEAD_BYTES // 1024} KiB"),
    (http.client.HTTPException, "{where} answered something that is not HTTP"),
)


def failure(exc: BaseException, where: str, host: str, timeout_s: float) -> str:
    """The sentence for a request that got no answer."""
    if isinstance(exc, TimeoutError):
        return f"{where} did not answer within {timeout_s:g} s"
    if isinstance(exc, socket.gaierror):
        unknown = exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
        return f"could not reach {where}: the name {host} " + (
            "does not resolve" if unknown else "could not be looked up")
    if isinstance(exc, ssl.SSLError):
        why = (f"its TLS certificate is not trusted ({exc.verify_message or exc.reason})"
               if isinstance(exc, ssl.SSLCertVerificationError)
               else f"TLS failed ({exc.reason or exc})")
        return f"could not reach {where}: {why}"
    for kind, words in _NO_ANSWER:
        if isinstance(exc, kind):
            return words.format(where=where)
    if isinstance(exc, OSError):
        return f"could not reach {where}: {(exc.strerror or type(exc).__name__).lower()}"
    return f"the request to {where} failed: {type(exc).__name__}"


# --------------------------------------------------------------------------- the exchange


class _Replay:
    """Bytes already received, offered to ``http.client`` as if they were a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs, or only ``ca_file`` when the tool names one. Loading the system
    store takes tens of milliseconds (more on a Pi), so a context is kept and shared
    until its CA file changes."""
    try:
        stamp = os.stat(ca_file).st_mtime_ns if ca_file else 0
        return _context(ca_file, stamp)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM " \
            "certificate"
        raise HttpError(f"its CA file {ca_file} cannot be used: {why.lower()}") from None


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, stamp: int) -> ssl.SSLContext:
    if ca_file is None:  # the same system store the realtime link trusts
        return system_context()
    return ssl.create_default_context(cafile=ca_file)


async def exchange(request: Request, cap_bytes: int,
                   context: ssl.SSLContext | None = None) -> Answer:
    """Send ``request`` and read its answer, at most ``cap_bytes`` of body. Raises
    OSError, ssl.SSLError, asyncio stream errors or http.client.HTTPException."""
    reader, writer = await asyncio.open_connection(
        request.host, request.port, ssl=context if request.secure else None,
        server_hostname=request.host if request.secure else None, limit=HEAD_BYTES)
    try:
        writer.write(request.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        response = http.client.HTTPResponse(_Replay(head), method=request.method)  # type: ignore[arg-type]
        response.begin()
        length = response.length  # None: chunked, or until the server closes
        if length is not None:
            raw = await _read(reader, min(length, cap_bytes))
            cut = length > cap_bytes
        else:
            limit = cap_bytes + (cap_bytes // 8 + _CHUNK_SLACK if response.chunked else 0)
            raw = await _read(reader, limit + 1)
            cut = len(raw) > limit
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    whole = http.client.HTTPResponse(_Replay(head + raw), method=request.method)  # type: ignore[arg-type]
    whole.begin()
    try:
        body = whole.read()
    except http.client.IncompleteRead as partial:
        body, cut = partial.partial, True
    return Answer(whole.status, whole.getheader("Content-Type") or "",
                  whole.getheader("Location"), body[:cap_bytes],
                  cut or len(body) > cap_bytes)


async def _read(reader: asyncio.StreamReader, count: int) -> bytes:
    """Up to ``count`` bytes: fewer only when the server closes first."""
    chunks: list[bytes] = []
    size = 0
    while size < count and (chunk := await reader.read(min(65536, count - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def call_http(cfg: HttpToolConfig, arguments: Mapping[str, Any], *,
                    token: str | None) -> dict[str, Any]:
    """One request; ToolError with a sentence for the model on any failure."""
    request = build_request(cfg, arguments, token)
    context = tls_context(cfg.ca_file) if request.secure else None
    log.debug("tool %s: %s %s%s", cfg.name, request.method, request.where, request.target)
    try:
        async with asyncio.timeout(cfg.timeout_s):
            answer = await exchange(request, cfg.max_response_kb * 1024, context)
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            http.client.HTTPException) as exc:  # TimeoutError is an OSError
        raise HttpError(failure(exc, request.where, request.host, cfg.timeout_s)) from None
    return read_result(answer, request.where, cfg, token is not None)
