"""The command tool runner with real processes: small Python programs (``sys.executable
-c``) stand in for the owner's scripts. Limits are checked by what the kernel does to
them; where root would be exempt (RLIMIT_NPROC), the run goes through an unprivileged
user, as under the unit."""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edged.config import KILL_GRACE_S, CommandToolConfig
from edged.tools import command
from edged.tools.command import run_command
from edged.tools.registry import ToolError
from tests.systemd.test_unit import needs_analyze, needs_seccomp, sandbox_syscalls

ROOT = Path(__file__).resolve().parents[2]
CONFINED = Path(__file__).with_name("programs") / "confined.py"
PR_SET_CHILD_SUBREAPER = 36

ECHO = "import json, sys; print(json.dumps({'got': json.load(sys.stdin)}))"
# Starts a grandchild in its process group, says both pids, then waits forever.
FAMILY = """\
import json, os, subprocess, sys, time
gc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    json.dump({"child": os.getpid(), "grandchild": gc.pid}, f)
os.replace(tmp, sys.argv[1])
time.sleep(600)
"""
# Waits for sys.argv[2] to exist, having said it started (sys.argv[1]).
HOLD = """\
import os, sys, time
open(sys.argv[1], "w").close()
for _ in range(6000):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.01)
print("released")
"""


def tool(*argv: str, **fields: Any) -> CommandToolConfig:
    return CommandToolConfig(name="probe", description="a test program", argv=argv, **fields)


def py(code: str, *args: str, **fields: Any) -> CommandToolConfig:
    return tool(sys.executable, "-c", code, *args, **fields)


def run(cfg: CommandToolConfig, arguments: dict[str, Any] | None = None,
        slots: int = 2) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        return await run_command(cfg, arguments or {}, slots=asyncio.Semaphore(slots))
    return asyncio.run(go())


def fails(cfg: CommandToolConfig, arguments: dict[str, Any] | None = None) -> str:
    with pytest.raises(ToolError) as caught:
        run(cfg, arguments)
    return str(caught.value)


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Orphaned grandchildren come to this process (PID 1 of a container may never reap
    them), so a test can wait for one and see how it died."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, ctypes.get_errno()
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid: int) -> int:
    """Wait (at most 30 s) for an orphan that came to this process; its wait status."""
    for _ in range(3000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)  # leave nothing behind, then fail
    os.waitpid(pid, 0)
    raise AssertionError(f"process {pid} was still running")


