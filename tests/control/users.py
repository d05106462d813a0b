"""Run a bit of client code as another user: fork, drop privileges, report back.

Forked after imports, so the child needs no file access beyond the socket (the
interpreter and the venv may live where other users cannot read). Root only.

The people the access tests use never have uid = gid: the daemon reads both from
the kernel (SO_PEERCRED) and decides on each, so a peer whose two numbers were the
same could not tell a check that swapped them from a right one. ``FREE_A`` and
``FREE_B`` are numbers no user and no group has on this machine: a uid that is in no
group of the group database, and a gid that, read by mistake as a uid, is nobody
either.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edged.control.client import ControlClient, Denied, NotRunning


def _unassigned(*taken: int) -> int:
    """The highest number below 65534 that is neither a uid nor a gid here."""
    for n in range(65533, 1000, -1):
        if n in taken:
            continue
        with contextlib.suppress(KeyError):
            pwd.getpwuid(n)
            continue
        with contextlib.suppress(KeyError):
            grp.getgrgid(n)
            continue
        return n
    raise RuntimeError("no free uid/gid number on this machine")


NOBODY = 65534  # the uid of ``nobody``
NOGROUP = 65534  # the gid of ``nogroup``, nobody's primary group in the database
FREE_A = _unassigned()
FREE_B = _unassigned(FREE_A)


@dataclass(frozen=True, slots=True)
class Person:
    """Who a forked client becomes: real and effective ``uid``/``gid``, and the
    process's own supplementary ``groups`` (the daemon ignores those: it asks the
    group database instead)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert self.uid != self.gid, "uid = gid hides a check that swaps them"


STRANGER = Person(NOBODY, FREE_A)
"""Neither root nor in the daemon's group (root's, in these tests); refusals name
uid 65534, never its gid."""

GROUP = FREE_B
"""A group to give the socket to, which no user is in (and no user has as a uid)."""

MEMBER = Person(FREE_A, GROUP)
"""In ``GROUP`` by its process's gid only: no passwd entry, so the group database
knows nothing of it. Read the other way round it is uid ``GROUP`` with gid
``FREE_A``: in no way a member."""

ROOT_GROUP_STRANGER = Person(FREE_A, 0)
"""Not in ``GROUP``, but its gid is root's: read the other way round, uid 0."""


def as_user(person: Person, fn: Callable[[], str]) -> str:
    """Run ``fn`` in a forked child that dropped to ``person``; return what it says."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(rfd)
            os.setgroups(list(person.groups))
            os.setgid(person.gid)
            os.setuid(person.uid)
            assert (os.getuid(), os.getgid()) == (person.uid, person.gid)
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
