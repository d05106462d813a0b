"""A small blocking client for the control socket (``edged ctl``, scripts, tests).

Every failure a person can meet is an exception with a message written for
them: the daemon is not running, the socket is not theirs to use, the daemon
refused the command. The CLI prints the message; nobody sees a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import io
import os
import select
import socket
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from edged.control import protocol as p

DEFAULT_TIMEOUT_S = 10.0
MAX_REPLY_BYTES = 4 * 1024 * 1024
WAKE_S = 0.5
"""A read waiting for the daemon returns to the interpreter at least this often.

CPython runs a signal's handler between bytecodes: a Ctrl-C that lands after the
last check and before a blocking ``recv`` starts is acted on only when the ``recv``
returns, which for ``edged ctl watch`` is the next event, maybe never. Waiting in
slices bounds that to one slice."""

EXIT_REFUSED = 1  # the daemon answered with an error
EXIT_UNAVAILABLE = 3  # not running, no socket, or it went away
EXIT_DENIED = 4  # not allowed to use the socket
EXIT_BUSY = 5  # running, but every connection slot is taken: try again shortly


class ControlError(Exception):
    exit_code = EXIT_UNAVAILABLE

    def __init__(self, message: str, reply: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class NotRunning(ControlError):
    """No daemon answers on the socket."""


class Denied(ControlError):
    """The file permissions or the daemon refused this user."""

    exit_code = EXIT_DENIED


class Busy(ControlError):
    """The daemon runs but has no free connection slot (``control.max_clients``)."""

    exit_code = EXIT_BUSY


class Refused(ControlError):
    """The daemon understood the command and said no (the reply says why)."""

    exit_code = EXIT_REFUSED


def _group_hint(path: str) -> str:
    try:
        gid = os.stat(path).st_gid
        name = grp.getgrgid(gid).gr_name
    except (OSError, KeyError):
        name = "edged"
    return (f"only root and members of group {name} may use it; add yourself with "
            f"'sudo usermod -aG {name} $USER' and log in again, or use sudo")


class _SocketReader(io.RawIOBase):
    """The socket as a raw stream for the line reader, read in :data:`WAKE_S` slices.

    A read takes as long as the socket's timeout allows (none: until data comes), as a
    ``makefile`` stream's would; it raises ``TimeoutError`` when that runs out. The
    socket itself stays open when this closes (:meth:`ControlClient.close` owns it).
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self._sock.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()  # not select(): the fd may be above FD_SETSIZE in a big app
        poller.register(self._sock, select.POLLIN)
        while True:
            wait = WAKE_S if deadline is None else min(WAKE_S, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError("timed out")
            if poller.poll(wait * 1000):  # readable, or hung up / failed: recv says which
                return self._sock.recv_into(buffer)


class ControlClient:
    """``with ControlClient(path) as c: c.request("status")``."""

    def __init__(self, path: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._closing = False

    # ------------------------------------------------------------------ connection

    def connect(self) -> ControlClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            self._connect(sock)
        except FileNotFoundError:
            sock.close()
            raise NotRunning(f"edged is not running (no control socket at {self.path})") from None
        except ConnectionRefusedError:
            sock.close()
            raise NotRunning(f"edged is not running (nothing listens on {self.path})") from None
        except PermissionError:
            sock.close()
            raise Denied(f"permission denied: {self.path}: {_group_hint(self.path)}") from None
        except TimeoutError:
            sock.close()
            raise NotRunning(f"edged did not accept a connection on {self.path} within "
                             f"{self.timeout:g} s") from None
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ENOTSOCK, errno.ECONNREFUSED):
                raise NotRunning(f"edged is not running ({self.path} is not a live "
                                 "socket)") from None
            raise NotRunning(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        self._sock = sock
        self._file = io.BufferedReader(_SocketReader(sock))
        self._closing = False
        return self

    def _connect(self, sock: socket.socket) -> None:
        """Connect, waiting while the daemon's accept queue is full (EAGAIN on AF_UNIX)."""
        deadline = time.monotonic() + (self.timeout if self.timeout is not None else 1e9)
        while True:
            try:
                sock.connect(self.path)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError from None
                time.sleep(0.01)

    def close(self) -> None:
        """Close; safe from another thread while one is blocked in :meth:`events`, which
        then ends (the shutdown wakes its read; closing the file first would wait on it)."""
        self._closing = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> ControlClient:
        return self.connect() if self._sock is None else self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ exchanges

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command; return its ``ok`` reply or raise what went wrong."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        line = p.encode({"cmd": cmd, **fields})
        try:
            self._sock.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused on arrival: the reason is waiting to be read below
        except TimeoutError:
            raise NotRunning(f"edged did not read the command within {self.timeout:g} s") \
                from None
        reply = self._read(waiting_for="a reply")
        return self._check(reply)

    def _check(self, reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("ok") is True:
            return reply
        code = reply.get("code")
        reason = str(reply.get("error") or "refused without a reason")
        if code == p.PERMISSION_DENIED:
            raise Denied(f"{reason} ({_group_hint(self.path)})", reply)
        if code == p.TOO_MANY_CLIENTS:
            raise Busy(f"edged is busy: {reason}; try again shortly", reply)
        raise Refused(reason, reply)

    def _read(self, waiting_for: str) -> dict[str, Any]:
        file = self._file
        if file is None:  # closed by another thread
            raise NotRunning("the connection to edged was closed")
        try:
            raw = file.readline(MAX_REPLY_BYTES)
        except ValueError:  # closed meanwhile, by another thread
            raise NotRunning("the connection to edged was closed") from None
        except TimeoutError:
            raise NotRunning(f"edged did not send {waiting_for} within {self.timeout:g} s") \
                from None
        except OSError as exc:
            raise NotRunning(f"the connection to edged failed: {exc.strerror or exc}") from None
        if not raw:
            raise NotRunning("edged closed the connection (did it stop?)")
        if not raw.endswith(b"\n"):
            raise ControlError("edged sent an incomplete or oversized line")
        try:
            return p.decode(raw)
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    def events(self) -> Iterator[dict[str, Any]]:
        """Subscribe; yield every event line. Raises NotRunning when the daemon goes away."""
        self.request("subscribe")
        assert self._sock is not None
        self._sock.settimeout(None)
        while True:
            try:
                event = self._read(waiting_for="an event")
            except NotRunning:
                if self._closing:  # closed by this side: the end, not a failure
                    return
                raise
            yield event
