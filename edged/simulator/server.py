"""The simulator's shell: a websockets server running one SessionCore per connection.

Each connection has one writer task that drains an ordered queue of outputs
(event batches, raw frames, and the fault actions close/abort/silence), so the
paced answer stream, replies to client events and injected faults can never
overtake each other.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from edged.simulator import protocol
from edged.simulator.audio import ANSWER_KINDS, AnswerKind, speech_like_tone
from edged.simulator.faults import Fault, FaultQueue, FaultSpecError
from edged.simulator.protocol import Dialect, Event
from edged.simulator.script import (
    McpApproval,
    McpCallSent,
    ScriptedResponse,
    ToolCall,
    ToolOutput,
)
from edged.simulator.session import Answer, SessionCore

MAX_MESSAGE = 16 * 2**20  # the API accepts appends up to 15 MiB
CLOSE_TIMEOUT = 2.0

# websockets logs handshake headers (Authorization included) at DEBUG: never let
# the simulator's server do that, whatever level a test or the demo sets.
_LOG = logging.getLogger("edged.simulator.server")
_LOG.setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class Handshake:
    """One handshake attempt as the server saw it (the key itself is never kept)."""

    time: float  # time.monotonic()
    status: int
    path: str
    dialect: Dialect
    auth: str | None  # "bearer", "api-key", "other" or None: which credential was presented
    fault: Fault | None


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class _RawText:
    """Bytes sent as a text frame without a UTF-8 check (the badutf8 fault)."""

    data: bytes


class _Abort:
    pass


class _Silence:
    pass


_Output = list[Event] | str | _RawText | _Close | _Abort | _Silence
# Faults whose one odd frame follows the first session.updated.
_AFTER_UPDATE = frozenset({"quotekey", "surrogate", "bigframe", "badutf8"})


@dataclass(eq=False)
class _Conn:
    number: int
    ws: ServerConnection
    core: SessionCore
    fault: Fault | None
    out: asyncio.Queue[_Output] = field(default_factory=asyncio.Queue)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    pumping: Answer | None = None
    ending: bool = False  # a close, drop or silence is queued: produce nothing more
    silent: bool = False
    dropped: bool = False
    key: str | None = field(default=None, repr=False)  # held only for the quotekey fault
    error_due: bool = False  # the odd frame of a fault in _AFTER_UPDATE is scheduled
    seen: int = 0  # client events of the type the reject fault refuses

    def put(self, item: _Output) -> None:
        if not self.ending:
            self.out.put_nowait(item)
            if isinstance(item, _Close | _Abort | _Silence):
                self.ending = True

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def cancel_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()


def auth_kind(headers: Headers) -> str | None:
    value = headers.get("Authorization")
    if value is not None:
        return "bearer" if value.lower().startswith("bearer ") else "other"
    return "api-key" if headers.get("api-key") is not None else None


def presented_key(headers: Headers) -> str | None:
    value = headers.get("Authorization")
    if value is not None and value.lower().startswith("bearer "):
        return value[7:].strip()
    return headers.get("api-key")


def all_loopback(addresses: Iterable[str]) -> bool:
    """True when every address (of a resolved bind host) is a loopback address."""
    found = False
    for address in addresses:
        found = True
        try:
            if not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
                return False
        except ValueError:
            return False
    return found


def _parse(message: str | bytes) -> dict[str, Any] | str:
    """A client event, or why the frame is not one."""
    if isinstance(message, bytes):
        return "binary frames are not part of the protocol"
    try:
        event = json.loads(message)
    except ValueError:
        return "invalid JSON"
    return event if isinstance(event, dict) else "an event must be a JSON object"


def redact_query(path: str) -> str:
    """The request path for a log line, with any key-like query value hidden."""
    url = urlsplit(path)
    if not url.query:
        return path
    pairs = [(k, "<redacted>" if any(w in k.lower() for w in ("key", "token", "secret")) else v)
             for k, v in parse_qsl(url.query, keep_blank_values=True)]
    return url._replace(query=urlencode(pairs, safe="<>")).geturl()


class Simulator:
    """A loopback realtime server with scriptable faults.

    Records, in arrival order: ``events`` (connection number, client event),
    ``sent`` (connection number, each frame it sent: text, or bytes for a frame
    that is not UTF-8), ``handshakes`` (monotonic time, HTTP status) and
    ``requests`` (the same with path, dialect, credential kind and fault),
    ``connections`` (accepted so far; connection numbers count from 1), and
    ``answers`` with the audio sent, ``tool_calls`` (each function call sent) and
    ``tool_outputs`` (each function_call_output received, known or not), ``mcp_calls``
    (each MCP call made) and ``mcp_approvals`` (each mcp_approval_response received).
    ``mcp_tools`` says what each MCP server lists, by label (None: the listing fails;
    see SessionCore). ``pace`` is
    the streaming speed as a multiple of real time (``math.inf``: unpaced);
    ``record=False`` keeps no client events and no sent frames (long benchmark runs;
    the small tool records are kept).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, answer: AnswerKind = "echo",
                 pace: float = 1.0, ssl_context: ssl.SSLContext | None = None, *,
                 chunk_ms: int = 100, require_key: str | None = None,
                 model: str = "gpt-realtime", record: bool = True, allow_remote: bool = False,
                 tone_s: float = 1.5, log: Callable[[str], None] | None = None,
                 mcp_tools: dict[str, tuple[str, ...] | None] | None = None) -> None:
        if answer not in ANSWER_KINDS:
            raise ValueError(f"answer must be one of {', '.join(ANSWER_KINDS)}, got {answer!r}")
        if not (pace > 0):
            raise ValueError(f"pace must be a positive number (or inf), got {pace!r}")
        if not 10 <= chunk_ms <= 1000:
            raise ValueError(f"chunk_ms must be 10–1000, got {chunk_ms}")
        if not 0.1 <= tone_s <= 600:
            raise ValueError(f"tone_s must be 0.1–600 s, got {tone_s}")
        self.host, self.port, self.answer, self.pace = host, port, answer, pace
        self.ssl_context, self.chunk_ms, self.model = ssl_context, chunk_ms, model
        self.require_key, self.record, self.allow_remote = require_key, record, allow_remote
        self._log = log
        self._tone = speech_like_tone(tone_s)
        self._faults = FaultQueue()
        self._pending: dict[ServerConnection, Fault | None] = {}
        self._server: Server | None = None
        self._live: dict[int, _Conn] = {}
        self._cores: dict[int, SessionCore] = {}
        self._changed = asyncio.Event()
        self.url = ""
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.sent: list[tuple[int, str | bytes]] = []
        self.handshakes: list[tuple[float, int]] = []
        self.requests: list[Handshake] = []
        self.connections = 0
        self._scripts: deque[ScriptedResponse] = deque()
        self.tool_calls: list[ToolCall] = []
        self.tool_outputs: list[ToolOutput] = []
        self.mcp_tools: dict[str, tuple[str, ...] | None] = dict(mcp_tools or {})
        self.mcp_calls: list[McpCallSent] = []
        self.mcp_approvals: list[McpApproval] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._server is not None:
            return
        if not self.allow_remote:
            await self._check_loopback()
        self._server = await serve(
            self._handler, self.host, self.port, ssl=self.ssl_context, compression=None,
            process_request=self._process_request, process_response=self._process_response,
            ping_interval=None, close_timeout=CLOSE_TIMEOUT, max_size=MAX_MESSAGE,
            server_header="edged-simulator", logger=_LOG,
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
        host = sockname[0]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'wss' if self.ssl_context else 'ws'}://{shown}:{self.port}"

    async def _check_loopback(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise ValueError(f"cannot resolve {self.host!r}: {exc.strerror or exc}") from None
        if not self.host or not all_loopback(str(info[4][0]) for info in infos):
            raise ValueError(f"refusing to listen on {self.host or 'all interfaces'!r}: not a "
                             "loopback address (the simulator has no authentication worth the "
                             "name; pass allow_remote / --allow-remote to do it anyway)")

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for conn in list(self._live.values()):
            conn.cancel_tasks()
            if conn.silent:
                conn.ws.transport.abort()
        server.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT + 3):
                await server.wait_closed()
        except TimeoutError:
            for conn in list(self._live.values()):
                conn.ws.transport.abort()
            await server.wait_closed()
        self._notify()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ scripting

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` handshake attempts (after those queued).

        A call or mcp fault is not a connection's: it scripts the next ``times`` responses."""
        if fault.kind not in ("call", "mcp", "mcpask"):
            self._faults.push(fault, times)
            return
        if times < 1:
            raise FaultSpecError(f"times must be at least 1, got {times}")
        self.script(*[fault.scripted()] * times)

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue scripted responses (after those queued): the next responses created, on
        any connection, by response.create or by server VAD, each take one in order."""
        for response in responses:
            if not isinstance(response, ScriptedResponse):
                raise TypeError(f"script takes ScriptedResponse values, got {response!r}")
        self._scripts.extend(responses)

    def pending_scripts(self) -> list[ScriptedResponse]:
        return list(self._scripts)

    def clear_scripts(self) -> None:
        self._scripts.clear()

    def pending_faults(self) -> list[tuple[Fault, int]]:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    async def drop_all(self) -> None:
        """Abort every open connection at the TCP level: no close frame."""
        for conn in list(self._live.values()):
            conn.ending = conn.dropped = True
            conn.ws.transport.abort()
        await self.wait_until(lambda: not self._live, 5.0, "dropped connections to end")

    @property
    def live_connections(self) -> list[int]:
        return sorted(self._live)

    @property
    def answers(self) -> list[Answer]:
        """Every answer started, by connection then order; ``.sent_audio`` is what went out."""
        return [a for n in sorted(self._cores) for a in self._cores[n].answers]

    def answer_audio(self, connection: int) -> list[bytes]:
        """The PCM each answer on ``connection`` actually streamed, in order."""
        core = self._cores.get(connection)
        return [a.sent_audio for a in core.answers] if core else []

    def session(self, connection: int) -> dict[str, Any] | None:
        """The effective session of a connection (as last sent in session.updated)."""
        core = self._cores.get(connection)
        return core.session if core else None

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, predicate: Callable[[], object], timeout: float = 10.0,
                         what: str = "condition") -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"simulator: no {what} within {timeout:g} s") from None

    async def wait_for_event(self, type: str, timeout: float = 10.0, *,
                             connection: int | None = None, start: int = 0) -> dict[str, Any]:
        """The first client event of ``type`` at index ≥ ``start`` of ``events``."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            for n, event in self.events[start:]:
                if event.get("type") == type and connection in (None, n):
                    found.append(event)
                    return True
            return False

        where = "" if connection is None else f" on connection {connection}"
        await self.wait_until(seen, timeout, f"client event {type!r}{where}")
        return found[0]

    async def wait_for_tool_outputs(self, count: int, timeout: float = 10.0) -> list[ToolOutput]:
        """Wait until ``count`` function_call_outputs have arrived in all; return them all."""
        await self.wait_until(lambda: len(self.tool_outputs) >= count, timeout,
                              f"{count} function call output(s)")
        return list(self.tool_outputs)

    async def wait_for_mcp_approvals(self, count: int,
                                     timeout: float = 10.0) -> list[McpApproval]:
        """Wait until ``count`` mcp_approval_responses have arrived in all; return them all."""
        await self.wait_until(lambda: len(self.mcp_approvals) >= count, timeout,
                              f"{count} MCP approval answer(s)")
        return list(self.mcp_approvals)

    async def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self.connections >= count, timeout,
                              f"{count} accepted connection(s)")

    async def wait_for_handshakes(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: len(self.handshakes) >= count, timeout,
                              f"{count} handshake attempt(s)")

    # ------------------------------------------------------------------ handshake

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        fault = self._faults.take()
        self._pending[connection] = fault
        if fault is not None and fault.kind == "refuse":
            response = connection.respond(fault.status, f"simulated refusal: {fault.status}\n")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        if self.require_key is not None:
            key = presented_key(request.headers)
            if key is None or not hmac.compare_digest(key.encode(), self.require_key.encode()):
                return connection.respond(401, "invalid or missing API key\n")
        return None

    def _process_response(self, connection: ServerConnection, request: Request,
                          response: Response) -> None:
        status = response.status_code
        fault = self._pending.get(connection) if status == 101 else \
            self._pending.pop(connection, None)
        now = time.monotonic()
        dialect = protocol.detect_dialect(request.path, request.headers)
        self.handshakes.append((now, status))
        self.requests.append(Handshake(now, status, redact_query(request.path), dialect,
                                       auth_kind(request.headers), fault))
        self._say(f"handshake {redact_query(request.path)} → {status} ({dialect}"
                  f"{', fault ' + fault.describe() if fault else ''})")
        self._notify()

    # ------------------------------------------------------------------ connection

    async def _handler(self, ws: ServerConnection) -> None:
        fault = self._pending.pop(ws, None)
        request = ws.request
        assert request is not None
        self.connections += 1
        number = self.connections
        core = SessionCore(protocol.detect_dialect(request.path, request.headers), self.answer,
                           tone=self._tone, connection=number, chunk_ms=self.chunk_ms,
                           model=protocol.model_from_path(request.path, self.model),
                           scripts=self._scripts, tool_calls=self.tool_calls,
                           tool_outputs=self.tool_outputs, mcp_tools=self.mcp_tools,
                           mcp_calls=self.mcp_calls, mcp_approvals=self.mcp_approvals)
        conn = _Conn(number, ws, core, fault)
        if fault is not None and fault.kind == "quotekey":
            conn.key = presented_key(request.headers)
        self._cores[number] = core
        self._live[number] = conn
        self._notify()
        conn.spawn(self._writer(conn))
        try:
            conn.put(core.open())
            self._start_fault(conn)
            async for message in ws:
                if conn.silent:
                    break
                self._on_message(conn, message)
            if conn.silent:  # reading is paused: only stop() or drop_all() ends it
                await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            conn.cancel_tasks()
            del self._live[number]
            if conn.silent or conn.dropped:
                ws.transport.abort()
            self._say(f"connection {number} ended")
            self._notify()

    def _start_fault(self, conn: _Conn) -> None:
        fault = conn.fault
        if fault is None:
            return
        if fault.kind == "close":
            conn.spawn(self._later(fault.after_s or 0.0, conn, lambda: [
                _Close(fault.code, "simulated close")]))
        elif fault.kind == "expired" and fault.point is None:
            conn.spawn(self._later(fault.after_s or 0.0, conn, lambda: self._expiry(conn)))
        elif fault.kind == "errorthenclose":
            conn.put([conn.core.coded_error(fault.error_code)])
            conn.spawn(self._later(fault.after_s or 0.0, conn, lambda: [
                _Close(1001, "going away")]))
        elif fault.kind == "silent" and fault.after_s is not None:
            conn.spawn(self._later(fault.after_s, conn, lambda: [_Silence()]))
        elif fault.kind == "malformed":
            conn.put('{"type": "session.updated", "session": {')
            conn.put("[1, 2, 3]")
            conn.put([{"type": "simulator.unknown_event", "event_id": "event_sim_unknown",
                       "note": "an event type no client knows"}])

    @staticmethod
    def _odd_frame(conn: _Conn) -> str | _RawText:
        """The frame of a fault in _AFTER_UPDATE. ``ensure_ascii`` writes the surrogate
        fault's lone surrogate as the escape ``\\ud800``: valid JSON, which a client
        decodes into a string that UTF-8 cannot encode."""
        fault = conn.fault
        assert fault is not None
        if fault.kind == "bigframe":
            return conn.core.padded_event(round(fault.mib * 2**20))
        if fault.kind == "badutf8":
            return _RawText(conn.core.bad_utf8_frame())
        if fault.kind == "quotekey":
            event = conn.core.key_quoting_error(conn.key)
        else:
            event = conn.core.surrogate_error()
        return json.dumps(event, ensure_ascii=True, separators=(",", ":"))

    @staticmethod
    def _expiry(conn: _Conn) -> list[_Output]:
        return [[conn.core.expired_error()], _Close(1001, "session expired")]

    @staticmethod
    def _expires_at(conn: _Conn, point: str) -> bool:
        fault = conn.fault
        return fault is not None and fault.kind == "expired" and fault.point == point

    @staticmethod
    def _refused(conn: _Conn, event: dict[str, Any]) -> Event | None:
        """The reject fault's error if it refuses this client event, else None."""
        fault = conn.fault
        if fault is None or fault.kind != "reject" or event.get("type") != fault.event:
            return None
        conn.seen += 1
        if fault.nth and conn.seen != fault.nth:
            return None
        event_id = event.get("event_id") if fault.echo else None
        return conn.core.coded_error(fault.error_code,
                                     event_id if isinstance(event_id, str) else None)

    def _answer(self, conn: _Conn, event: dict[str, Any]) -> list[Event]:
        """The session's reply to one client event, unless a fault answers instead."""
        core = conn.core
        if self._expires_at(conn, "create") and event.get("type") == "response.create":
            for item in self._expiry(conn):  # the response.create is never acted on
                conn.put(item)
            return []
        refusal = self._refused(conn, event)
        if refusal is not None:
            return [refusal]
        try:
            return core.receive(event)
        except Exception:  # a simulator bug must not look like a network fault
            _LOG.exception("simulator: event %r failed", event.get("type"))
            return [core.error("server_error", "The simulator failed on this event.",
                               type_="server_error")]

    async def _later(self, delay: float, conn: _Conn,
                     outputs: Callable[[], list[_Output]]) -> None:
        await asyncio.sleep(delay)
        for item in outputs():
            conn.put(item)

    def _on_message(self, conn: _Conn, message: str | bytes) -> None:
        core = conn.core
        event = _parse(message)
        if isinstance(event, str):
            events = core.not_json(event)
        else:
            if self.record:
                self.events.append((conn.number, event))
            if self._log is not None and event.get("type") != "input_audio_buffer.append":
                self._say(f"connection {conn.number}: {event.get('type')}")
            events = self._answer(conn, event)
        conn.put(events)
        updated = any(e["type"] == "session.updated" for e in events)
        fault = conn.fault
        if fault is not None and fault.kind == "silent" and fault.after_s is None and updated:
            conn.put(_Silence())
        if fault is not None and fault.kind in _AFTER_UPDATE and not conn.error_due and updated:
            conn.error_due = True
            conn.spawn(self._later(fault.after_s or 0.0, conn, lambda: [
                self._odd_frame(conn)]))
        if self._expires_at(conn, "created") and any(
                e["type"] == "response.created" for e in events):
            for item in self._expiry(conn):
                conn.put(item)
        answer = core.response
        if answer is not None and conn.pumping is not answer and not conn.ending:
            conn.pumping = answer
            conn.spawn(self._pump(conn, answer))
        self._notify()

    async def _pump(self, conn: _Conn, answer: Answer) -> None:
        """Stream ``answer`` in chunks at ``pace`` × real time until done or cancelled."""
        core, fault = conn.core, conn.fault
        if fault is not None and fault.kind == "delay" and fault.seconds > 0:
            await asyncio.sleep(fault.seconds)
        if core.response is not answer or conn.ending:
            return
        if fault is not None and fault.kind in ("failed", "incomplete") and (
                fault.after_chunks == 0):
            self._cut(conn)
            return
        conn.put(core.begin_output())
        if fault is not None and fault.kind == "malformed" and fault.bad_audio:
            bad = core.bad_audio_delta()
            if bad is not None:
                conn.put([bad])
        loop = asyncio.get_running_loop()
        period = 0.0 if math.isinf(self.pace) else self.chunk_ms / 1000 / self.pace
        started, sent = loop.time(), 0
        while core.response is answer and not conn.ending:
            if core.awaiting_approval():  # until the client answers (or a cancel, a drop)
                await self._changed.wait()
                started = loop.time() - sent * period  # the pace goes on from here
                continue
            if answer.holding and core.chunks_left() == 0 and answer.script is not None:
                # the calls are out; response.done waits (a cancel or drop may come first)
                await asyncio.sleep(answer.script.hold_s)
                answer.held = True
                continue
            if fault is not None and fault.kind in ("drop", "failed", "incomplete") and (
                    sent >= fault.after_chunks or core.chunks_left() <= 1):
                self._cut(conn)
                return
            events, done = core.step()
            conn.put(events)
            sent += 1
            self._notify()
            if (sent == 1 and self._expires_at(conn, "audio")) or (
                    done and self._expires_at(conn, "done")):
                for item in self._expiry(conn):
                    conn.put(item)
                return
            if done:
                return
            await asyncio.sleep(max(0.0, started + sent * period - loop.time()))

    def _cut(self, conn: _Conn) -> None:
        """End the answer part-way as the drop, failed or incomplete fault says."""
        fault = conn.fault
        assert fault is not None
        if fault.kind == "drop":
            conn.dropped = True
            conn.put(_Abort())
        elif fault.kind == "failed":
            conn.put(conn.core.fail(fault.error_code))
        else:
            conn.put(conn.core.cut_off(fault.reason or "max_output_tokens"))
        self._notify()

    async def _writer(self, conn: _Conn) -> None:
        ws = conn.ws
        try:
            while True:
                item = await conn.out.get()
                if isinstance(item, list):
                    for event in item:
                        await self._send(conn, json.dumps(event, separators=(",", ":")))
                elif isinstance(item, str):
                    await self._send(conn, item)
                elif isinstance(item, _RawText):
                    await self._send(conn, item.data)
                elif isinstance(item, _Close):
                    await ws.close(item.code, item.reason)
                    return
                elif isinstance(item, _Abort):
                    ws.transport.abort()
                    return
                else:
                    conn.silent = True
                    ws.transport.pause_reading()
                    self._say(f"connection {conn.number}: silent")
                    return
        except ConnectionClosed:
            return

    async def _send(self, conn: _Conn, frame: str | bytes) -> None:
        """One text frame (bytes go out as they are, unchecked), then recorded."""
        await conn.ws.send(frame, text=True)
        if self.record:
            self.sent.append((conn.number, frame))

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)
