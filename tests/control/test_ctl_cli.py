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

from edged.cli import build_parser, main
from edged.commands.ctl import parse_duration, parse_volume
from edged.control.client import ControlClient
from edged.conversation import AlarmDue, PttDown, PttUp, Say, Stop, WakeHold
from tests.control.stand_in import WALL, Clock, Served, StandInTools, serving, serving_tools
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


# ---------------------------------------------------------------------------- volume and timers


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tooled(tmp_path: Path, clock: Clock) -> Iterator[Served]:
    with serving_tools(tmp_path / "control.sock", tmp_path / "state", clock) as s:
        yield s


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "control.sock"


def tools_of(served: Served) -> StandInTools:
    tools = served.daemon.tools
    assert tools is not None
    return tools


def here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``edged ctl ARGS`` in this process (quicker than a new one for each line)."""
    capsys.readouterr()
    code = main(["ctl", *args])
    out, err = capsys.readouterr()
    return code, out, err


def hhmm(seconds_after_start: float) -> str:
    return time.strftime("%H:%M", time.localtime(WALL + seconds_after_start))


@pytest.mark.parametrize(("arg", "fields"), [
    (None, {}),
    ("60", {"level": 60}),
    ("0", {"level": 0}),
    ("100", {"level": 100}),
    ("+5", {"change": 5}),
    ("-10", {"change": -10}),
    ("-100", {"change": -100}),
    ("+", {"change": "up"}),
    ("-", {"change": "down"}),
    ("up", {"change": "up"}),
    ("DOWN", {"change": "down"}),
])
def test_volume_arguments(arg: str | None, fields: dict[str, object]) -> None:
    assert parse_volume(arg) == fields


@pytest.mark.parametrize("arg", ["101", "+101", "-101", "loud", "6O", "+-5", "5.5", ""])
def test_bad_volume_arguments(arg: str) -> None:
    with pytest.raises(ValueError, match="give a level 0-100, a change"):
        parse_volume(arg)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("1h", 3600), ("1h30m15s", 5415),
    ("2m5s", 125), ("1H 30M", 5400), ("24h", 86400), ("1", 1), ("0h1s", 1),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "fragment"), [
    ("0", "not 0 s"), ("0m", "not 0 s"), ("24h1s", "not 86401 s"), ("90x", "not a duration"),
    ("m", "not a duration"), ("", "not a duration"), ("1.5m", "not a duration"),
    ("30m1h", "not a duration"), ("-5", "not a duration"),
])
def test_bad_durations(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(text)


def test_negative_and_signed_levels_are_values_not_options() -> None:
    parser = build_parser()
    for argv, level in ((["ctl", "volume", "-10"], "-10"), (["ctl", "volume", "+5"], "+5"),
                        (["ctl", "volume", "-"], "-"),
                        (["ctl", "volume", "-10", "--socket", "/s"], "-10"),
                        (["ctl", "--socket", "/s", "volume", "-5"], "-5")):
        assert parser.parse_args(argv).level == level, argv
    args = parser.parse_args(["ctl", "timers", "set", "1h30m", "pasta", "sauce"])
    assert (args.timers_action, args.duration, args.label) == ("set", "1h30m",
                                                               ["pasta", "sauce"])


def test_volume_as_a_person_runs_it(tooled: Served) -> None:
    sock = ("--socket", tooled.path)
    for argv, shown in ((("volume",), "volume 60"), (("volume", "-10"), "volume 50"),
                        (("volume", "+5", *sock), "volume 55")):
        done = ctl(*sock, *argv)
        assert (done.returncode, done.stdout, done.stderr) == (0, shown + "\n", ""), argv


def test_volume_steps_clamps_and_says_when_nothing_changed(
        tooled: Served, capsys: pytest.CaptureFixture[str]) -> None:
    sock = ("--socket", tooled.path)
    for args, shown in ((("volume", "-"), "volume 50"), (("volume", "+"), "volume 60"),
                        (("volume", "95"), "volume 95"), (("volume", "+"), "volume 100"),
                        (("volume", "+5"), "volume 100 (no change)")):
        assert here(capsys, *sock, *args) == (0, shown + "\n", ""), args
    assert tools_of(tooled).level == 100


def test_bad_arguments_are_usage_errors_and_send_nothing(
        tooled: Served, capsys: pytest.CaptureFixture[str]) -> None:
    sock = ("--socket", tooled.path)
    for args, err in ((("volume", "101"), "volume '101': give a level 0-100, a change +N or "
                       "-N, or + / - (one step)"),
                      (("timers", "set", "0"), "a timer runs from 1 second to 24 hours "
                       "(86400 s), not 0 s"),
                      (("timers", "set", "25h", "bread"), "a timer runs from 1 second to 24 "
                       "hours (86400 s), not 90000 s"),
                      (("timers", "set", "10x"), "'10x' is not a duration: give seconds (90) "
                       "or a number with h, m, s (90s, 10m, 1h30m)"),
                      (("timers", "cancel", " "), "timers cancel needs an id (t1), a label, "
                       "or all")):
        assert here(capsys, *sock, *args) == (2, "", f"edged ctl: {err}\n"), args
    assert tools_of(tooled).level == 60
    assert len(tools_of(tooled).timers) == 0


def test_timers_set_list_and_cancel(tooled: Served, clock: Clock,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    sock = ("--socket", tooled.path)
    assert here(capsys, *sock, "timers") == (0, "no timers\n", "")
    assert here(capsys, *sock, "timers", "set", "10m", "pasta") == (
        0, f"t1: pasta in 10m 0s (at {hhmm(600)})\n", "")
    assert here(capsys, *sock, "timers", "set", "1h30m", "sour", " dough") == (
        0, f"t2: sour dough in 1h 30m 0s (at {hhmm(5400)})\n", "")
    assert here(capsys, *sock, "timers", "set", "90") == (
        0, f"t3: timer t3 in 1m 30s (at {hhmm(90)})\n", "")
    clock.advance(2)
    code, out, _ = here(capsys, *sock, "timers")
    assert code == 0
    assert out.splitlines() == [
        "ID  KIND   LABEL       REMAINING   RINGS AT",
        f"t3  timer  -           1m 28s      {hhmm(90)}",
        f"t1  timer  pasta       9m 58s      {hhmm(600)}",
        f"t2  timer  sour dough  1h 29m 58s  {hhmm(5400)}",
    ]
    code, out, _ = here(capsys, *sock, "timers", "--json")
    data = json.loads(out)
    assert data["ringing"] == [] and [t["id"] for t in data["timers"]] == ["t3", "t1", "t2"]
    assert data["timers"][1] == {"id": "t1", "kind": "timer", "label": "pasta",
                                 "remaining_s": 598, "rings_at": hhmm(600)}
    assert here(capsys, *sock, "timers", "cancel", "PASTA") == (0, "cancelled: t1\n", "")
    assert here(capsys, *sock, "timers", "cancel", "pasta") == (
        1, "", "edged ctl: no timer matches 'pasta'\n")
    assert here(capsys, *sock, "timers", "cancel", "all") == (0, "cancelled: t2, t3\n", "")
    assert here(capsys, *sock, "timers", "cancel", "all") == (
        0, "cancelled: nothing (no timers)\n", "")


def test_too_many_timers_is_the_daemons_refusal(
        sock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving_tools(sock, tmp_path / "state", max_timers=1) as served:
        assert here(capsys, "--socket", served.path, "timers", "set", "5m")[0] == 0
        code, out, err = here(capsys, "--socket", served.path, "timers", "set", "5m")
    assert (code, out) == (1, "")
    assert err == ("edged ctl: there are already 1 timers and alarms set (the most allowed); "
                   "cancel one first\n")


def test_timers_show_what_rings_and_stop_silences_it(
        tooled: Served, capsys: pytest.CaptureFixture[str]) -> None:
    sock = ("--socket", tooled.path)
    tooled.on_loop(lambda: tooled.daemon.handle(AlarmDue(("pasta",))))
    assert here(capsys, *sock, "timers") == (0, "no timers\nringing: pasta\n", "")
    assert here(capsys, *sock, "stop") == (0, "idle\n", "")
    assert here(capsys, *sock, "timers") == (0, "no timers\n", "")
    assert tooled.daemon.fed == [Stop()]
    assert [f["by"] for k, f in tooled.daemon.notices if k == "ring_stopped"] == ["ctl"]


def test_without_tools_the_commands_are_refused(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (("volume",), ("volume", "+"), ("timers",), ("timers", "cancel", "all"),
                 ("timers", "set", "1m")):
        assert here(capsys, "--socket", served.path, *args) == (
            1, "", "edged ctl: tools are not running\n"), args


def test_status_shows_the_volume_and_the_next_timer(
        tooled: Served, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    sock = ("--socket", tooled.path)
    code, out, _ = here(capsys, *sock, "status")
    assert code == 0
    assert out.splitlines()[-2:] == ["volume 60", "no timers"]
    here(capsys, *sock, "timers", "set", "10m", "pasta")
    clock.advance(2)
    code, out, _ = here(capsys, *sock, "status")
    assert out.splitlines()[0].startswith("edged health")
    assert out.splitlines()[-2:] == ["volume 60", f"next timer: pasta in 9m 58s (at {hhmm(600)})"]
    code, out, _ = here(capsys, *sock, "status", "--json")
    data = json.loads(out)
    assert data["volume"] == 60 and data["next_timer"]["remaining_s"] == 598


def test_status_without_tools_shows_no_tool_lines(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = here(capsys, "--socket", served.path, "status")
    assert code == 0
    assert out.splitlines()[-1].split()[0] == "utterances"  # the health table's last row


def test_watch_shows_tool_timer_and_volume_events(tooled: Served) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "edged", "ctl", "--socket", tooled.path,
                             "watch"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split()[1:3] == ["idle", "state"]
        d = tooled.daemon
        tooled.on_loop(lambda: d.emit("tool", {"tool": "set_timer", "call_id": "call_1",
                                               "ok": True, "duration_ms": 0.8,
                                               "output_bytes": 61}))
        tooled.on_loop(lambda: d.emit("timer", {"event": "set", "id": "t1",
                                                "what": "timer t1 'pasta'"}))
        with ControlClient(tooled.path) as c:
            c.request("volume", level=30)
        lines = [proc.stdout.readline().split(" ", 1)[1].rstrip("\n") for _ in range(3)]
    finally:
        err = interrupt(proc)
    assert (proc.returncode, err) == (0, "")
    assert lines == [
        "idle tool tool=set_timer call_id=call_1 ok=true duration_ms=0.8 output_bytes=61",
        "idle timer event=set id=t1 what=\"timer t1 'pasta'\"",
        "idle volume level=30",
    ]
