"""The resilient WebSocket link: the asyncio shell around codec and policy.

One task runs connect → configure → serve, and asks the pure ``Policy`` how long
to wait after each ending. Every (re)connect sends the session and waits for
``session.updated`` before the link reports itself up, so callers never talk to
a half-configured session.

Outgoing events go through a small queue drained by one sender task: ``send``
is a plain function that never awaits, so the audio path can call it from its
loop callback without creating a coroutine per frame. ``send`` returns False
when the link is not up; the caller keeps the audio. Note that when a link
drops, the server forgets its input buffer and the conversation: a caller that
holds an utterance must send all of it again on the new link.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from edged import __version__
from edged.config import Config
from edged.realtime.client_secret import TokenFailure
from edged.realtime.codec import Decoder, Wire, encode_bytes
from edged.realtime.credentials import CredentialsError, Secret
from edged.realtime.endpoint import EndpointError, build_endpoint
from edged.realtime.events import (
    AudioDelta,
    ClientEvent,
    ErrorEvent,
    ServerEvent,
    Session,
    SessionUpdate,
    SessionUpdated,
    session_changes,
    session_from_config,
)
from edged.realtime.policy import (
    Cause,
    Failure,
    Policy,
    Wait,
    classify_close,
    classify_status,
    parse_retry_after,
)
from edged.realtime.sanitize import MESSAGE_CHARS, sanitize_event
from edged.redact import REDACTOR, RedactFilter, register_secret

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import ConnectionClosed

    from edged.realtime.token_service import TokenService

log = logging.getLogger("edged.realtime")
_wire_log = logging.getLogger("edged.realtime.wire")  # websockets' own debug lines

OUTBOX_LIMIT_BYTES = 4 * 2**20  # about 90 s of base64 PCM16: a stalled socket, not a burst
CLOSE_TIMEOUT_S = 2.0
IDLE_POLL_S = 0.25  # how often a due renewal re-checks whether the conversation is idle
ERROR_EXPLAINS_CLOSE_S = 2.0
"""An error event explains a close only if it came at most this long before it: a
quota error answered minutes earlier says nothing about an ordinary close now."""


_OUR_CLOSES = {
    1009: "the server sent a message over link.max_message_mb ({0.max_message_mb:g} MB)",
    1007: "the server sent text that is not valid UTF-8",
    1002: "the server broke the WebSocket protocol",
}
"""Closes websockets makes on our side when the server misbehaves: said as such, not
as "connection lost without a close frame"."""


class LinkState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    BACKOFF = "backoff"
    CIRCUIT_OPEN = "circuit_open"
    AUTH_FAILED = "auth_failed"
    CONFIG_FAILED = "config_failed"
    CLOSED = "closed"


_WAIT_STATE = {
    Wait.NONE: LinkState.CONNECTING,
    Wait.BACKOFF: LinkState.BACKOFF,
    Wait.RETRY_AFTER: LinkState.BACKOFF,
    Wait.CIRCUIT_OPEN: LinkState.CIRCUIT_OPEN,
    Wait.AUTH_FAILED: LinkState.AUTH_FAILED,
    Wait.CONFIG_FAILED: LinkState.CONFIG_FAILED,
}


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A snapshot for health reporting. Times are ``time.monotonic()`` seconds."""

    state: LinkState
    retry_in_s: float | None = None  # while waiting: seconds until the next attempt
    connects: int = 0  # times the link came up
    reconnects: int = 0  # ups after the first
    renewals: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)  # by Cause value
    last_error: str | None = None  # never holds a secret
    up_since: float | None = None
    up_time_s: float = 0.0  # cumulative, including the current stretch
    run_time_s: float = 0.0  # since run() started
    dialect: Wire | None = None
    url: str | None = None  # the URL never holds the key
    unknown_events: int = 0
    malformed_events: int = 0
    outbox_refused: int = 0

    @property
    def up(self) -> bool:
        return self.state is LinkState.UP

    @property
    def critical(self) -> bool:
        """A problem only a person can fix (the key or the config)."""
        return self.state in (LinkState.AUTH_FAILED, LinkState.CONFIG_FAILED)

    @property
    def uptime_pct(self) -> float:
        return 100.0 * self.up_time_s / self.run_time_s if self.run_time_s > 0 else 0.0