def is_gone(pid: int) -> bool:
    """Gone, or dead and waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


async def appears(path: Path) -> None:
    for _ in range(3000):
        if path.exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


# ------------------------------------------------------------------ input and output


def test_the_arguments_arrive_as_json_on_stdin_and_a_json_object_comes_back() -> None:
    got = run(py(ECHO), {"action": "open", "seconds": 5, "note": "café"})
    assert got == {"got": {"action": "open", "seconds": 5, "note": "café"}}


def test_text_output_is_wrapped() -> None:
    assert run(tool("/bin/echo", "the door is", "open")) == {"output": "the door is open"}
    assert run(py("print('[1, 2]')")) == {"output": "[1, 2]"}  # JSON, but not an object
    assert run(py("print('{\"level\": NaN}')")) == {"output": '{"level": NaN}'}
    assert run(tool("/bin/true")) == {"output": ""}


def test_a_program_that_never_reads_stdin_is_fine() -> None:
    big = {"text": "x" * 200_000}  # more than a pipe holds
    assert run(tool("/bin/true"), big) == {"output": ""}


def test_output_is_cut_at_max_output_kb_and_the_program_is_not_blocked(tmp_path: Path) -> None:
    finished = tmp_path / "finished"
    code = ("import sys; sys.stdout.write('€' * 400_000); sys.stdout.flush(); "
            "open(sys.argv[1], 'w').close()")
    got = run(py(code, str(finished), max_output_kb=1))
    # 1024 bytes hold 341 whole euro signs; the cut-off byte is dropped, not garbled.
    assert got == {"output": "€" * 341, "truncated": True}
    assert finished.exists()  # it wrote all 1.2 MB: the rest was read and discarded


def test_the_environment_is_small_and_never_the_daemons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghijklmnop")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    got = run(py("import json, os; print(json.dumps({'env': dict(os.environ), "
                 "'cwd': os.getcwd()}))"))
    assert got == {"env": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                           "HOME": str(state), "EDGED_TOOL": "probe"},
                   "cwd": str(state)}


def test_without_a_state_directory_home_is_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    got = run(py("import json, os; print(json.dumps([os.environ['HOME'], os.getcwd()]))"))
    assert got == {"output": '["/", "/"]'}


# ------------------------------------------------------------------ failures


def test_a_failure_reports_the_exit_status_and_the_last_line_of_stderr() -> None:
    code = ("import sys; sys.stderr.write('noise\\n' * 900 + 'relay 2 did not answer\\n\\n'); "
            "sys.exit(2)")
    assert fails(py(code)) == "probe failed with exit status 2: relay 2 did not answer"
    assert fails(py("import sys; sys.exit(4)")) == "probe failed with exit status 4"


def test_a_long_last_line_keeps_its_end() -> None:
    code = "import sys; sys.stderr.write('a' * 500 + ' the end\\x1b[0m'); sys.exit(1)"
    sentence = fails(py(code))
    assert sentence.startswith("probe failed with exit status 1: …a")
    assert sentence.endswith("a the end [0m")  # the escape character is not passed on
    assert len(sentence) <= 200  # the registry would cut the end off a longer one


def test_a_signal_is_named() -> None:
    sentence = fails(py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
    assert sentence == "probe was killed by SIGTERM"


@pytest.mark.parametrize(("content", "mode", "reason"), [
    (None, 0, "was not found"),
    (b"#!/bin/sh\necho hi\n", 0o644, "is not executable (permission denied)"),
    (b"\x00\x01 not a program", 0o755,
     "is not a program this system can run (a script needs a #! line)"),
])
def test_a_program_that_cannot_start_is_named_and_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None, mode: int,
        reason: str) -> None:
    path = tmp_path / "garage"
    if content is not None:
        path.write_bytes(content)
        path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        first = fails(tool(str(path)))
        second = fails(tool(str(path)))
    assert first == second == f"probe could not be started: {path} {reason}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"tool {first}"]


def test_a_program_that_exits_127_by_itself_is_not_a_launch_failure() -> None:
    assert fails(py("import sys; sys.exit(127)")) == "probe failed with exit status 127"


def test_arguments_and_output_are_logged_at_debug_level_only(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="edged.tools"):
        run(py(ECHO), {"word": "platypus"})
        fails(py("import json, sys; sys.exit(json.load(sys.stdin)['word'])"),
              {"word": "platypus"})
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("platypus" in m for m in debug)  # so the check below means something
    assert not [r for r in caplog.records
                if r.levelno > logging.DEBUG and "platypus" in r.getMessage()]


# ------------------------------------------------------------------ stopping


def test_a_timeout_stops_the_whole_process_group(tmp_path: Path, subreaper: None) -> None:
    marker = tmp_path / "pids.json"
    sentence = fails(py(FAMILY, str(marker), timeout_s=5))
    assert sentence == "probe took longer than 5 s and was stopped"
    pids = json.loads(marker.read_text())
    assert is_gone(pids["child"])
    status = reap(pids["grandchild"])
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM


def test_a_program_that_ignores_sigterm_is_killed() -> None:
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(600)")
    assert fails(py(code, timeout_s=2)) == "probe took longer than 2 s and was stopped"


def test_a_cancelled_call_stops_the_program_and_its_children(
        tmp_path: Path, subreaper: None) -> None:
    marker = tmp_path / "pids.json"

    async def go() -> None:
        task = asyncio.create_task(run_command(py(FAMILY, str(marker), timeout_s=120), {},
                                               slots=asyncio.Semaphore(1)))
        await appears(marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    pids = json.loads(marker.read_text())
    assert is_gone(pids["child"])
    status = reap(pids["grandchild"])
    assert os.WIFSIGNALED(status)


def test_what_a_program_leaves_running_is_killed_when_it_exits(subreaper: None) -> None:
    code = ("import json, subprocess, sys; "
            "gc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "print(json.dumps({'left': gc.pid}))")
    got = run(py(code))
    status = reap(got["left"])
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL


def test_a_process_in_a_session_of_its_own_does_not_hold_the_answer(subreaper: None) -> None:
    code = ("import json, subprocess, sys; "
            "gc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
            "start_new_session=True); print(json.dumps({'escaped': gc.pid}))")
    got = run(py(code, timeout_s=60))  # it still holds stdout; the answer does not wait
    try:
        assert set(got) == {"escaped"}
    finally:
        os.kill(got["escaped"], signal.SIGKILL)
        reap(got["escaped"])


def test_stopping_fits_in_the_time_the_config_gives_the_runner() -> None:
    """The registry abandons a call at timeout_s + KILL_GRACE_S: by then the runner has
    waited for a slot, stopped the program and read its last output."""
    assert command.SLOT_WAIT_S + command.TERM_GRACE_S + command.READ_GRACE_S < KILL_GRACE_S


# ------------------------------------------------------------------ limits


def test_the_limits_are_set_on_the_program() -> None:
    code = ("import json; lines = open('/proc/self/limits').read().splitlines(); "
            "print(json.dumps({'limits': {l[:26].strip(): l[26:].split()[:2] for l in lines[1:]}, "
            "'oom': open('/proc/self/oom_score_adj').read().strip()}))")
    got = run(py(code, memory_mb=96, cpu_s=7, max_processes=5))
    limits = got["limits"]
    assert limits["Max address space"] == [str(96 * 1024 * 1024)] * 2
    assert limits["Max cpu time"] == ["7", str(7 + command.CPU_HARD_EXTRA_S)]
    assert limits["Max core file size"] == ["0", "0"]
    soft, hard = (int(v) for v in limits["Max processes"])
    assert soft == hard >= 5 + 1  # the user's tasks at the start, plus 5
    assert got["oom"] == "1000"  # the kernel's first pick when the unit runs out of memory


def test_the_memory_limit_makes_a_large_allocation_fail() -> None:
    code = "x = bytearray(160 * 1024 * 1024); print('allocated')"
    assert run(py(code, memory_mb=512)) == {"output": "allocated"}  # it can, with room
    assert fails(py(code, memory_mb=80)) == "probe failed with exit status 1: MemoryError"


def test_the_cpu_limit_stops_a_busy_loop_with_sigxcpu() -> None:
    sentence = fails(py("while True: pass", cpu_s=1, timeout_s=120))
    assert sentence == "probe was killed by SIGXCPU: it used up its 1 s of CPU time"


def test_a_program_that_ignores_sigxcpu_is_killed_at_the_hard_limit() -> None:
    code = "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass"
    sentence = fails(py(code, cpu_s=1, timeout_s=120))
    assert sentence == "probe was killed by SIGKILL: over its CPU time, or out of memory?"


FORKS = """\
import json, os, time
pids, error = [], None
for _ in range(50):
    try:
        pid = os.fork()
    except OSError as exc:
        error = exc.__class__.__name__
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    pids.append(pid)
print(json.dumps({"forked": len(pids), "error": error}))
"""


def runnable_by_anyone(path: str) -> bool:
    real = Path(os.path.realpath(path))
    return real.exists() and all(p.stat().st_mode & 0o001 for p in (real, *real.parents))


def confined(calls: list[dict[str, Any]], *extra: str) -> dict[str, Any]:
    """tests/tools/programs/confined.py as the user ``nobody`` when this runs as root
    (root is exempt from RLIMIT_NPROC; the unit's user is not). The programs run on
    the same interpreter, which nobody must be able to run: this one, else Debian's."""
    python = sys.executable
    as_user: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux) to drop to nobody")
        python = next((p for p in (sys.executable, "/usr/bin/python3")
                       if runnable_by_anyone(p)), "")
        if not python:
            pytest.skip("no Python interpreter here that the user nobody may run")
        as_user = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    for c in calls:
        c["config"]["argv"] = [python if a == "{python}" else a for a in c["config"]["argv"]]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*as_user, python, str(CONFINED), json.dumps(calls), *extra],
                          capture_output=True, text=True, env=env, cwd="/", timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def call(code: str, **fields: Any) -> dict[str, Any]:
    return {"config": {"name": "probe", "description": "a test program",
                       "argv": ["{python}", "-c", code], **fields}, "arguments": {}}


