"""The control socket: a Unix-socket server on the daemon's event loop.

A thin shell around :mod:`edged.control.protocol` (the wire format),
:mod:`edged.control.plan` (what a command means) and :mod:`edged.control.access`
(who may connect). Its promises are about the daemon, not the clients: no client
can block the loop (every write has a bound, subscribers get a bounded
:class:`~edged.control.outbox.Outbox`), no line is read past
``control.max_line_bytes``, connections are capped at ``control.max_clients``,
and a client that vanishes while holding push-to-talk releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from edged.config import ControlConfig
from edged.control import protocol as p
from edged.control.access import (
    GroupError,
    Peer,
    Policy,
    decide,
    group_name,
    member_groups,
    peer_of,
    resolve_group,
)
from edged.control.outbox import Outbox
from edged.control.plan import PttHold, after_event, after_press, on_disconnect, plan, refusal
from edged.conversation import Event, Settings
from edged.health.metrics import Metrics, evaluate
from edged.health.reporter import HealthReporter

if TYPE_CHECKING:  # the tools' code loads only in a daemon that runs them
    from edged.tools.timers import Now, Timer

log = logging.getLogger("edged.control")

SOCKET_MODE = 0o660
BACKLOG = 128
"""Connections the kernel queues while the daemon is busy (clients wait, not the daemon)."""
CLOSE_WAIT_S = 0.5
"""At shutdown, how long clients get to finish before their connections are cut: a
subscriber that never reads must not hold up a stop that systemd times."""
WRITE_TIMEOUT_S = 10.0
"""A reply the client does not take within this long closes its connection."""
REFUSAL_LOG_EVERY_S = 60.0
"""Refused connections are logged at most this often (a local flood must not fill
the journal); the count of the ones not logged goes with the next record."""


class ControlUnavailable(Exception):
    """The socket cannot be set up; the message says why, for the journal."""


class RingingView(Protocol):
    @property
    def labels(self) -> Sequence[str]: ...


class StateView(Protocol):
    @property
    def ringing(self) -> RingingView | None: ...


class ConversationView(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def phase(self) -> str: ...

    @property
    def state(self) -> StateView: ...


class TimersView(Protocol):
    """What the server uses of :class:`edged.tools.timer_service.TimerService`."""

    def listing(self) -> list[tuple[Timer, float | None]]: ...

    def cancel(self, what: str) -> list[Timer]: ...

    def set_timer(self, seconds: float, label: str | None = None) -> Timer: ...

    def now(self) -> Now: ...


class ToolsSettings(Protocol):
    @property
    def volume_step(self) -> int: ...


class ToolsView(Protocol):
    """What the server uses of the daemon's tools (:class:`edged.daemon.tools.ToolShell`)."""

    @property
    def timers(self) -> TimersView: ...

    @property
    def config(self) -> ToolsSettings: ...

    def volume(self) -> int: ...

    def set_volume(self, level: int) -> int: ...


class ReloadOutcome(Protocol):
    """What a reload did (:class:`edged.daemon.ReloadResult`)."""

    @property
    def applied(self) -> bool: ...

    @property
    def changed(self) -> tuple[str, ...]: ...

    @property
    def problems(self) -> tuple[str, ...]: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...

    @property
    def coalesced(self) -> int: ...


class DaemonPort(Protocol):
    """What the server uses of :class:`edged.daemon.Daemon`."""

    listeners: list[Callable[[str, dict[str, Any]], None]]

    @property
    def conversation(self) -> ConversationView: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def reporter(self) -> HealthReporter: ...

    @property
    def tools(self) -> ToolsView | None:
        """None until the daemon has started them."""
        ...

    def button(self, event: Event) -> None: ...

    async def settled(self) -> None:
        """Until the button events fed so far are handled (a release waits for the
        microphone's period in flight, and what came meanwhile waits behind it)."""
        ...

    async def reload(self) -> ReloadOutcome: ...

    def wake_word_status(self) -> dict[str, Any]:
        """``{"enabled": false, ...}`` when off; see the daemon's wake word shell."""
        ...


