"""Command tools: one configured program run per call, fenced in so it cannot take the
daemon down.

The program shares the unit's memory and CPU budget with the daemon, so it runs
under its own limits: address space (``memory_mb``), CPU time (``cpu_s``, SIGXCPU
then SIGKILL), tasks (``max_processes``), no core files, and an OOM score of 1000
so the kernel kills it, not the daemon, when the unit runs out of memory.

How the limits are set, and why this way: they must be in force before the
program's first instruction. ``preexec_fn`` would set them between fork and exec,
but that runs Python in a forked copy of a threaded process (PortAudio, gpiozero,
the child watcher), which the Python documentation calls unsafe: a lock another
thread held at the fork is never released. ``prlimit(pid)`` after the spawn is a
race the program can win. So the child is a fresh, single-threaded ``python -I -S``
(:data:`_CONFINE`) that sets its own limits with ``prlimit64`` (the unit's system
call filter refuses ``setrlimit`` but allows ``prlimit64``), raises its own OOM
score and execs the program without a shell or a ``$PATH`` search. An exec that
fails is reported over a close-on-exec pipe, so "not found" is never confused with
a program that exits 127. It costs one Python start-up per call (about 15 ms on a
2-core x86-64 VM).

``RLIMIT_NPROC`` counts every task of the real user, the daemon's own threads
included, so the child counts them (``/proc``) and allows that many more than
``max_processes``. Root is exempt from this limit; under the unit edged is not root.

The child leads its own process group; a timeout or a cancelled call stops the
group (SIGTERM, then SIGKILL after :data:`TERM_GRACE_S`), and whatever the program
leaves behind in its group is killed when it exits. A program that starts a new
session of its own escapes that; its output is then not waited for.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import json
import logging
import os
import signal
import sys
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edged.config import CommandToolConfig
from edged.tools.registry import ToolError

log = logging.getLogger("edged.tools")

SLOT_WAIT_S = 0.5
"""How long a call waits for one of ``tools.max_running_commands`` slots before it
is refused as busy (the model can say so and try again). ``timeout_s`` starts once
the program has a slot; this wait, the stop and the last read together stay within
the ``KILL_GRACE_S`` the registry adds to the timeout."""
TERM_GRACE_S = 1.0
"""Between SIGTERM and SIGKILL when a program is stopped."""
READ_GRACE_S = 0.2
"""After the program exits, how long to wait for the rest of its output."""
CPU_HARD_EXTRA_S = 2
"""SIGXCPU comes at ``cpu_s``; a program that ignores it gets SIGKILL this much later."""
STDERR_TAIL = 1024
PATH = "/usr/local/bin:/usr/bin:/bin"
_SENTENCE = 180  # the registry shortens longer sentences from the end: the tail matters

_CONFINE = """\
import os, resource, sys