def test_the_process_limit_stops_a_fork_loop() -> None:
    report = confined([call(FORKS, max_processes=4)])
    (outcome,) = report["calls"]
    assert outcome["result"]["error"] == "BlockingIOError"  # fork: EAGAIN
    assert 1 <= outcome["result"]["forked"] <= 4


WX = """\
import json, mmap, os
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    wx = "allowed"
except OSError as exc:
    wx = os.strerror(exc.errno)
print(json.dumps({"wx": wx, "uid": os.getuid()}))
"""


@needs_analyze
@needs_seccomp
def test_the_runner_works_under_the_units_seccomp_rules(tmp_path: Path) -> None:
    """Setting the limits, starting the program and stopping it all pass the unit's
    system call filter; a program asking for writable and executable memory (what a JIT
    does) is refused, as under MemoryDenyWriteExecute=yes."""
    report = confined([
        call(ECHO.replace("json.load(sys.stdin)", "'ok'")),
        call(WX),
        call(FORKS, max_processes=3),
        call("import time; time.sleep(600)", timeout_s=1),
    ], json.dumps(sandbox_syscalls()))
    assert report["filters"] == {"wx_mmap_refused": True, "setpriority_refused": True}
    echo, wx, forks, slow = report["calls"]
    assert echo == {"result": {"got": "ok"}}
    assert wx["result"]["wx"] == os.strerror(1)  # EPERM
    assert wx["result"]["uid"] != 0
    assert forks["result"]["error"] == "BlockingIOError"
    assert forks["result"]["forked"] <= 3
    assert slow == {"error": "probe took longer than 1 s and was stopped"}


# ------------------------------------------------------------------ running at once


def test_at_most_max_running_commands_run_at_once(tmp_path: Path) -> None:
    release = tmp_path / "release"

    async def go() -> tuple[list[Any], str]:
        slots = asyncio.Semaphore(2)
        started = [tmp_path / "one", tmp_path / "two"]
        running = [asyncio.create_task(run_command(
            py(HOLD, str(s), str(release), timeout_s=120), {}, slots=slots)) for s in started]
        for s in started:
            await appears(s)
        with pytest.raises(ToolError) as busy:
            await run_command(py(ECHO), {}, slots=slots)
        release.touch()
        results = list(await asyncio.gather(*running))
        results.append(await run_command(py(ECHO), {"n": 3}, slots=slots))  # free again
        return results, str(busy.value)

    results, busy = asyncio.run(go())
    assert busy == "probe is busy: 2 commands are already running; try again in a moment"
    assert results == [{"output": "released"}, {"output": "released"}, {"got": {"n": 3}}]
