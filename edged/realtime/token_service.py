"""Asks the fleet's token service for a client secret, and keeps it while it lasts.

The thin shell around ``client_secret`` (the pure rules): one ``POST token_url``
with the device token as the bearer, the answer read, the secret registered with
the redactor the moment it is known, and held until shortly before it ends.

HTTP is written by hand over asyncio streams, and the answer parsed by the
standard library's own ``http.client`` parser, for three reasons. Nothing new to
install on a Pi (an HTTP client library is megabytes and a second TLS setup for
one small request every few minutes). The fetch runs on the event loop and can be
cancelled: ``http.client`` in a thread could not be, and a reload or a stop would
wait for it. And nothing is done behind edged's back: no redirect is followed (a
redirect could hand the device token to another host), no proxy variable is
honoured, TLS always verifies the certificate and the host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from edged import __version__
from edged.config import CredentialsConfig, RealtimeConfig
from edged.realtime.client_secret import (
    MAX_BODY_BYTES,
    Held,
    MalformedAnswer,
    Minted,
    TokenFailure,
    read_answer,
    usable,
)
from edged.realtime.credentials import CredentialsError, Secret, load_device_token
from edged.realtime.policy import Cause, Failure, classify_token_status, parse_retry_after
from edged.realtime.trust import system_context
from edged.redact import register_secret
from edged.tools.clock import synced

_HEAD_BYTES = 16384  # status line and headers; a token answer needs a few hundred


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, as plain values."""

    status: int
    date: str | None
    retry_after: str | None
    body: bytes


class _Replay:
    """The bytes of a whole answer, offered to ``http.client`` as if they were a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def request_body(realtime: RealtimeConfig) -> bytes:
    """What a service needs to mint a secret for this speaker's session: the model (the
    deployment, on Azure) and the voice. The speaker sends its whole session itself
    once connected."""
    model = realtime.deployment or realtime.model if realtime.provider == "azure" \
        else realtime.model
    return json.dumps({"model": model, "voice": realtime.voice}).encode()


class TokenService:
    """The secrets of one ``credentials.token_url``, fetched on demand and reused.

    ``clock`` (monotonic) times the held secret; ``wall`` and ``clock_synced`` are
    only asked when the service sends no Date header. All are injectable, so expiry
    and a wrong clock are tested without waiting or changing the machine's time.
    """

    def __init__(self, creds: CredentialsConfig, realtime: RealtimeConfig, *,
                 handshake_s: float, environ: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 clock_synced: Callable[[], bool] = synced) -> None:
        if not creds.token_url:
            raise ValueError("credentials.token_url is not set")
        self.url = creds.token_url
        self.creds, self.realtime = creds, realtime
        self.handshake_s = handshake_s
        self._environ = environ
        self._ssl = ssl_context
        self._clock, self._wall, self._synced = clock, wall, clock_synced
        self._held: Held | None = None
        self.fetches = 0  # answers asked for, whatever came of them

    def serves(self, creds: CredentialsConfig, realtime: RealtimeConfig) -> bool:
        """Whether this service still fits the config (a reload may have changed it)."""
        return creds == self.creds and request_body(realtime) == request_body(self.realtime)

    def forget(self) -> None:
        """Drop the held secret (the server refused it): the next connect asks anew."""
        self._held = None

    async def secret(self) -> tuple[Secret, bool]:
        """A secret to connect with, and whether it is a held one; raises TokenFailure."""
        held = self._held
        if held is not None and usable(held, self._clock(), self.handshake_s):
            return Secret(held.value, "token service"), True
        minted = await self.fetch()
        return Secret(minted.value, "token service"), False

    async def fetch(self) -> Minted:
        """Ask the service now (held or not); raises TokenFailure."""
        self._held = None
        try:
            token = load_device_token(self.creds, self._environ)
        except CredentialsError as exc:
            raise TokenFailure(Failure(Cause.CREDENTIALS, str(exc))) from None
        register_secret(token.reveal(), "device_token")
        self.fetches += 1
        try:
            async with asyncio.timeout(self.creds.token_timeout_s):
                answer = await self._post(token)
        except TimeoutError:
            raise self._failed(f"no answer within {self.creds.token_timeout_s:g} s "
                               "(credentials.token_timeout_s)") from None
        except ssl.SSLCertVerificationError as exc:
            raise self._failed(f"TLS failed: {exc.verify_message or exc.reason}") from None
        except ssl.SSLError as exc:
            raise self._failed(f"TLS failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise self._failed(f"cannot connect: {exc.strerror or type(exc).__name__}") \
                from None
        except http.client.HTTPException as exc:
            raise self._failed(f"the answer is not HTTP ({type(exc).__name__})") from None
        except MalformedAnswer as exc:
            raise self._failed(f"the answer is malformed: {exc}") from None
        arrived, local_wall = self._clock(), self._wall()
        if not 200 <= answer.status < 300:
            retry_after = parse_retry_after(answer.retry_after, local_wall)
            raise TokenFailure(classify_token_status(answer.status, token.source, retry_after))
        try:
            minted = read_answer(answer.body, answer.date, local_wall,
                                 clock_synced=answer.date is not None or self._synced())
        except MalformedAnswer as exc:
            raise self._failed(f"the answer is malformed: {exc}") from None
        register_secret(minted.value, "client_secret")  # masked from this moment on
        if minted.lifetime_s > 0:
            self._held = Held(minted.value, arrived, minted.lifetime_s)
        return minted

    def _failed(self, why: str) -> TokenFailure:
        """A failure that may pass by itself (network, server, a bad answer): backoff."""
        return TokenFailure(Failure(Cause.NETWORK, f"token service: {why}"))

    async def _post(self, token: Secret) -> Answer:
        parts = urlsplit(self.url)
        secure = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = request_body(self.realtime)
        head = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: Bearer {token.reveal()}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                f"User-Agent: edged/{__version__}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        context = (self._ssl or system_context()) if secure else None
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if secure else None,
            limit=_HEAD_BYTES)
        try:
            writer.write(head.encode() + body)
            await writer.drain()
            data = await _read_to_end(reader, MAX_BODY_BYTES + _HEAD_BYTES)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        response = http.client.HTTPResponse(_Replay(data))  # type: ignore[arg-type]
        response.begin()
        payload = response.read()
        return Answer(response.status, response.getheader("Date"),
                      response.getheader("Retry-After"), payload)


async def _read_to_end(reader: asyncio.StreamReader, limit: int) -> bytes:
    """Everything the server sends until it closes (``Connection: close``), at most
    ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > limit:
            raise MalformedAnswer(f"the answer is over {limit // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)
