"""A real systemd-journald for tests, and helpers to read entries back with journalctl.

``journald`` (session fixture, root only) makes sure a journald is listening on
/run/systemd/journal/socket: it reuses one that answers (a system journald, or one
another test run started), and otherwise starts ``systemd-journald`` in its own
session. Start-up is serialised with a lock file, so concurrent test runs on one
machine end up sharing one journald.

The journald this starts is left running on purpose: it is the machine's journal,
other test runs may be writing to it at the same moment, and stopping it under them
would make their ``journal.send`` calls vanish silently.

A child process (the daemon under test) needs nothing from the rig: libsystemd finds
the socket at its fixed path. Tests tell their entries apart by cursor and ``_PID``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SOCKET = Path("/run/systemd/journal/socket")
JOURNALD = next((p for p in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
                 if os.path.exists(p)), "/lib/systemd/systemd-journald")
LOCK = Path("/run/edged-test-journald.lock")

Entry = dict[str, Any]


def socket_alive(path: Path = SOCKET) -> bool:
    """True when something accepts datagrams on ``path`` (a stale socket file refuses)."""
    if not path.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(str(path))
    except OSError:
        return False
    finally:
        s.close()
    return True


def ensure_journald(timeout: float = 20.0) -> int | None:
    """Make sure journald listens; return the PID when this call started it."""
    if socket_alive():
        return None
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if socket_alive():  # another run started it while we waited
            return None
        proc = subprocess.Popen([JOURNALD], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not socket_alive():
            if proc.poll() is not None:
                raise RuntimeError(f"systemd-journald exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("systemd-journald did not open its socket in time")
            time.sleep(0.05)
        return proc.pid


def journalctl(*args: str, timeout: float = 30.0) -> str:
    result = subprocess.run(["journalctl", "--no-pager", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode not in (0, 1):  # 1: no entries matched (some versions)
        raise RuntimeError(f"journalctl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Journal:
    """Read access to the journal, from a cursor taken with :meth:`mark`."""

    started_pid: int | None = None

    def mark(self) -> str | None:
        """The cursor of the newest entry now (None for an empty journal)."""
        out = journalctl("-n", "1", "-o", "json", "--output-fields=__CURSOR")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1])["__CURSOR"] if lines else None

    def read(self, *matches: str, after: str | None = None) -> list[Entry]:
        """Entries matching every ``FIELD=value`` in ``matches``, newer than ``after``.

        The matching is done here: journalctl 252 combining ``--after-cursor`` with
        field matches misses entries when the cursor's own entry does not match.
        """
        args = ["-o", "json", "--all"]
        if after:
            args.append(f"--after-cursor={after}")
        elif matches:
            args.extend(matches)
        wanted = [m.partition("=")[::2] for m in matches]
        out = journalctl(*args)
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [e for e in entries if all(e.get(k) == v for k, v in wanted)]

    def wait(self, *matches: str, after: str | None = None, count: int = 1,
             until: Callable[[list[Entry]], bool] | None = None,
             timeout: float = 15.0) -> list[Entry]:
        """Poll until ``count`` matching entries (or ``until(entries)``) are there."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.read(*matches, after=after)
            done = until(entries) if until is not None else len(entries) >= count
            if done:
                return entries
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"journal: {len(entries)} entries matching {matches} after {timeout} s")
            time.sleep(0.1)

    def mine(self, after: str | None, *matches: str, pid: int | None = None,
             **kwargs: Any) -> list[Entry]:
        """:meth:`wait` for entries of ``SYSLOG_IDENTIFIER=edged`` from ``pid`` (this process)."""
        pid = os.getpid() if pid is None else pid
        return self.wait("SYSLOG_IDENTIFIER=edged", f"_PID={pid}", *matches, after=after,
                         **kwargs)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "a private journald needs root (it binds /run/systemd/journal/socket)"
    if not shutil.which("journalctl") or not os.path.exists(JOURNALD):
        return "systemd's journald/journalctl are not installed (scripts/setup installs them)"
    return None


def require_journald() -> Journal:
    """A :class:`Journal` backed by a running journald; skips the test when impossible."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    return Journal(started_pid=ensure_journald())


@pytest.fixture(scope="session")
def journald() -> Journal:
    return require_journald()


@pytest.fixture
def journal_cursor(journald: Journal) -> str | None:
    """The cursor before the test: read entries with ``journald.mine(journal_cursor, ...)``."""
    with contextlib.suppress(RuntimeError):
        return journald.mark()
    return None
