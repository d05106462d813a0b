"""The control server on a real asyncio loop and a real Unix socket.

What is asserted here is the server's own: the socket file, who may connect, the
protocol, bad clients, limits, subscriptions and push-to-talk holds. The daemon
behind it is the stand-in from ``stand_in`` (its conversation machine is the real
one, so phases and refusals are genuine); what the real daemon answers, its
``status`` figures above all, is in ``test_daemon_wiring`` and ``test_e2e_run``.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edged.config import ControlConfig
from edged.control import protocol as p
from edged.control.client import (
    EXIT_BUSY,
    Busy,
    ControlClient,
    NotRunning,
    Refused,
)
from edged.control.server import ControlServer, ControlUnavailable, start_control
from edged.conversation import (
    AlarmDue,
    Cancel,
    PttDown,
    PttUp,
    Say,
    Settings,
    Stop,
    WakeHold,
    WakePress,
)
from tests.control.stand_in import (
    WALL,
    Clock,
    Served,
    StandInDaemon,
    StandInTools,
    serving,
    serving_tools,
)
from tests.control.users import (
    FREE_A,
    GROUP,
    MEMBER,
    NOBODY,
    NOGROUP,
    ROOT_GROUP_STRANGER,
    STRANGER,
    Person,
    as_user,
    try_status,
)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as "
                               "another user (fork + setuid) or to give the socket a group")


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "control.sock"


@pytest.fixture
def served(sock_path: Path) -> Iterator[Served]:
    with serving(sock_path) as s:
        yield s


def raw(path: Path, timeout: float = 20.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


def exchange(s: socket.socket, line: bytes) -> dict[str, object]:
    s.sendall(line)
    return read_line(s)


def read_line(s: socket.socket) -> dict[str, object]:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            raise AssertionError(f"connection closed after {buf!r}")
        buf += chunk
    return p.decode(buf)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------- the socket file


def test_socket_is_0660_owned_by_the_daemons_group_and_removed_on_close(
        sock_path: Path) -> None:
    with serving(sock_path):
        st = os.stat(sock_path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == os.getegid()
    assert not sock_path.exists()


@ROOT_ONLY
def test_socket_is_given_to_the_configured_group(sock_path: Path) -> None:
    with serving(sock_path, group=grp.getgrgid(NOGROUP).gr_name):
        assert os.stat(sock_path).st_gid == NOGROUP


def test_unknown_group_is_a_clear_startup_error(sock_path: Path) -> None:
    with pytest.raises(ControlUnavailable, match="no group named 'no-such-grp'"):
        Served(replace(ControlConfig(), socket=str(sock_path), group="no-such-grp"),
               StandInDaemon())
    assert not sock_path.exists()


def test_a_stale_socket_is_replaced(sock_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()  # the file stays, nobody listens: what a killed daemon leaves
    with serving(sock_path), ControlClient(str(sock_path)) as c:
        assert c.request("status")["ok"] is True


def test_a_file_that_is_not_a_socket_is_never_replaced(sock_path: Path) -> None:
    sock_path.write_text("precious")
    with pytest.raises(ControlUnavailable, match="exists and is not a socket"):
        Served(replace(ControlConfig(), socket=str(sock_path)), StandInDaemon())
    assert sock_path.read_text() == "precious"


def test_a_socket_in_use_is_not_stolen(served: Served, sock_path: Path) -> None:
    with pytest.raises(ControlUnavailable, match="in use: is another edged running"):
        Served(replace(ControlConfig(), socket=str(sock_path)), StandInDaemon())
    with ControlClient(str(sock_path)) as c:  # the first server still owns it
        assert c.request("status")["ok"] is True


def test_start_control_is_off_when_disabled_and_logs_when_it_cannot(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    daemon = StandInDaemon()
    off = replace(ControlConfig(), enabled=False, socket=str(tmp_path / "a.sock"))
    assert asyncio.run(start_control(off, daemon)) is None
    assert not (tmp_path / "a.sock").exists()
    blocked = tmp_path / "b.sock"
    blocked.write_text("")
    bad = replace(ControlConfig(), socket=str(blocked))
    assert asyncio.run(start_control(bad, daemon)) is None
    assert "control socket unavailable" in caplog.text and "not a socket" in caplog.text
    assert daemon.listeners == []  # nothing half-installed


def test_the_socket_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "run" / "edged" / "control.sock"
    with serving(path), ControlClient(str(path)) as c:
        assert c.request("status")["ok"] is True


# ---------------------------------------------------------------------------- commands


def test_every_command_reaches_the_machine_as_the_button_event(served: Served) -> None:
    d = served.daemon
    with ControlClient(served.path) as c:
        assert c.request("ptt.press") == {"ok": True, "cmd": "ptt.press", "phase": "listening"}
        assert c.request("ptt.release")["phase"] == "thinking"
        assert c.request("cancel")["phase"] == "idle"
        assert c.request("mute")["phase"] == "muted"
        assert c.request("unmute")["phase"] == "idle"
        assert c.request("wake")["phase"] == "handsfree"
        assert c.request("wake")["phase"] == "idle"
        reply = c.request("say", text="what time is it", id=42)
        assert reply == {"ok": True, "cmd": "say", "id": 42, "phase": "thinking"}
    min_press = d.conversation.settings.min_press_ms
    assert d.fed == [PttDown(), PttUp(), Cancel(), WakeHold(), WakeHold(),
                     WakePress(min_press), WakePress(min_press), Say("what time is it")]


def test_mute_and_unmute_are_idempotent(served: Served) -> None:
    with ControlClient(served.path) as c:
        assert c.request("unmute") == {"ok": True, "cmd": "unmute", "phase": "idle",
                                       "changed": False}
        assert c.request("mute")["phase"] == "muted"
        assert c.request("mute") == {"ok": True, "cmd": "mute", "phase": "muted",
                                     "changed": False}
        assert c.request("unmute")["phase"] == "idle"
    assert served.daemon.fed == [WakeHold(), WakeHold()]  # one toggle each way, no more


def test_the_machines_refusals_come_back_as_errors(served: Served) -> None:
    with ControlClient(served.path) as c:
        c.request("mute")
        for cmd, fields in (("ptt.press", {}), ("wake", {}), ("say", {"text": "hi"})):
            with pytest.raises(Refused, match="muted") as info:
                c.request(cmd, **fields)
            assert info.value.reply is not None
            assert info.value.reply["code"] == p.REFUSED
            assert info.value.reply["phase"] == "muted"
        c.request("unmute")
        c.request("ptt.press")
        with pytest.raises(Refused, match="already listening"):
            c.request("ptt.press")


def test_wake_counts_as_a_press_whatever_min_press_ms_is(sock_path: Path) -> None:
    with serving(sock_path, StandInDaemon(Settings(min_press_ms=5000))) as s, \
            ControlClient(s.path) as c:
        assert c.request("wake")["phase"] == "handsfree"


def test_subscribe_streams_state_changes_in_order(served: Served) -> None:
    with ControlClient(served.path) as watcher, ControlClient(served.path) as actor:
        events = watcher.events()
        first = next(events)
        assert first["event"] == "state" and first["phase"] == "idle"
        assert first["data"] == {"link": "up"}
        actor.request("ptt.press")
        actor.request("ptt.release")
        actor.request("cancel")
        seen: list[tuple[object, object]] = []
        while ("transition", "idle") not in seen:
            ev = next(events)
            assert isinstance(ev["ts"], float) and abs(ev["ts"] - time.time()) < 60
            seen.append((ev["event"], ev["phase"]))
        transitions = [ph for kind, ph in seen if kind == "transition"]
        assert transitions == ["listening", "thinking", "idle"]
        assert ("turn_started", "idle") in seen  # noticed before the transition lands


# ---------------------------------------------------------------------------- tools


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tooled(sock_path: Path, tmp_path: Path, clock: Clock) -> Iterator[Served]:
    with serving_tools(sock_path, tmp_path / "state", clock) as s:
        yield s


def tools_of(served: Served) -> StandInTools:
    tools = served.daemon.tools
    assert tools is not None
    return tools


def hhmm(seconds_after_start: float) -> str:
    return time.strftime("%H:%M", time.localtime(WALL + seconds_after_start))


def test_volume_reads_sets_and_moves_within_0_to_100(tooled: Served) -> None:
    tools = tools_of(tooled)
    with ControlClient(tooled.path) as c:
        assert c.request("volume") == {"ok": True, "cmd": "volume", "phase": "idle",
                                       "level": 60}
        assert c.request("volume", level=35)["level"] == 35
        assert c.request("volume", change=-10)["level"] == 25
        assert c.request("volume", change="up")["level"] == 35  # one tools.volume_step
        assert c.request("volume", change="down")["level"] == 25
        assert c.request("volume", change=100)["level"] == 100  # clamped
        assert c.request("volume", change=5) == {"ok": True, "cmd": "volume", "phase": "idle",
                                                 "level": 100, "changed": False}
        assert c.request("volume", level=0)["level"] == 0
        assert c.request("volume", change=-1)["changed"] is False
    assert tools.level == 0
    volume_events = [f for kind, f in tooled.daemon.notices if kind == "volume"]
    assert volume_events == [{"level": n} for n in (35, 25, 35, 25, 100, 0)]  # no-ops: none
    assert tooled.daemon.fed == []  # nothing reaches the conversation machine


def test_timers_list_soonest_first_with_time_left_and_clock_time(
        sock_path: Path, tmp_path: Path) -> None:
    clock = Clock(synced=False)
    with serving_tools(sock_path, tmp_path, clock) as served, \
            ControlClient(served.path) as c:
        assert c.request("timers") == {"ok": True, "cmd": "timers", "phase": "idle",
                                       "timers": [], "ringing": []}
        service = tools_of(served).timers
        served.on_loop(lambda: service.set_alarm(7, 30, "wake up"))  # no clock: can't tell
        clock.synced = True
        c.request("timers.set", seconds=600, label="pasta")
        c.request("timers.set", seconds=90)
        clock.advance(2.4)
        assert c.request("timers")["timers"] == [
            {"id": "t3", "kind": "timer", "label": None, "remaining_s": 88,
             "rings_at": hhmm(92)},
            {"id": "t2", "kind": "timer", "label": "pasta", "remaining_s": 598,
             "rings_at": hhmm(602)},
            {"id": "t1", "kind": "alarm", "label": "wake up", "remaining_s": None,
             "rings_at": None},
        ]
        clock.synced = False  # a timer still counts down, but its clock time is unknown
        assert c.request("timers")["timers"][0] == {
            "id": "t3", "kind": "timer", "label": None, "remaining_s": 88, "rings_at": None}


def test_timers_set_replies_the_timer_and_the_services_refusal(tooled: Served) -> None:
    with ControlClient(tooled.path) as c:
        reply = c.request("timers.set", seconds=599.6, label="  eggs ", id=9)
        assert reply == {"ok": True, "cmd": "timers.set", "id": 9, "phase": "idle",
                         "timer": {"id": "t1", "kind": "timer", "label": "eggs",
                                   "remaining_s": 600, "rings_at": hhmm(599.6)}}
        c.request("timers.set", seconds=60)
        c.request("timers.set", seconds=60)
        with pytest.raises(Refused, match="there are already 3 timers and alarms set") as info:
            c.request("timers.set", seconds=60)  # max_timers is 3 here
        assert info.value.reply is not None and info.value.reply["code"] == p.REFUSED
    assert len(tools_of(tooled).timers) == 3


def test_timers_cancel_by_id_label_or_all(tooled: Served) -> None:
    with ControlClient(tooled.path) as c:
        for seconds, label in ((60, "pasta"), (120, "Pasta"), (180, "eggs")):
            c.request("timers.set", seconds=seconds, label=label)
        assert c.request("timers.cancel", which="PASTA")["cancelled"] == ["t1", "t2"]
        with pytest.raises(Refused, match=r"^no timer matches 'pasta'$") as info:
            c.request("timers.cancel", which="pasta")
        assert info.value.reply is not None and info.value.reply["code"] == p.REFUSED
        assert c.request("timers.cancel", which="t3") == {
            "ok": True, "cmd": "timers.cancel", "phase": "idle", "cancelled": ["t3"]}
        # "all" of nothing is done, not refused: a script may run it at any time
        assert c.request("timers.cancel", which="all")["cancelled"] == []
        c.request("timers.set", seconds=60)
        c.request("timers.set", seconds=60)
        assert c.request("timers.cancel", which="all")["cancelled"] == ["t1", "t2"]
        assert c.request("timers")["timers"] == []


def test_timer_changes_are_in_the_file(tooled: Served) -> None:
    service = tools_of(tooled).timers
    with ControlClient(tooled.path) as c:
        c.request("timers.set", seconds=300, label="tea")
        stored = json.loads(service.path.read_text())["timers"]
        assert [(t["id"], t["label"]) for t in stored] == [("t1", "tea")]
        c.request("timers.cancel", which="tea")
    assert json.loads(service.path.read_text())["timers"] == []


def test_stop_silences_a_ringing_alarm_and_otherwise_cancels(tooled: Served) -> None:
    d = tooled.daemon
    tooled.on_loop(lambda: d.handle(AlarmDue(("pasta", "t2"))))
    with ControlClient(tooled.path) as c:
        assert c.request("timers")["ringing"] == ["pasta", "t2"]
        assert c.request("stop") == {"ok": True, "cmd": "stop", "phase": "idle"}
        assert c.request("timers")["ringing"] == []
        stopped = [f for kind, f in d.notices if kind == "ring_stopped"]
        assert [(f["by"], f["labels"]) for f in stopped] == [("ctl", "pasta, t2")]
        c.request("ptt.press")
        assert c.request("ptt.release")["phase"] == "thinking"
        assert c.request("stop")["phase"] == "idle"  # nothing rings: as cancel
    assert d.fed == [Stop(), PttDown(), PttUp(), Stop()]


def test_status_tells_the_volume_and_the_next_timer(tooled: Served, clock: Clock) -> None:
    with ControlClient(tooled.path) as c:
        reply = c.request("status")
        assert (reply["volume"], reply["next_timer"]) == (60, None)
        c.request("timers.set", seconds=3600, label="bread")
        c.request("timers.set", seconds=600, label="pasta")
        clock.advance(2)
        reply = c.request("status")
    assert reply["volume"] == 60
    assert reply["next_timer"] == {"id": "t2", "kind": "timer", "label": "pasta",
                                   "remaining_s": 598, "rings_at": hhmm(600)}
    assert reply["health"]["state"] == "idle"  # and the rest as before


def test_without_tools_the_tool_commands_are_refused(served: Served) -> None:
    assert served.daemon.tools is None  # the daemon has not started them (yet)
    with ControlClient(served.path) as c:
        for cmd, fields in (("volume", {}), ("volume", {"level": 5}), ("timers", {}),
                            ("timers.cancel", {"which": "all"}),
                            ("timers.set", {"seconds": 60})):
            with pytest.raises(Refused, match=r"^tools are not running$") as info:
                c.request(cmd, **fields)
            assert info.value.reply == {"ok": False, "code": "refused",
                                        "error": "tools are not running", "cmd": cmd,
                                        "phase": "idle"}
        reply = c.request("status")
        assert (reply["volume"], reply["next_timer"]) == (None, None)
        assert c.request("stop")["phase"] == "idle"  # the machine's, not the tools'


def test_a_failing_tool_costs_one_reply_not_the_connection(
        tooled: Served, caplog: pytest.LogCaptureFixture) -> None:
    tools_of(tooled).broken = True
    with ControlClient(tooled.path) as c:
        with pytest.raises(Refused, match="could not handle it") as info:
            c.request("volume")
        assert info.value.reply is not None and info.value.reply["code"] == p.INTERNAL
        reply = c.request("status")  # the health figures still come
        assert reply["volume"] is None and reply["health"]["state"] == "idle"
        assert c.request("timers")["timers"] == []
    assert "the tools failed to handle volume" in caplog.text


def test_watchers_see_volume_events(tooled: Served) -> None:
    with ControlClient(tooled.path) as watcher, ControlClient(tooled.path) as actor:
        events = watcher.events()
        assert next(events)["event"] == "state"
        actor.request("volume", level=42)
        ev = next(events)
    assert (ev["event"], ev["phase"], ev["data"]) == ("volume", "idle", {"level": 42})


# ---------------------------------------------------------------------------- bad clients


GARBAGE = [
    b"\n", b"hello\n", b"\x00\x01\x02\xff\n", b'{"cmd": "status"\n', b"[1,2,3]\n",
    b'{"cmd": "rm -rf /"}\n', b'{"cmd": "say"}\n', b'{"cmd": "status", "x": 1}\n',
    b"[" * 60000 + b"\n", b'{"cmd": "say", "text": "' + b"\xc3\x28" + b'"}\n',
]


def test_garbage_gets_an_error_each_and_the_connection_still_works(served: Served) -> None:
    with contextlib.closing(raw(Path(served.path))) as s:
        for line in GARBAGE:
            reply = exchange(s, line)
            assert reply["ok"] is False and reply["error"], line[:20]
            assert reply["code"] in (p.BAD_JSON, p.BAD_REQUEST, p.UNKNOWN_COMMAND)
        assert exchange(s, b'{"cmd": "status"}\n')["ok"] is True
    assert served.daemon.fed == []


def test_a_last_line_without_newline_is_still_answered(served: Served) -> None:
    with contextlib.closing(raw(Path(served.path))) as s:
        s.sendall(b'{"cmd": "mute"}')
        s.shutdown(socket.SHUT_WR)
        assert read_line(s)["phase"] == "muted"


def test_a_1mb_line_is_refused_without_being_read(served: Served) -> None:
    s = raw(Path(served.path))
    sent: list[BaseException | int] = []

    def send() -> None:
        try:
            s.sendall(b"x" * (1 << 20) + b"\n")
            sent.append(1 << 20)
        except OSError as exc:
            sent.append(exc)

    writer = threading.Thread(target=send)
    writer.start()
    reply = read_line(s)
    writer.join(20)
    assert reply["ok"] is False and reply["code"] == p.LINE_TOO_LONG
    assert "65536" in str(reply["error"])
    # and the connection is closed (reset, on Linux, as the peer left data unread)
    with contextlib.suppress(ConnectionResetError):
        assert s.recv(10) == b""
    # The server stopped reading at the limit: the rest could never be delivered.
    assert isinstance(sent[0], BrokenPipeError | ConnectionResetError)
    s.close()
    with ControlClient(served.path) as c:
        assert c.request("status")["ok"] is True


def test_a_thousand_connect_disconnects_leave_nothing_behind(served: Served) -> None:
    path = Path(served.path)
    with ControlClient(served.path) as c:
        c.request("status")  # warm up: first-use allocations are not a leak
    served.wait_until(lambda: not served.server.clients)
    fds = served.on_loop(open_fds)
    cap = served.server.config.max_clients
    for i in range(1000):
        s = raw(path)
        if i % 3 == 0:
            exchange(s, b'{"cmd": "status"}\n')
        elif i % 3 == 1:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused: busy
                s.sendall(b'{"cmd": "sta')  # vanish mid-line
        s.close()
        if i % 50 == 0:  # the flood waits in the kernel's queue, not in the daemon
            assert served.on_loop(lambda: len(served.server._handlers)) <= cap
    served.wait_until(lambda: not served.server.clients and not served.server._handlers)
    assert served.on_loop(open_fds) <= fds
    with ControlClient(served.path) as c:
        assert c.request("status")["ok"] is True
    assert served.daemon.fed == []


def test_a_subscriber_that_never_reads_costs_bounded_memory(sock_path: Path) -> None:
    queue = 64
    with serving(sock_path, subscriber_queue=queue) as served:
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(20)
        stuck.connect(str(sock_path))
        assert exchange(stuck, b'{"cmd": "subscribe"}\n')["ok"] is True
        big = {"error": "x" * 900}
        def burst() -> None:
            for _ in range(100):
                served.daemon.emit("link", big)

        for _ in range(40):  # 40 × 100 events of ~1 KB: far beyond every buffer
            served.on_loop(burst)
            with ControlClient(served.path) as other:  # the daemon keeps answering
                assert other.request("status")["ok"] is True
        subs = served.on_loop(lambda: served.server.subscribers)
        assert len(subs) == 1
        sub = subs[0]
        outbox = sub.outbox
        assert outbox is not None
        assert served.on_loop(lambda: len(outbox)) <= queue
        assert outbox.dropped_total > 3000
        buffered = served.on_loop(sub.writer.transport.get_write_buffer_size)
        assert buffered <= 64 * 1024 + queue * 1024  # high-water mark + one outbox batch
        # When it finally reads, it learns how much it missed.
        stuck.settimeout(5)
        counts = 0
        with contextlib.suppress(TimeoutError):
            buf = b""
            served.on_loop(lambda: served.daemon.emit("link", {"state": "up"}))
            while True:
                chunk = stuck.recv(65536)
                buf += chunk
                if b'"event":"dropped"' in buf and buf.endswith(b"\n"):
                    break
        for line in buf.splitlines():
            ev = json.loads(line)
            if ev.get("event") == "dropped":
                counts += ev["data"]["count"]
        assert counts > 0
        stuck.close()


def test_a_client_that_never_reads_replies_blocks_only_itself(served: Served) -> None:
    hog = raw(Path(served.path))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(2)
    with contextlib.suppress(TimeoutError):
        for _ in range(5000):  # ~5 MB of status replies it will never read
            hog.sendall(b'{"cmd": "status"}\n')
    with ControlClient(served.path, timeout=10) as c:
        for _ in range(5):
            assert c.request("status")["ok"] is True
    hog.close()


def test_connections_are_capped_and_ctl_says_busy_not_gone(sock_path: Path) -> None:
    """Before: a full daemon looked like a missing one to ``edged ctl`` (exit 3)."""
    with serving(sock_path, max_clients=3) as served:
        held = [raw(sock_path) for _ in range(3)]
        for s in held:
            exchange(s, b'{"cmd": "status"}\n')
        with pytest.raises(Busy, match="busy: too many connections") as refused, \
                ControlClient(served.path) as c:
            c.request("status")
        assert refused.value.exit_code == EXIT_BUSY == 5
        cli = subprocess.run([sys.executable, "-m", "edged", "ctl", "--socket",
                              str(served.path), "status"], capture_output=True, text=True,
                             timeout=60, check=False)
        assert cli.returncode == EXIT_BUSY, cli.stdout + cli.stderr
        assert "edged is busy" in cli.stderr
        held.pop().close()
        served.wait_until(lambda: len(served.server.clients) == 2)
        with ControlClient(served.path) as c:
            assert c.request("status")["ok"] is True
        for s in held:
            s.close()


# ---------------------------------------------------------------------------- push-to-talk


def test_a_vanished_client_does_not_leave_the_mic_open(served: Served) -> None:
    c = ControlClient(served.path).connect()
    assert c.request("ptt.press")["phase"] == "listening"
    c.close()  # gone without a release
    served.wait_until(lambda: served.daemon.conversation.phase == "thinking")
    assert served.daemon.fed == [PttDown(), PttUp()]


def test_a_kept_press_outlives_its_connection_until_released(served: Served) -> None:
    with ControlClient(served.path) as c:
        assert c.request("ptt.press", keep=True)["phase"] == "listening"
    served.wait_until(lambda: not served.server.clients)  # its disconnect was handled
    assert served.on_loop(lambda: served.daemon.conversation.phase) == "listening"
    with ControlClient(served.path) as c:
        assert c.request("ptt.release")["phase"] == "thinking"


def test_a_disconnect_does_not_release_someone_elses_press(served: Served) -> None:
    first = ControlClient(served.path).connect()
    first.request("ptt.press")
    first.request("ptt.release")  # turn 1 is over
    with ControlClient(served.path) as second:
        second.request("cancel")
        second.request("ptt.press", keep=True)  # turn 2: not first's
        first.close()
        served.wait_until(lambda: len(served.server.clients) == 1)  # first's end handled
        assert served.on_loop(lambda: served.daemon.conversation.phase) == "listening"
        second.request("ptt.release")


# ---------------------------------------------------------------------------- who may connect


@ROOT_ONLY
def test_file_permissions_keep_strangers_out(open_dir: Path) -> None:
    path = open_dir / "control.sock"
    with serving(path) as served:
        said = as_user(STRANGER, try_status(path))
        assert said.startswith(f"denied: permission denied: {path}: only root and members "
                               "of group root may use it"), said
        assert served.daemon.fed == []


@ROOT_ONLY
def test_peer_credentials_refuse_strangers_even_through_an_open_socket(
        open_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = open_dir / "control.sock"
    with serving(path) as served:
        path.chmod(0o666)  # a mistake: the file no longer keeps anyone out
        said = as_user(STRANGER, try_status(path))
        assert said.startswith(f"denied: permission denied: uid {STRANGER.uid} is neither "
                               "root nor a member of group root"), said
        with ControlClient(served.path) as c:  # the daemon is unaffected
            assert c.request("status")["ok"] is True
        assert served.daemon.fed == []
    assert "control connection refused" in caplog.text
    assert [getattr(r, "fields", {}).get("peer_uid") for r in caplog.records
            if "control connection refused" in r.getMessage()] == [STRANGER.uid]


@ROOT_ONLY
def test_a_gid_is_never_taken_for_a_uid(open_dir: Path) -> None:
    """Group root is not the socket's group here, so a peer whose primary group is root's
    is a stranger: its gid is 0, its uid is not."""
    path = open_dir / "control.sock"
    with serving(path, group=str(GROUP)) as served:
        path.chmod(0o666)
        said = as_user(ROOT_GROUP_STRANGER, try_status(path))
        assert said.startswith(f"denied: permission denied: uid {ROOT_GROUP_STRANGER.uid} is "
                               f"neither root nor a member of group {GROUP}"), said
        assert served.daemon.fed == []


@ROOT_ONLY
def test_members_of_the_group_are_let_in(open_dir: Path) -> None:
    """By their process's group alone (``MEMBER`` is in no group database entry)."""
    path = open_dir / "control.sock"
    with serving(path, group=str(GROUP)):
        assert os.stat(path).st_gid == GROUP
        assert as_user(MEMBER, try_status(path)) == "ok idle"