# websockets logs handshake headers at DEBUG; it creates its records on this logger,
# so a logger filter sees them all, even before any handler does.
_wire_log.addFilter(RedactFilter())


def _always_idle() -> bool:
    return True


def _secret_refused(tokens: TokenService, failure: Failure, reused: bool) -> Failure:
    """The server refused a client secret: never offer it again. A held one may just
    have been revoked (a fresh one is asked for after a short backoff); a fresh one
    refused means the service mints bad secrets: its own key or settings are wrong."""
    tokens.forget()
    status = failure.detail.split(":")[0]  # "HTTP 401 at the handshake"
    if reused:
        return Failure(Cause.NETWORK, f"{status}: the server refused a reused client secret; "
                       "a new one is asked for")
    return Failure(Cause.CREDENTIALS, f"{status}: the server refused the client secret the "
                   "token service had just minted (check the service's own API key)")


class Link:
    """A realtime link that always comes back, without hammering anyone.

    Every method runs on the event loop's thread; audio threads hand frames to
    the loop first (``call_soon_threadsafe``). ``on_sent`` gets each event with
    the ``time.monotonic()`` at which its bytes were handed to the socket.
    """

    def __init__(
        self,
        config: Config,
        key_source: Callable[[], str],
        on_event: Callable[[ServerEvent], None],
        on_status: Callable[[LinkStatus], None],
        is_idle: Callable[[], bool] = _always_idle,
        *,
        session: Session | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_sent: Callable[[ClientEvent, float], None] | None = None,
        policy: Policy | None = None,
        tokens: TokenService | None = None,
    ) -> None:
        self._config = config
        self._key_source = key_source  # not asked when credentials.token_url is set
        # with token_url: the service the secrets come from (built from the config when
        # None, and again when a reload changes it; one passed in is always used)
        self._tokens, self._tokens_fixed = tokens, tokens is not None
        self._on_event = on_event
        self._on_status = on_status
        self._is_idle = is_idle
        self._ssl = ssl_context
        self._trust: ssl.SSLContext | None = None  # the system's, when no context is given
        self._on_sent = on_sent
        self._policy = policy or Policy(config.link)
        self._session = session or session_from_config(config.realtime, handsfree=False)

        self._state = LinkState.CLOSED
        self._reported: tuple[LinkState, float] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._ws: ClientConnection | None = None
        self._dialect: Wire | None = None
        self._url: str | None = None
        self._wake = asyncio.Event()
        self._attempt_task: asyncio.Task[Failure] | None = None
        self._ending: Failure | None = None  # why we are closing an up link ourselves

        self._outbox: deque[tuple[bytes, ClientEvent]] = deque()
        self._outbox_bytes = 0
        self._outbox_wake = asyncio.Event()

        self._started: float | None = None
        self._up_since: float | None = None
        self._up_total = 0.0
        self._connects = 0
        self._renewals = 0
        self._failures: Counter[str] = Counter()
        self._last_error: str | None = None
        self._decoder: Decoder | None = None
        self._unknown = 0
        self._malformed = 0
        self._refused = 0
        self._session_seq = 0
        self._server_session: Session | None = None  # what this connection was sent
        # session.update ids not yet answered: their fields, and the session before them
        self._updates: dict[str, tuple[frozenset[str], Session]] = {}
        self._spoken = False  # the model has spoken on this connection: its voice is set
        self._voice_task: asyncio.Task[None] | None = None
        self._error: tuple[str | None, float] | None = None  # the last error event, when

    # ------------------------------------------------------------------ public API

    @property
    def status(self) -> LinkStatus:
        now = time.monotonic()
        up_time = self._up_total + (now - self._up_since if self._up_since is not None else 0.0)
        retry = None
        if self._state in (LinkState.BACKOFF, LinkState.CIRCUIT_OPEN, LinkState.AUTH_FAILED,
                           LinkState.CONFIG_FAILED):
            retry = self._policy.plan.seconds_left(now)
        dec = self._decoder
        return LinkStatus(
            state=self._state,
            retry_in_s=retry,
            connects=self._connects,
            reconnects=max(0, self._connects - 1),
            renewals=self._renewals,
            failures=MappingProxyType(dict(self._failures)),
            last_error=self._last_error,
            up_since=self._up_since,
            up_time_s=up_time,
            run_time_s=now - self._started if self._started is not None else 0.0,
            dialect=self._dialect,
            url=self._url,
            unknown_events=self._unknown + (dec.unknown if dec else 0),
            malformed_events=self._malformed + (dec.malformed if dec else 0),
            outbox_refused=self._refused,
        )

    @property
    def session(self) -> Session:
        return self._session

    def send(self, event: ClientEvent) -> bool:
        """Queue an event for the server; False (nothing queued) when the link is not up."""
        if self._state is not LinkState.UP or self._dialect is None:
            return False
        data = encode_bytes(event, self._dialect)
        if self._outbox_bytes + len(data) > OUTBOX_LIMIT_BYTES:
            self._refused += 1
            return False
        self._outbox.append((data, event))
        self._outbox_bytes += len(data)
        if not self._outbox_wake.is_set():
            self._outbox_wake.set()
        return True

    def set_session(self, session: Session) -> bool:
        """Use this session from now on: if up, send what changed at once (no reconnect).

        A real server refuses a new voice once the model has spoken, and with it the
        whole update; so a new voice then waits for a session renewal when the
        conversation is idle. Returns whether the server has, or was just sent,
        everything but such a voice; if not, the next connect sends it all.
        """
        self._session = session
        current = self._server_session
        if self._state is not LinkState.UP or current is None:
            return False
        changed = session_changes(current, session)
        if "voice" in changed and self._spoken:
            changed -= {"voice"}
            self._renew_for_voice(session.voice)
        if not changed:
            return True
        update = self._session_update(changed)
        if not self.send(update):
            return False
        assert update.event_id is not None
        self._updates[update.event_id] = (changed, current)
        self._server_session = dataclasses.replace(
            current, **{name: getattr(session, name) for name in changed})
        return True

    def _renew_for_voice(self, voice: str) -> None:
        if self._voice_task is not None and not self._voice_task.done():
            return
        log.info("realtime link: the voice %r applies from the next session, which starts "
                 "as soon as the conversation is idle", voice)
        self._voice_task = asyncio.ensure_future(self._renew_when_idle())

    async def _renew_when_idle(self) -> None:
        while not self._is_idle():
            await asyncio.sleep(IDLE_POLL_S)
        if self._state is LinkState.UP:
            self._end_current(Failure(Cause.RENEWAL, "new voice (realtime.voice)"))

    def reconnect(self, reason: str, config: Config | None = None,
                  session: Session | None = None) -> None:
        """Reconnect at once, forgetting waits (after a reload: new key, endpoint, limits),
        with ``session`` as the next connection's (the old one is not sent it)."""
        if config is not None:
            self._config = config
            self._policy.cfg = config.link
        if session is not None:
            self._session = session
        log.info("realtime link: reconnecting (%s)", reason)
        self._policy.reset(time.monotonic())
        self._end_current(Failure(Cause.RENEWAL, reason))

    def credentials_changed(self) -> None:
        """A new key may be available: end an auth-failed wait now."""
        self._policy.credentials_changed(time.monotonic())
        self._wake.set()

    def config_changed(self) -> None:
        """A reload: end a configuration-failed wait (a 404) now, as the log promised."""
        self._policy.config_changed(time.monotonic())
        self._wake.set()

    def close(self) -> None:
        """Stop: close the connection and let ``run()`` return."""
        self._closing = True
        self._end_current(None)

    async def run(self) -> None:
        """Connect, serve and reconnect until ``close()``."""
        self._started = time.monotonic()
        try:
            while not self._stopping():
                await self._wait_for_plan()
                if self._stopping():
                    break
                self._attempt_task = asyncio.ensure_future(self._attempt())
                await asyncio.wait({self._attempt_task})
                task, self._attempt_task = self._attempt_task, None
                if self._stopping():
                    break
                if task.cancelled():  # reconnect() during a handshake: start over
                    self._ending = None
                    continue
                exc = task.exception()
                if exc is not None:  # a bug or a library surprise: keep going, with backoff
                    log.error("realtime link: unexpected %s: %s", type(exc).__name__, exc)
                    self._after(Failure(Cause.NETWORK, f"unexpected {type(exc).__name__}"))
                    continue
                self._after(task.result())
        finally:
            if self._attempt_task is not None:
                self._attempt_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._attempt_task
            self._closing = True
            self._set_state(LinkState.CLOSED)

    # ------------------------------------------------------------------ the loop

    async def _wait_for_plan(self) -> None:
        while not self._closing:
            plan = self._policy.plan
            left = plan.seconds_left(time.monotonic())
            if left <= 0:
                return
            self._set_state(_WAIT_STATE[plan.wait], plan.at)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)

    def _after(self, failure: Failure) -> None:
        now = time.monotonic()
        if failure.cause is Cause.RENEWAL:
            self._renewals += 1
            self._last_error = None  # a reconnect we chose: an older error is stale now
        else:
            self._failures[failure.cause.value] += 1
            # the detail may quote the server (a close reason, an error code)
            self._last_error = REDACTOR.clean(failure.detail, MESSAGE_CHARS)
        plan = self._policy.failed(failure, now)
        left = plan.seconds_left(now)
        if plan.wait is Wait.NONE:
            log.info("realtime link: %s; reconnecting at once", self._last_error
                     if failure.cause is not Cause.RENEWAL else failure.detail)
        elif plan.wait in (Wait.AUTH_FAILED, Wait.CONFIG_FAILED):
            log.error("realtime link: %s; next try in %.0f s (or at once after a reload)",
                      self._last_error, left)
        else:
            log.warning("realtime link: %s; next try in %.1f s (%s)",
                        self._last_error, left, plan.wait.value)

    async def _attempt(self) -> Failure:
        """One connection from handshake to its end; returns why it ended."""
        # imported here, not at the top: websockets is ~70 ms of start-up before READY=1
        # (scripts/bench), and nothing needs it before the first connection
        from websockets.asyncio.client import connect
        from websockets.protocol import State

        self._policy.attempt(time.monotonic())
        self._set_state(LinkState.CONNECTING)
        self._ending = None
        tokens = self._token_service()
        key = await self._key(tokens)
        if isinstance(key, Failure):
            return key
        secret, reused = key
        try:
            endpoint = build_endpoint(self._config.realtime, secret)
        except EndpointError as exc:
            return Failure(Cause.CONFIGURATION, str(exc))
        if tokens is not None and self._config.realtime.auth_header == "auto":
            endpoint = dataclasses.replace(endpoint, auth="bearer")  # a client secret's way
        self._dialect, self._url = endpoint.dialect, endpoint.url
        lc = self._config.link
        secure = endpoint.url.startswith("wss:")
        try:
            ws = await connect(
                endpoint.url,
                additional_headers=endpoint.headers(),
                user_agent_header=f"edged/{__version__}",
                compression=None,
                max_size=int(lc.max_message_mb * 2**20),
                open_timeout=lc.open_timeout_s,
                ping_interval=lc.ping_interval_s,
                ping_timeout=lc.ping_timeout_s,
                close_timeout=CLOSE_TIMEOUT_S,
                logger=_wire_log,
                ssl=(self._ssl or self._system_trust()) if secure else None,
            )
        except Exception as exc:
            failure = self._handshake_failure(exc)
            if tokens is not None and failure.cause is Cause.CREDENTIALS:
                return _secret_refused(tokens, failure, reused)
            return failure
        self._ws = ws
        self._decoder = Decoder(endpoint.dialect)
        try:
            failure = await self._serve(ws)
            if tokens is not None and failure.cause is Cause.CREDENTIALS:
                tokens.forget()  # refused after the handshake: never offer that one again
            return failure
        finally:
            self._ws = None
            self._went_down()
            if self._decoder is not None:
                self._unknown += self._decoder.unknown
                self._malformed += self._decoder.malformed
                self._decoder = None
            if ws.state is not State.CLOSED:
                ws.transport.abort()

    async def _key(self, tokens: TokenService | None) -> tuple[Secret, bool] | Failure:
        """This attempt's key, and whether it is a held client secret; or why there is none."""
        if tokens is not None:  # no key on this device: a client secret for this connect
            try:
                return await tokens.secret()
            except TokenFailure as exc:
                return exc.failure
        try:
            secret = Secret(self._key_source())
        except CredentialsError as exc:
            return Failure(Cause.CREDENTIALS, str(exc))
        except Exception as exc:
            return Failure(Cause.CREDENTIALS, f"cannot read the API key ({type(exc).__name__})")
        register_secret(secret.reveal())  # whoever supplied it, it is masked from now on
        return secret, False

    def _token_service(self) -> TokenService | None:
        """The token service for the config in force, or None without token_url."""
        creds, rt = self._config.credentials, self._config.realtime
        if self._tokens_fixed:
            return self._tokens
        if creds.token_url is None:
            self._tokens = None
        elif self._tokens is None or not self._tokens.serves(creds, rt):
            from edged.realtime.token_service import TokenService

            self._tokens = TokenService(creds, rt, handshake_s=self._config.link.open_timeout_s,
                                        ssl_context=self._ssl)
        return self._tokens

    async def _secret_ready(self) -> bool:
        """Before a renewal ends a working session: is the next connect's secret at hand?
        While the token service is down, the session goes on instead."""
        tokens = self._token_service()
        if tokens is None:
            return True
        try:
            await tokens.secret()
        except TokenFailure as exc:
            log.warning("realtime link: session renewal postponed, the session goes on: %s",
                        REDACTOR.clean(exc.failure.detail, MESSAGE_CHARS))
            return False
        return True

    def _system_trust(self) -> ssl.SSLContext:
        """The system's CA store, made once per link and only for wss://."""
        if self._trust is None:
            from edged.realtime.trust import system_context

            self._trust = system_context()
        return self._trust

    def _handshake_failure(self, exc: Exception) -> Failure:
        """Why a connection could not be opened; re-raises what is not a network matter."""
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

        if isinstance(exc, InvalidStatus):
            resp = exc.response
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
            return classify_status(resp.status_code, retry_after)
        if isinstance(exc, InvalidURI):
            return Failure(Cause.CONFIGURATION, f"bad URL: {exc}")
        if isinstance(exc, TimeoutError):
            return Failure(Cause.NETWORK, "no handshake within "
                           f"{self._config.link.open_timeout_s:g} s")
        if isinstance(exc, InvalidHandshake):
            return Failure(Cause.NETWORK, f"handshake failed: {exc}")
        if isinstance(exc, ssl.SSLError):
            return Failure(Cause.NETWORK, f"TLS failed: {exc.reason or exc}")
        if isinstance(exc, OSError):
            return Failure(Cause.NETWORK, f"cannot connect: {exc.strerror or exc}")
        raise exc

    async def _serve(self, ws: ClientConnection) -> Failure:
        from websockets.exceptions import ConnectionClosed

        self._error = None
        try:
            failure = await self._configure(ws)
            if failure is not None:
                await ws.close(1000, "session rejected")
                return failure
            self._went_up()
            tasks = [asyncio.ensure_future(self._sender(ws)),
                     asyncio.ensure_future(self._renewer(ws))]
            try:
                while True:
                    event = await self._receive(ws)
                    if event is not None:
                        self._dispatch(event)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        except ConnectionClosed as exc:
            if self._ending is not None:
                return self._ending
            return self._closed(exc, self._recent_error_code(time.monotonic()))
        except TimeoutError:
            await ws.close(1000, "no session.updated")
            return Failure(Cause.NETWORK, "the server did not confirm the session within "
                           f"{self._config.link.open_timeout_s:g} s")

    async def _configure(self, ws: ClientConnection) -> Failure | None:
        """Send the session and wait for session.updated; a Failure if it was refused."""
        update = self._session_update()
        self._server_session, self._spoken = self._session, False
        self._updates.clear()
        assert self._dialect is not None
        await ws.send(encode_bytes(update, self._dialect), text=True)
        if self._on_sent is not None:
            self._on_sent(update, time.monotonic())
        async with asyncio.timeout(self._config.link.open_timeout_s):
            while True:
                event = await self._receive(ws)
                if event is None:
                    continue
                if isinstance(event, SessionUpdated):
                    self._dispatch(event)
                    return None
                if isinstance(event, ErrorEvent) and (
                        event.event_id == update.event_id
                        or (event.event_id is None and (event.param or "").startswith("session"))):
                    what = f"{event.code}: {event.message}" if event.code else event.message
                    return Failure(Cause.CONFIGURATION, "the server rejected the session "
                                   f"settings ({what[:200]})")
                self._dispatch(event)

    def _recent_error_code(self, now: float) -> str | None:
        if self._error is None:
            return None
        code, at = self._error
        return code if now - at <= ERROR_EXPLAINS_CLOSE_S else None

    def _closed(self, exc: ConnectionClosed, error_code: str | None) -> Failure:
        rcvd, sent = exc.rcvd, exc.sent
        if rcvd is None and sent is not None and sent.code == 1011 and "ping" in sent.reason:
            lc = self._config.link
            return Failure(Cause.NETWORK, "the server stopped answering pings (no pong within "
                           f"{lc.ping_timeout_s:g} s)")
        ours = sent is not None and (rcvd is None or exc.rcvd_then_sent is False)
        if ours and sent is not None and sent.code in _OUR_CLOSES:
            return Failure(Cause.NETWORK, f"edged closed the connection: {sent.code} "
                           f"({_OUR_CLOSES[sent.code].format(self._config.link)})")
        if rcvd is None:
            return classify_close(None, "", error_code)
        return classify_close(rcvd.code, rcvd.reason, error_code)

    async def _sender(self, ws: ClientConnection) -> None:
        from websockets.exceptions import ConnectionClosed

        outbox, wake, on_sent = self._outbox, self._outbox_wake, self._on_sent
        try:
            while True:
                while outbox:
                    data, event = outbox.popleft()
                    self._outbox_bytes -= len(data)
                    await ws.send(data, text=True)
                    if on_sent is not None:
                        self._call(on_sent, event, time.monotonic())
                wake.clear()
                await wake.wait()
        except ConnectionClosed:
            return  # the receive loop sees the same close and reports it
        except Exception as exc:  # never leave a link up that silently stopped sending
            log.error("realtime link: sending failed: %s: %s", type(exc).__name__, exc)
            ws.transport.abort()

    async def _renewer(self, ws: ClientConnection) -> None:
        while True:
            due = self._policy.renew_at()
            if due is None:
                return
            now = time.monotonic()
            if now < due:
                await asyncio.sleep(due - now)
            elif self._policy.renewal_due(now, self._is_idle()):
                if not await self._secret_ready():
                    lc = self._config.link  # ask again once per reset period, spread
                    await asyncio.sleep(lc.circuit_reset_s * (1 + 0.2 * self._policy.rng()))
                    continue
                if not self._is_idle():  # someone spoke while the secret was fetched
                    continue
                self._end_current(Failure(Cause.RENEWAL, "session renewal"))
                return
            else:
                await asyncio.sleep(IDLE_POLL_S)

    # ------------------------------------------------------------------ helpers

    def _stopping(self) -> bool:  # a method, so type checkers re-read it after awaits
        return self._closing

    def _session_update(self, fields: frozenset[str] | None = None) -> SessionUpdate:
        self._session_seq += 1
        return SessionUpdate(self._session, f"edged_session_{self._session_seq}", fields)

    def _track(self, event: ServerEvent) -> None:
        """Answers to our session updates, and whether the model has spoken yet."""
        if isinstance(event, AudioDelta):
            self._spoken = True
        elif isinstance(event, SessionUpdated) and self._updates:
            event_id = next(iter(self._updates))
            log.debug("realtime link: session update %s (%s) confirmed", event_id,
                      ", ".join(sorted(self._updates.pop(event_id)[0])))
        elif isinstance(event, ErrorEvent) and event.event_id in self._updates:
            fields, before = self._updates.pop(event.event_id)
            log.warning("realtime link: the server refused the session update of %s (%s); "
                        "the rest of the session is unchanged", ", ".join(sorted(fields)),
                        event.code or "error")
            if self._server_session is not None:  # it still has the old values: a later
                self._server_session = dataclasses.replace(  # change sends them again
                    self._server_session, **{f: getattr(before, f) for f in fields})

    async def _receive(self, ws: ClientConnection) -> ServerEvent | None:
        """The next event, its server text already made safe to show (see sanitize)."""
        assert self._decoder is not None
        event = self._decoder.decode(await ws.recv())
        if event is None:
            return None
        event = sanitize_event(event)
        if isinstance(event, ErrorEvent):
            self._error = (event.code, time.monotonic())  # may explain a close that follows
            log.warning("realtime server error %s: %s", event.code or event.type,
                        event.message[:200])
        return event

    def _dispatch(self, event: ServerEvent) -> None:
        self._track(event)
        self._call(self._on_event, event)

    @staticmethod
    def _call(handler: Callable[..., None], *args: object) -> None:
        try:
            handler(*args)
        except Exception as exc:  # a bug in a caller must not take the link down
            log.error("realtime link: %s failed on %s: %s: %s",
                      getattr(handler, "__name__", "handler"), type(args[0]).__name__,
                      type(exc).__name__, exc)

    def _end_current(self, why: Failure | None) -> None:
        """End the current connection or wait, from outside the loop."""
        self._wake.set()
        ws = self._ws
        if ws is not None and self._state is LinkState.UP:
            if self._ending is None:
                self._ending = why
            task = asyncio.ensure_future(ws.close(1000, "closing" if why is None else "renewing"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif self._attempt_task is not None and not self._attempt_task.done():
            self._attempt_task.cancel()

    def _went_up(self) -> None:
        now = time.monotonic()
        self._policy.up(now)
        self._connects += 1
        self._up_since = now
        self._outbox.clear()
        self._outbox_bytes = 0
        log.info("realtime link up (%s dialect, %s)%s", self._dialect, self._url,
                 f", reconnect {self._connects - 1}" if self._connects > 1 else "")
        self._set_state(LinkState.UP)

    def _went_down(self) -> None:
        if self._voice_task is not None:  # the next connection sends the new voice anyway
            self._voice_task.cancel()
            self._voice_task = None
        if self._up_since is not None:
            self._up_total += time.monotonic() - self._up_since
            self._up_since = None
        self._outbox.clear()
        self._outbox_bytes = 0
        if self._state is LinkState.UP:
            self._state = LinkState.CONNECTING  # not up for send(); reported with the plan

    def _set_state(self, state: LinkState, plan_at: float = 0.0) -> None:
        """Enter a state; tell the caller about each new state or new wait."""
        self._state = state
        key = (state, plan_at)
        if key == self._reported:
            return
        self._reported = key
        try:
            self._on_status(self.status)
        except Exception as exc:
            log.error("realtime link: status handler failed: %s: %s", type(exc).__name__, exc)
