"""``edged ctl`` as a person runs it: a separate process talking to a real socket.

What is asserted here is the CLI's own: its arguments, what it prints for each
reply, its exit codes, Ctrl-C. The server side is the control server with the daemon
stand-in (see ``stand_in``); what ``edged ctl status`` shows of the REAL daemon's
figures is in ``test_daemon_wiring`` and ``test_e2e_run``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edged.control.client import ControlClient
from edged.conversation import PttDown, PttUp, Say, WakeHold
from tests.control.stand_in import Served, serving
from tests.control.users import STRANGER, Person

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "EDGED_CONFIG": "/nonexistent/edged.yaml"}


def ctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "ctl", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, check=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "control.sock") as s:
        yield s


def interrupt(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Ctrl-C ``proc`` and return its stderr once it has exited; if it does not exit,
    kill it (nothing is left running) and fail."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"still running {timeout:g} s after Ctrl-C") from None
    return err


def phase(s: Served) -> str:
    return s.on_loop(lambda: str(s.daemon.conversation.phase))


def test_button_actions_print_the_phase(served: Served) -> None:
    sock = ("--socket", served.path)
    for action, shown in (("mute", "muted"), ("mute", "muted (no change)"), ("unmute", "idle"),
                          ("wake", "handsfree"), ("cancel", "idle")):
        done = ctl(*sock, action)
        assert (done.returncode, done.stdout, done.stderr) == (0, shown + "\n", ""), action
    assert served.daemon.fed[:2] == [WakeHold(), WakeHold()]


def test_ptt_press_and_release_can_be_separate_commands(served: Served) -> None:
    assert ctl("--socket", served.path, "ptt-press").stdout == "listening\n"
    served.wait_until(lambda: not served.server.clients)  # its connection's end handled
    assert phase(served) == "listening"  # the first process is gone: a kept press survives
    done = ctl("ptt-release", "--socket", served.path)  # options after the action work too
    assert (done.returncode, done.stdout) == (0, "thinking\n")
    assert served.daemon.fed == [PttDown(), PttUp()]


def test_talk_presses_waits_and_releases(served: Served) -> None:
    start = time.monotonic()
    done = ctl("--socket", served.path, "talk", "--seconds", "0.5")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start >= 0.5
    assert done.stdout == "listening\nthinking\n"
    assert served.daemon.fed == [PttDown(), PttUp()]


def test_talk_interrupted_still_releases(served: Served) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "edged", "ctl", "--socket", served.path,
                             "talk", "--seconds", "60"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "listening\n"
    err = interrupt(proc)
    assert proc.returncode == 130
    assert "Traceback" not in err
    served.wait_until(lambda: served.daemon.conversation.phase == "thinking")
    assert served.daemon.fed == [PttDown(), PttUp()]


def test_say(served: Served) -> None:
    done = ctl("--socket", served.path, "say", "Dinner is ready")
    assert (done.returncode, done.stdout) == (0, "thinking\n")
    assert served.daemon.fed == [Say("Dinner is ready")]


def test_watch_prints_one_line_per_event_until_interrupted(served: Served) -> None:
    for raw in (False, True):
        proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "ctl", "--socket", served.path, "watch",
             *(["--json"] if raw else [])],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]  # the current state comes first
        with ControlClient(served.path, timeout=60) as c:
            c.request("ptt.press")
            c.request("ptt.release")
            c.request("cancel")
        while True:
            line = proc.stdout.readline()
            assert line, "watch ended early"
            lines.append(line)
            if raw and json.loads(line) == {**json.loads(line), "event": "transition",
                                            "phase": "idle"}:
                break
            if not raw and line.split()[1:3] == ["idle", "transition"]:
                break
        err = interrupt(proc)
        assert proc.returncode == 0 and err == ""
        if raw:
            events = [json.loads(line) for line in lines]
            assert events[0]["event"] == "state"
            got = [e["phase"] for e in events if e["event"] == "transition"]
        else:
            assert lines[0].split()[1:3] == ["idle", "state"]
            got = [line.split()[1] for line in lines if line.split()[2] == "transition"]
        assert got == ["listening", "thinking", "idle"]


def test_not_running_is_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "none.sock"
    done = ctl("--socket", str(missing), "status")
    assert done.returncode == 3
    assert done.stderr == f"edged ctl: edged is not running (no control socket at {missing})\n"
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    done = ctl("--socket", str(stale), "wake")
    assert done.returncode == 3
    assert done.stderr == f"edged ctl: edged is not running (nothing listens on {stale})\n"


def test_the_daemons_refusal_is_exit_1_with_its_reason(served: Served) -> None:
    ctl("--socket", served.path, "mute")
    done = ctl("--socket", served.path, "wake")
    assert done.returncode == 1
    assert done.stderr == "edged ctl: muted (hold the wake button to unmute)\n"


def ctl_as(person: Person, *args: str) -> tuple[int, str]:
    """The CLI's own entry point in a forked child that dropped to ``person``: the
    interpreter lives under /root here, so another user cannot exec a fresh one."""
    import tempfile

    from edged.cli import main

    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 99
            try:
                sys.stderr = open(err.fileno(), "w", closefd=False)  # noqa: SIM115
                os.setgroups(list(person.groups))
                os.setgid(person.gid)
                os.setuid(person.uid)
                code = main(["ctl", *args])
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), err.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_permission_denied_is_a_clear_message(open_dir: Path) -> None:
    with serving(open_dir / "control.sock") as served:
        code, err = ctl_as(STRANGER, "--socket", served.path, "status")
    assert code == 4, err
    assert err.startswith(f"edged ctl: permission denied: {served.path}: only root "
                          "and members of group root may use it; add yourself with "
                          "'sudo usermod -aG root $USER'")
    assert "Traceback" not in err


def test_socket_path_comes_from_the_config(served: Served, tmp_path: Path) -> None:
    cfg = tmp_path / "edged.yaml"
    cfg.write_text(yaml.safe_dump({"control": {"socket": served.path}}))
    done = ctl("--config", str(cfg), "status", "--json")
    assert done.returncode == 0, done.stderr
    cfg.write_text(yaml.safe_dump({"control": {"enabled": False}}))
    done = ctl("--config", str(cfg), "status")
    assert done.returncode == 2
    assert done.stderr == ("edged ctl: the control socket is disabled (control.enabled is "
                           f"false in {cfg})\n")
    cfg.write_text("control:\n  socket: relative.sock\n")
    done = ctl("--config", str(cfg), "status")
    assert done.returncode == 2
    assert done.stderr == (f"edged ctl: {cfg}:2: control.socket: must be an absolute path "
                           "(e.g. /run/edged/control.sock)\n")


def test_without_a_readable_config_the_default_socket_is_used() -> None:
    done = ctl("status")  # EDGED_CONFIG points nowhere
    assert done.returncode == 3
    assert "/run/edged/control.sock" in done.stderr


def test_bad_talk_duration_is_a_usage_error(served: Served) -> None:
    done = ctl("--socket", served.path, "talk", "--seconds", "0")
    assert (done.returncode, done.stderr) == (2, "edged ctl: --seconds must be above 0 and at "
                                                 "most 3600\n")
    assert served.daemon.fed == []


def test_bad_timeout_is_a_usage_error(served: Served) -> None:
    for value in ("0", "-1", "nan"):
        done = ctl("--socket", served.path, "--timeout", value, "status")
        assert done.returncode == 2
        assert done.stderr == ("edged ctl: --timeout must be above 0 and at most 3600 "
                               "seconds\n")


def test_close_from_another_thread_ends_a_blocked_watch(served: Served) -> None:
    """A reader blocked in events() must not hold close() up (a GUI or an LED script
    stops its watcher from another thread): close wakes it and the iteration ends."""
    import threading

    client = ControlClient(served.path).connect()
    seen: list[dict[str, object]] = []
    subscribed, ended = threading.Event(), threading.Event()

    def watch() -> None:
        for event in client.events():
            seen.append(event)
            subscribed.set()
        ended.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    assert subscribed.wait(30), "no state line"
    assert seen[0]["event"] == "state"

    def blocked() -> bool:  # the reader waits in the socket read for the next event
        frame = sys._current_frames().get(reader.ident or 0)
        return frame is not None and frame.f_code.co_name == "readinto"

    deadline = time.monotonic() + 30
    while not blocked():
        assert time.monotonic() < deadline, "the reader never blocked in its read"
        time.sleep(0.01)
    closer = threading.Thread(target=client.close, daemon=True)
    closer.start()
    closer.join(30)
    assert not closer.is_alive(), "close() waited on the blocked reader"
    assert ended.wait(30), "the watch did not end after close()"


# ``trap "" INT`` ignores SIGINT, and exec keeps that for the program it runs
SIGINT_IGNORED = ["sh", "-c", 'trap "" INT; exec "$0" "$@"']


def test_ctrl_c_ends_watch_and_talk_even_when_started_with_sigint_ignored(
        served: Served) -> None:
    # What a non-interactive shell does to everything it starts in the background: the
    # process begins with SIGINT ignored, and Python keeps that unless told otherwise.
    watch = subprocess.Popen([*SIGINT_IGNORED, sys.executable, "-m", "edged", "ctl",
                              "--socket", served.path, "watch"], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    talk = subprocess.Popen([*SIGINT_IGNORED, sys.executable, "-m", "edged", "ctl",
                             "--socket", served.path, "talk", "--seconds", "60"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None and talk.stdout is not None
        assert watch.stdout.readline().split()[2] == "state"
        assert talk.stdout.readline() == "listening\n"
        watch.send_signal(signal.SIGINT)
        talk.send_signal(signal.SIGINT)
        _, werr = watch.communicate(timeout=60)
        _, terr = talk.communicate(timeout=60)
    finally:
        for proc in (watch, talk):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (watch.returncode, werr) == (0, "")
    assert talk.returncode == 130 and "Traceback" not in terr
    served.wait_until(lambda: served.daemon.fed == [PttDown(), PttUp()])


# ``edged ctl`` in a child whose second thread, once the main thread is asleep in its
# read of the event stream, takes a SIGINT itself: Python's handler then runs in that
# thread and only marks the signal for the main thread, whose read is not interrupted.
# That is the state a Ctrl-C leaves when it lands just before a blocking read starts
# (CPython checks for signals between bytecodes), made certain instead of rare.
LATE_CTRL_C = """
import os, signal, sys, threading
from edged.cli import main

def ctrl_c_while_asleep() -> None:
    stat = f"/proc/self/task/{threading.main_thread().native_id}/stat"
    while not printed.is_set() or open(stat).read().rsplit(")", 1)[1].split()[0] != "S":
        printed.wait(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

class Out:
    def write(self, text: str) -> int:
        n = sys.__stdout__.write(text)
        printed.set()
        return n
    def flush(self) -> None:
        sys.__stdout__.flush()

printed = threading.Event()
threading.Thread(target=ctrl_c_while_asleep, daemon=True).start()
sys.stdout = Out()
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_ends_watch_even_when_it_lands_just_before_a_read(served: Served) -> None:
    proc = subprocess.Popen([sys.executable, "-c", LATE_CTRL_C, "ctl", "--socket", served.path,
                             "watch"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=60)  # no event comes after the first
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("watch still running 60 s after a Ctrl-C that landed just "
                             "before its read") from None
    assert (proc.returncode, err) == (0, "")
    assert out.split()[1:3] == ["idle", "state"]