def tasks_of(uid):
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        real = threads = 0
        try:
            with open("/proc/" + pid + "/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        real = int(line.split()[1])
                    elif line.startswith(b"Threads:"):
                        threads = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if real == uid:
            count += threads
    return count

def limit(which, soft, hard):
    old_hard = resource.getrlimit(which)[1]
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
    resource.prlimit(0, which, (min(soft, hard), hard))

fd = int(sys.argv[1])
memory, cpu, cpu_hard, processes = (int(v) for v in sys.argv[2:6])
argv = sys.argv[6:]
os.set_inheritable(fd, False)
step = "limits"
try:
    limit(resource.RLIMIT_CORE, 0, 0)
    limit(resource.RLIMIT_AS, memory, memory)
    limit(resource.RLIMIT_CPU, cpu, cpu_hard)
    tasks = tasks_of(os.getuid()) + processes
    limit(resource.RLIMIT_NPROC, tasks, tasks)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    step = "exec"
    os.execv(argv[0], argv)
except OSError as e:
    os.write(fd, (step + " " + str(e.errno or 0)).encode())
os._exit(127)
"""

_running: weakref.WeakKeyDictionary[asyncio.Semaphore, int] = weakref.WeakKeyDictionary()
_warned: set[tuple[str, str, str]] = set()


async def run_command(cfg: CommandToolConfig, arguments: Mapping[str, Any], *,
                      slots: asyncio.Semaphore) -> dict[str, Any]:
    """Run cfg.argv without a shell; the arguments as one JSON object on stdin, the
    answer on stdout (a JSON object, or text). Raises ToolError with a sentence for
    the model when it is busy, cannot start, fails, is killed or takes too long."""
    name = cfg.name or cfg.argv[0]
    try:
        async with asyncio.timeout(SLOT_WAIT_S):
            await slots.acquire()
    except TimeoutError:
        raise ToolError(f"{name} is busy: {_running.get(slots, 0)} commands are already "
                        "running; try again in a moment") from None
    _running[slots] = _running.get(slots, 0) + 1
    try:
        return await _run(cfg, name, arguments, asyncio.get_running_loop().time() + cfg.timeout_s)
    finally:
        _running[slots] -= 1
        slots.release()


def child_env(name: str, home: str) -> dict[str, str]:
    """The whole environment a program gets: never the daemon's, which may hold an API
    key or ``$CREDENTIALS_DIRECTORY``."""
    return {"PATH": PATH, "LANG": "C.UTF-8", "HOME": home, "EDGED_TOOL": name}


def home_dir(environ: Mapping[str, str]) -> str:
    """The program's HOME and working directory: the unit's state directory, else ``/``."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return state if state and os.path.isdir(state) else "/"


def answer(stdout: bytes, truncated: bool) -> dict[str, Any]:
    """A successful program's answer: its JSON object, else its text as ``output``."""
    value: Any = None
    with contextlib.suppress(ValueError, RecursionError):
        value = json.loads(stdout, parse_constant=_no_constant)
    if isinstance(value, dict):
        result: dict[str, Any] = value
    else:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        result = {"output": decoder.decode(stdout, final=not truncated).strip()}
    if truncated:
        result["truncated"] = True
    return result


def failure(cfg: CommandToolConfig, name: str, code: int, stderr: bytes) -> str:
    """Why a program that ran did not answer, in one sentence (exit status or signal,
    then the last line it wrote to stderr)."""
    if code >= 0:
        head = f"{name} failed with exit status {code}"
    else:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        head = f"{name} was killed by {sig}"
        if -code == signal.SIGXCPU:
            head += f": it used up its {cfg.cpu_s} s of CPU time"
        elif -code == signal.SIGKILL:
            head += ": over its CPU time, or out of memory?"
        elif -code in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            head += f": over its {cfg.memory_mb} MB of address space?"
    tail = last_line(stderr)
    if not tail:
        return head
    room = max(20, _SENTENCE - len(head) - 2)
    if len(tail) > room:
        tail = "…" + tail[-(room - 1):].lstrip()
    return f"{head}: {tail}"


def last_line(stderr: bytes) -> str:
    """The last non-blank line, printable characters only."""
    text = stderr.decode("utf-8", errors="replace")
    for line in reversed(text.splitlines()):
        clean = " ".join("".join(c if c.isprintable() else " " for c in line).split())
        if clean:
            return clean
    return ""


def launch_failure(name: str, path: str, report: str) -> str | None:
    """The sentence for what the child wrote to the error pipe ("exec 2"), if anything."""
    step, _, number = report.partition(" ")
    if step not in ("exec", "limits") or not number.isdigit():
        return None
    code = int(number)
    if step == "limits":
        return f"{name} could not be started: its limits could not be set ({os.strerror(code)})"
    reason = {
        errno.ENOENT: "was not found",
        errno.EACCES: "is not executable (permission denied)",
        errno.ENOEXEC: "is not a program this system can run (a script needs a #! line)",
    }.get(code, f"could not be run ({os.strerror(code)})")
    return f"{name} could not be started: {path} {reason}"


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


@dataclass
class _Child(asyncio.SubprocessProtocol):
    """Collects the head of stdout and the tail of stderr as they arrive, without ever
    blocking the program on a full pipe."""

    cap: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    _open: set[int] = field(default_factory=lambda: {1, 2})

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        if fd == 1:
            room = self.cap - len(self.stdout)
            if len(data) > room:
                self.truncated = True
            if room > 0:
                self.stdout += data[:room]
        elif fd == 2:
            self.stderr += data
            del self.stderr[:-STDERR_TAIL]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open:
            self.drained.set()

    def process_exited(self) -> None:
        self.exited.set()


async def _run(cfg: CommandToolConfig, name: str, arguments: Mapping[str, Any],
               deadline: float) -> dict[str, Any]:
    payload = (json.dumps(dict(arguments), ensure_ascii=False) + "\n").encode()
    child = _Child(cfg.max_output_kb * 1024)
    transport, report_fd = await _spawn(cfg, name, child)
    log.debug("tool %s: started %s as pid %d with %s", name, cfg.argv[0],
              transport.get_pid(), payload[:200])
    try:
        await _supervise(cfg, name, transport, child, payload=payload, deadline=deadline)
    finally:
        report = _read_report(report_fd)
    code = transport.get_returncode()
    assert code is not None  # _supervise returns only once the program has exited
    launch = launch_failure(name, cfg.argv[0], report) if code == 127 else None
    if launch is not None:
        _warn_once(name, cfg.argv[0], report, "tool %s", launch)
        raise ToolError(launch)
    log.debug("tool %s: exit %d, stdout %r, stderr %r", name, code, bytes(child.stdout[:200]),
              bytes(child.stderr[-200:]))
    if code != 0:
        raise ToolError(failure(cfg, name, code, bytes(child.stderr)))
    return answer(bytes(child.stdout), child.truncated)


async def _spawn(cfg: CommandToolConfig, name: str,
                 child: _Child) -> tuple[asyncio.SubprocessTransport, int]:
    """The confined child, and the read end of its exec-error pipe."""
    loop = asyncio.get_running_loop()
    home = home_dir(os.environ)
    report_r, report_w = os.pipe()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: child, sys.executable, "-I", "-S", "-c", _CONFINE, str(report_w),
            str(cfg.memory_mb * 1024 * 1024), str(cfg.cpu_s), str(cfg.cpu_s + CPU_HARD_EXTRA_S),
            str(cfg.max_processes), *cfg.argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, pass_fds=(report_w,), start_new_session=True,
            close_fds=True, env=child_env(name, home), cwd=home)
    except BaseException as exc:
        os.close(report_r)
        if not isinstance(exc, OSError):
            raise
        _warn_once(name, cfg.argv[0], f"spawn {exc.errno}",
                   "tool %s could not be started: %s", name, exc.strerror)
        raise ToolError(f"{name} could not be started: {exc.strerror or exc}") from None
    finally:
        os.close(report_w)
    return transport, report_r