@ROOT_ONLY
def test_members_by_the_group_database_are_let_in(open_dir: Path) -> None:
    """``nobody`` runs with another primary gid (as after ``sg``), holding its own group
    only as a supplementary one, which SO_PEERCRED does not carry: the daemon finds it
    in the group database (nobody's primary group there is nogroup)."""
    assert pwd.getpwuid(NOBODY).pw_gid == NOGROUP
    path = open_dir / "control.sock"
    with serving(path, group=grp.getgrgid(NOGROUP).gr_name):
        person = Person(NOBODY, FREE_A, groups=(NOGROUP,))
        assert as_user(person, try_status(path)) == "ok idle"


@ROOT_ONLY
def test_supplementary_members_of_the_group_are_let_in(open_dir: Path) -> None:
    for g in grp.getgrall():
        for name in g.gr_mem:
            with contextlib.suppress(KeyError):
                user = pwd.getpwnam(name)
                if user.pw_uid not in (0, user.pw_gid) and user.pw_gid != g.gr_gid:
                    break
        else:
            continue
        break
    else:
        pytest.skip("no non-root user is a supplementary member of a group on this system")
    path = open_dir / "control.sock"
    with serving(path, group=g.gr_name):
        said = as_user(Person(user.pw_uid, user.pw_gid, (g.gr_gid,)), try_status(path))
        assert said == "ok idle", said


def test_closing_ends_subscriptions(sock_path: Path) -> None:
    served = Served(replace(ControlConfig(), socket=str(sock_path)), StandInDaemon())
    try:
        c = ControlClient(str(sock_path)).connect()
        events = c.events()
        assert next(events)["event"] == "state"
    finally:
        served.close()
    with pytest.raises(NotRunning, match="closed the connection"):
        next(events)
    c.close()
    assert not sock_path.exists()
    assert served.daemon.listeners == []


def test_server_reports_its_path() -> None:
    server = ControlServer(ControlConfig(), StandInDaemon())
    assert server.path == "/run/edged/control.sock"
