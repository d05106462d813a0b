"""Run a bit of client code as another user: fork, drop privileges, report back.

Forked after imports, so the child needs no file access beyond the socket (the
interpreter and the venv may live where other users cannot read). Root only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from edged.control.client import ControlClient, Denied, NotRunning


def as_user(uid: int, gid: int, groups: list[int], fn: Callable[[], str]) -> str:
    """Run ``fn`` in a forked child that dropped to ``uid``/``gid``; return what it says."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(rfd)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            result = fn()
        except BaseException as exc:
            result, code = f"child failed: {type(exc).__name__}: {exc}", 1
        finally:
            with contextlib.suppress(BaseException):
                os.write(wfd, result.encode()[:60000])
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        out = r.read().decode()
    os.waitpid(pid, 0)
    return out


def try_status(path: Path | str) -> Callable[[], str]:
    """A client that asks for status and says how it went."""
    def run() -> str:
        try:
            with ControlClient(str(path), timeout=20) as c:
                return "ok " + str(c.request("status")["phase"])
        except Denied as exc:
            return f"denied: {exc}"
        except NotRunning as exc:
            return f"not running: {exc}"
    return run