async def _supervise(cfg: CommandToolConfig, name: str, transport: asyncio.SubprocessTransport,
                     child: _Child, *, payload: bytes, deadline: float) -> None:
    """Feed stdin, wait for the exit (stopping the group at the deadline or on
    cancellation), kill what it left behind, collect the rest of its output."""
    pid = transport.get_pid()
    try:
        stdin = transport.get_pipe_transport(0)
        if isinstance(stdin, asyncio.WriteTransport):
            stdin.write(payload)
            stdin.close()  # once written; a program that never reads stdin is fine
        try:
            async with asyncio.timeout_at(deadline):
                await child.exited.wait()
        except TimeoutError:
            await _stop(pid, child)
            log.warning("tool %s took longer than %g s and was stopped", name, cfg.timeout_s)
            raise ToolError(f"{name} took longer than {cfg.timeout_s:g} s and was "
                            "stopped") from None
        except asyncio.CancelledError:
            await _stop(pid, child)
            raise
    finally:
        _signal_group(pid, signal.SIGKILL)  # whatever it left running in its group
        try:
            if not child.drained.is_set():
                async with asyncio.timeout(READ_GRACE_S):
                    await child.drained.wait()
        except TimeoutError:
            pass  # a process in a session of its own still holds the pipes
        finally:
            transport.close()


async def _stop(pid: int, child: _Child) -> None:
    """SIGTERM to the group, SIGKILL after the grace; returns once the program is gone.
    A second cancellation while waiting skips the grace (the caller's finally kills)."""
    _signal_group(pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(TERM_GRACE_S):
            await child.exited.wait()
    except TimeoutError:
        _signal_group(pid, signal.SIGKILL)
        await child.exited.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The group keeps the leader's number while any member lives, so this cannot
    # reach an unrelated process unless the whole number space wrapped in between.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _read_report(fd: int) -> str:
    """What the child wrote before exec failed; empty once exec succeeded (the pipe is
    closed by then: the program has exited or was killed)."""
    try:
        os.set_blocking(fd, False)
        return os.read(fd, 256).decode("ascii", errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _warn_once(name: str, path: str, what: str, message: str, *args: object) -> None:
    """A broken tool is named once in the journal, not on every call."""
    key = (name, path, what)
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)
