"""A NOTIFY_SOCKET listener: what systemd would receive from a Type=notify service.

An AF_UNIX/SOCK_DGRAM socket in a temp dir; a thread collects every datagram with
its arrival time (``time.monotonic()``). Give a child process ``listener.env()`` (or
use the ``notify_socket`` fixture, which also sets NOTIFY_SOCKET in this process).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Datagram:
    t: float  # time.monotonic() at arrival
    fields: dict[str, str]
    raw: str

    def __contains__(self, assignment: str) -> bool:
        """``"READY=1" in datagram``."""
        key, _, value = assignment.partition("=")
        return self.fields.get(key) == value


def parse(raw: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in raw.split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


class NotifyListener:
    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="edged-notify-")
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._datagrams: list[Datagram] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-listener", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            t = time.monotonic()
            raw = data.decode("utf-8", "replace")
            with self._cond:
                self._datagrams.append(Datagram(t, parse(raw), raw))
                self._cond.notify_all()

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.path}

    @property
    def datagrams(self) -> list[Datagram]:
        with self._lock:
            return list(self._datagrams)

    def having(self, assignment: str) -> list[Datagram]:
        """Datagrams holding ``KEY=value`` (or ``KEY`` with any value)."""
        with self._lock:
            return self._match(assignment)

    def wait_for(self, assignment: str, *, after: float = 0.0, count: int = 1,
                 timeout: float = 10.0) -> list[Datagram]:
        """Wait until ``count`` datagrams holding ``assignment`` arrived after ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [d for d in self._match(assignment) if d.t >= after]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"notify: {len(found)} of {count} datagrams with {assignment!r} in "
                        f"{timeout} s; got {[d.raw for d in self._datagrams][-10:]}")
                self._cond.wait(left)

    def _match(self, assignment: str) -> list[Datagram]:
        key, sep, _ = assignment.partition("=")
        return [d for d in self._datagrams if (assignment in d if sep else key in d.fields)]

    def wait_until(self, predicate: Callable[[list[Datagram]], bool],
                   timeout: float = 10.0) -> list[Datagram]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self._datagrams)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("notify: condition not met in time")
                self._cond.wait(left)
            return list(self._datagrams)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)