@dataclass(eq=False)
class Client:
    id: int
    writer: asyncio.StreamWriter
    outbox: Outbox | None = None  # set once subscribed
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class ControlServer:
    """``await start()`` … ``await close()``; see the module docstring."""

    def __init__(self, config: ControlConfig, daemon: DaemonPort, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._daemon = daemon
        self._clock = clock
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._inode: tuple[int, int] | None = None
        self._policy: Policy | None = None
        self._ids = itertools.count(1)
        self.clients: dict[int, Client] = {}
        self._handlers: set[asyncio.Task[Any]] = set()
        self._reloads: set[asyncio.Task[ReloadOutcome]] = set()
        self._hold = PttHold()
        self._capture: list[tuple[str, dict[str, Any]]] | None = None
        self._refused_unlogged = 0
        self._shown_phase = "idle"
        self._last_refusal_log = -REFUSAL_LOG_EVERY_S

    @property
    def path(self) -> str:
        return self.config.socket

    @property
    def subscribers(self) -> list[Client]:
        return [c for c in self.clients.values() if c.outbox is not None]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        try:
            gid = resolve_group(self.config.group)
        except GroupError as exc:
            raise ControlUnavailable(str(exc)) from None
        self._policy = Policy(gid=gid, owner_uid=os.geteuid())
        self._listener = _bind(self.path, gid)
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self._shown_phase = self._phase()
        self._daemon.listeners.append(self._on_event)
        self._acceptor = asyncio.create_task(self._accept_loop(), name="control-accept")
        log.info("control socket %s (mode %o, group %s)", self.path, SOCKET_MODE,
                 group_name(gid), extra={"fields": {"kind": "control", "control": "listening"}})

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._daemon.listeners.remove(self._on_event)
        if self._acceptor is not None:
            self._acceptor.cancel()
            await asyncio.gather(self._acceptor, return_exceptions=True)
            self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for client in list(self.clients.values()):
            client.writer.close()  # their handlers see end-of-file and finish
        if self._handlers:
            _, late = await asyncio.wait(set(self._handlers), timeout=CLOSE_WAIT_S)
            for client in list(self.clients.values()):  # a reader that never reads: cut it
                client.writer.transport.abort()
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._unlink()

    def _unlink(self) -> None:
        """Remove our socket file, and only ours (not one a newer daemon made)."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return
        if self._inode is None or (st.st_dev, st.st_ino) == self._inode:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._inode = None

    # ------------------------------------------------------------------ connections

    async def _accept_loop(self) -> None:
        """Accept one connection at a time, and only as many as ``max_clients`` at once:
        a flood waits in the kernel's queue, not in the daemon's memory, and whoever is
        refused is refused before any stream, buffer or task exists for them."""
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            try:
                conn, _ = await loop.sock_accept(self._listener)
            except OSError as exc:  # out of file descriptors, for one: wait, never spin
                log.warning("control socket: accept failed: %s", exc.strerror or exc)
                await asyncio.sleep(0.5)
                continue
            try:
                if self._admit(conn):
                    task = asyncio.create_task(self._serve(conn))
                    self._handlers.add(task)
                    task.add_done_callback(self._handlers.discard)
            except Exception:  # a bug here must cost one connection, never the daemon
                log.exception("control connection failed")
                conn.close()

    def _admit(self, conn: socket.socket) -> bool:
        """Let ``conn`` in, or answer it with an error and close it."""
        if len(self._handlers) >= self.config.max_clients:
            _refuse(conn, p.error(p.TOO_MANY_CLIENTS, "too many connections "
                                  f"(control.max_clients is {self.config.max_clients})"))
            return False
        try:
            peer = peer_of(conn)
        except OSError:
            conn.close()
            return False
        assert self._policy is not None
        policy = self._policy
        quick = peer.uid in (0, policy.owner_uid) or peer.gid == policy.gid
        reason = decide(peer, policy, () if quick else member_groups(peer.uid))
        if reason is None:
            return True
        self._log_refusal(peer, reason)
        _refuse(conn, p.error(p.PERMISSION_DENIED, reason))
        return False

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(
                sock=conn, limit=self.config.max_line_bytes)
        except OSError:
            conn.close()
            return
        client = Client(next(self._ids), writer)
        self.clients[client.id] = client
        try:
            await self._converse(client, reader)
        except (ConnectionError, OSError):
            pass  # the client went away mid-write: nothing to tell anyone
        except Exception:  # a bug here must cost one connection, never the daemon
            log.exception("control connection failed")
        finally:
            self._forget(client)
            writer.close()

    def _log_refusal(self, peer: Peer, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_refusal_log < REFUSAL_LOG_EVERY_S:
            self._refused_unlogged += 1
            return
        more = (f" ({self._refused_unlogged} more refused since the last record)"
                if self._refused_unlogged else "")
        self._last_refusal_log, self._refused_unlogged = now, 0
        log.warning("control connection refused: pid %d: %s%s", peer.pid, reason, more,
                    extra={"fields": {"kind": "control", "control": "refused",
                                      "peer_uid": peer.uid, "peer_pid": peer.pid}})

    async def _converse(self, client: Client, reader: asyncio.StreamReader) -> None:
        limit = self.config.max_line_bytes
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # the line outgrew the limit: stop reading it at once
                await self._send(client, p.error(p.LINE_TOO_LONG, f"line longer than {limit} "
                                                 "bytes; closing the connection"))
                return
            if not line:
                return
            request = p.parse_request(line, limit)
            if isinstance(request, p.Invalid):
                reply = request.reply()
            elif request.cmd == "reload":
                reply = await self._reload(request)
            else:
                reply = await self.execute(client, request)
            if not await self._send(client, reply):
                return
            if client.outbox is not None:
                await self._stream(client, reader)
                return

    async def _send(self, client: Client, message: dict[str, Any]) -> bool:
        """Write one reply; False (and the connection is done) if it cannot be delivered."""
        try:
            client.writer.write(p.encode(message))
            await asyncio.wait_for(client.writer.drain(), WRITE_TIMEOUT_S)
        except (TimeoutError, ConnectionError, OSError):
            return False
        return True

    def _forget(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is None:
            return
        self._hold, events = on_disconnect(self._hold, client.id, self._phase())
        for ev in events:
            log.info("push-to-talk released: its control client disconnected",
                     extra={"fields": {"kind": "control", "control": "ptt_released"}})
            self._feed(ev)

    # ------------------------------------------------------------------ subscribers

    async def _stream(self, client: Client, reader: asyncio.StreamReader) -> None:
        """Send events until the client leaves; what it sends now is read and dropped."""
        pump = asyncio.create_task(self._pump(client))
        drain = asyncio.create_task(_discard(reader))
        try:
            await asyncio.wait({pump, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            drain.cancel()
            await asyncio.gather(pump, drain, return_exceptions=True)

    async def _pump(self, client: Client) -> None:
        outbox = client.outbox
        assert outbox is not None
        while True:
            data = outbox.take()
            if data:
                client.writer.write(data)
                await client.writer.drain()  # meanwhile, lines wait (bounded) in the outbox
                continue
            client.wake.clear()
            await client.wake.wait()

    def _on_event(self, kind: str, fields: dict[str, Any]) -> None:
        """A daemon listener: every structured event, on the loop thread. Never blocks."""
        if self._capture is not None:
            self._capture.append((kind, fields))
        self._hold = after_event(self._hold, kind, fields)
        # The daemon hands over a step's notices after the machine has moved on: follow
        # the transitions themselves, so each event shows the phase it happened in.
        phase = self._shown_phase = p.phase_after(kind, fields, self._shown_phase)
        subscribers = self.subscribers
        if not subscribers:
            return
        line = p.encode(p.event(kind, phase, self._clock(), fields))
        for client in subscribers:
            assert client.outbox is not None
            if client.outbox.offer(line):
                client.wake.set()

    def _marker(self, count: int) -> bytes:
        return p.encode(p.dropped_event(count, self._shown_phase, self._clock()))

    # ------------------------------------------------------------------ commands

    def _phase(self) -> str:
        return str(self._daemon.conversation.phase)

    def _feed(self, event: Event) -> None:
        try:
            self._daemon.button(event)
        except Exception:
            log.exception("control: the daemon failed to handle %s", type(event).__name__)

    async def execute(self, client: Client, request: p.Request) -> dict[str, Any]:
        """Carry out one command on the loop thread; return its reply once the daemon
        has handled it (a release waits for the microphone's period in flight)."""
        before = self._phase()
        if request.cmd == "status":
            return p.ok(request, phase=before, **self._status())
        if request.cmd == "subscribe":
            client.outbox = Outbox(self.config.subscriber_queue, self._marker)
            state = p.event("state", before, self._clock(), {"link": self._daemon.metrics.link})
            client.outbox.offer(p.encode(state))
            return p.ok(request, phase=before)
        if request.cmd in TOOL_COMMANDS:
            return self._tool_command(request, before)
        steps = plan(request.cmd, before, text=request.text,
                     min_press_ms=self._daemon.conversation.settings.min_press_ms)
        notices: list[tuple[str, dict[str, Any]]] = []
        self._capture = notices
        try:
            for ev in steps.events:
                self._daemon.button(ev)
            if steps.events:
                await self._daemon.settled()
        except Exception:
            log.exception("control: the daemon failed to handle %s", request.cmd)
            return p.error(p.INTERNAL, "the daemon could not handle it; see journalctl -u "
                           "edged", request=request)
        finally:
            self._capture = None
        after = self._phase()
        if request.cmd == "ptt.press":
            self._hold = after_press(self._hold, client.id, request.keep, before, after)
        reason = refusal(request.cmd, notices)
        if reason is not None:
            return p.error(p.REFUSED, reason, request=request, phase=after)
        return p.ok(request, phase=after, **({} if steps.changed else {"changed": False}))

    async def _reload(self, request: p.Request) -> dict[str, Any]:
        """Reload as SIGHUP does, and say what came of it (``systemctl reload`` cannot).

        The reload runs as a task of its own: a client that leaves, or a reload that
        replaces this very socket, never cuts it off half-way.
        """
        task = asyncio.ensure_future(self._daemon.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
        try:
            result = await asyncio.shield(task)
        except Exception:
            log.exception("control: reload failed")
            return p.error(p.INTERNAL, "the reload failed; see journalctl -u edged",
                           request=request)
        if result.applied:
            return p.ok(request, phase=self._phase(), applied=True,
                        changed=list(result.changed), coalesced=result.coalesced,
                        warnings=list(result.warnings))
        return p.error(p.REFUSED, "; ".join(result.problems) or "refused",
                       request=request, problems=list(result.problems))

    def _status(self) -> dict[str, Any]:
        reporter = self._daemon.reporter
        snapshot = self._daemon.metrics.snapshot(time.monotonic(), reporter.last_sample)
        evaluation = evaluate(snapshot, reporter.config)
        return {"health": snapshot, "priority": evaluation.priority,
                "reasons": list(evaluation.reasons), "pid": os.getpid(),
                **self._tools_status(), "wake_word": self._daemon.wake_word_status()}

    def _tools_status(self) -> dict[str, Any]:
        """The volume and the soonest timer; both null without tools (or if they fail:
        the health figures must still come through)."""
        tools = self._daemon.tools
        if tools is None:
            return {"volume": None, "next_timer": None}
        try:
            service = tools.timers
            rows = service.listing()
            next_timer = timer_row(*rows[0], service.now()) if rows else None
            return {"volume": tools.volume(), "next_timer": next_timer}
        except Exception:
            log.exception("control: status could not read the tools")
            return {"volume": None, "next_timer": None}

    # ------------------------------------------------------------------ tools

    def _tool_command(self, request: p.Request, phase: str) -> dict[str, Any]:
        """``volume`` and the ``timers`` commands: straight to the tools, not the machine."""
        tools = self._daemon.tools
        if tools is None:
            return p.error(p.REFUSED, "tools are not running", request=request, phase=phase)
        from edged.tools.registry import ToolError

        try:
            fields = _TOOL_HANDLERS[request.cmd](tools, request)
        except ToolError as exc:  # a plain sentence: too many timers, none matches...
            return p.error(p.REFUSED, str(exc), request=request, phase=phase)
        except Exception:
            log.exception("control: the tools failed to handle %s", request.cmd)
            return p.error(p.INTERNAL, "the daemon could not handle it; see journalctl -u "
                           "edged", request=request)
        if request.cmd == "timers":
            ringing = self._daemon.conversation.state.ringing
            fields["ringing"] = list(ringing.labels) if ringing is not None else []
        return p.ok(request, phase=phase, **fields)


TOOL_COMMANDS = frozenset({"volume", "timers", "timers.cancel", "timers.set"})


def timer_row(t: Timer, left: float | None, now: Now) -> dict[str, Any]:
    """A timer as replies show it: ``remaining_s`` whole seconds (null: it waits for the
    clock to be set), ``rings_at`` local ``HH:MM`` (null while the clock is not set)."""
    from edged.tools.clock import hhmm

    return {"id": t.id, "kind": t.kind, "label": t.label,
            "remaining_s": None if left is None else max(0, round(left)),
            "rings_at": hhmm(now.wall + left) if left is not None and now.synced else None}


def _volume(tools: ToolsView, request: p.Request) -> dict[str, Any]:
    """Read it, or set it (``level``) or move it (``change``, clamped to 0–100)."""
    before = tools.volume()
    if request.level is not None:
        level = request.level
    elif request.change is None:
        return {"level": before}
    elif isinstance(request.change, str):
        step = tools.config.volume_step
        level = before + (step if request.change == "up" else -step)
    else:
        level = before + request.change
    level = max(0, min(p.MAX_VOLUME, level))
    if level == before:
        return {"level": before, "changed": False}
    return {"level": tools.set_volume(level)}


def _timers(tools: ToolsView, request: p.Request) -> dict[str, Any]:
    service = tools.timers
    rows = service.listing()
    now = service.now()
    return {"timers": [timer_row(t, left, now) for t, left in rows]}


def _cancel_timers(tools: ToolsView, request: p.Request) -> dict[str, Any]:
    gone = tools.timers.cancel(request.which)
    if not gone and request.which.casefold() != "all":
        from edged.tools.registry import ToolError

        raise ToolError(f"no timer matches {request.which!r}")
    return {"cancelled": [t.id for t in gone]}


def _set_timer(tools: ToolsView, request: p.Request) -> dict[str, Any]:
    service = tools.timers
    t = service.set_timer(request.seconds, request.label)
    return {"timer": timer_row(t, request.seconds, service.now())}


_TOOL_HANDLERS: dict[str, Callable[[ToolsView, p.Request], dict[str, Any]]] = {
    "volume": _volume,
    "timers": _timers,
    "timers.cancel": _cancel_timers,
    "timers.set": _set_timer,
}


def _refuse(conn: socket.socket, message: dict[str, Any]) -> None:
    """One error line, without waiting: it fits a fresh socket's buffer, or is lost."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(p.encode(message))
    conn.close()


async def _discard(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(4096):
            pass


# --------------------------------------------------------------------------- the socket file


def _bind(path: str, gid: int) -> socket.socket:
    """A listening socket at ``path``, mode 0660, group ``gid``; ControlUnavailable if not."""
    parent = os.path.dirname(path) or "."
    try:
        os.makedirs(parent, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise ControlUnavailable(f"cannot create {parent} for the control socket: "
                                 f"{exc.strerror}") from None
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Created with the process umask (the unit's 0077 makes it 0600, never looser).
        os.chmod(path, SOCKET_MODE)
        if os.stat(path).st_gid != gid:
            try:
                os.chown(path, -1, gid)
            except PermissionError:
                raise ControlUnavailable(
                    f"cannot give the control socket to group {group_name(gid)}: the daemon "
                    "must be a member of it and allowed to chown (the unit filters chown; "
                    "leave control.group null and add users to the daemon's group instead)"
                ) from None
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except ControlUnavailable:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    except OSError as exc:
        sock.close()
        raise ControlUnavailable(f"cannot listen on {path}: {exc.strerror or exc}") from None
    return sock


def _clear_stale(path: str) -> None:
    """Remove a socket left by a daemon that died; refuse to touch anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlUnavailable(f"cannot inspect {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlUnavailable(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as exc:
        raise ControlUnavailable(f"cannot check whether {path} is in use: "
                                 f"{exc.strerror or exc}") from None
    finally:
        probe.close()
    raise ControlUnavailable(f"{path} is in use: is another edged running?")


async def start_control(config: ControlConfig, daemon: DaemonPort) -> ControlServer | None:
    """The server for the daemon to run, or None (disabled, or set-up failed: logged)."""
    if not config.enabled:
        return None
    server = ControlServer(config, daemon)
    try:
        await server.start()
    except ControlUnavailable as exc:
        log.error("control socket unavailable: %s; running without it", exc,
                  extra={"fields": {"kind": "control", "control": "unavailable"}})
        return None
    return server
