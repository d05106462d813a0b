"""A server that quotes the API key, or sends text UTF-8 cannot hold, against the REAL
``edged run`` process.

Real everything: the daemon on PulseAudio virtual devices, the simulator over
loopback (its ``quote_key`` and ``surrogate`` faults), the control socket with
``edged ctl`` as separate processes, and (as root) a real journald read back with
journalctl and ``edged status``. The check is the strictest there is: no 8
consecutive characters of the key, anywhere a person or program can read them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from edged.rig.process import start_edged, stop_edged
from edged.simulator import Fault, SimulatorThread
from tests.leaks import secret_runs
from tests.rigs.ctl import Watcher
from tests.rigs.journald import Entry, Journal
from tests.rigs.notify import NotifyListener
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

SK_KEY = "sk-e2e-Qm4Vx8Rt2Lp6Wn9Zb3Hc7Jd1"
PLAIN_KEY = "Tn6Vb8Yc1Ud3Hk5Jf0Gs2Wm9"  # no prefix and too short for any shape rule
WAIT_S = 60.0  # generous: a loaded machine, the null sink's 2 s idle blocks


@dataclass
class Edged:
    proc: subprocess.Popen[bytes]
    sim: SimulatorThread
    notify: NotifyListener
    socket: str
    logs: Path
    key: str

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edged", "ctl", "--socket", self.socket,
                               *args], capture_output=True, text=True, timeout=WAIT_S,
                              check=False)


@pytest.fixture
def edged_run(request: pytest.FixtureRequest, pulse: PulseRig, notify_socket: NotifyListener,
              tmp_path: Path) -> Iterator[Edged]:
    key: str = getattr(request, "param", SK_KEY)
    with SimulatorThread(answer="echo", pace=4.0) as sim:
        sock = str(tmp_path / "control.sock")
        config = tmp_path / "edged.yaml"
        config.write_text(yaml.safe_dump({
            "control": {"socket": sock},
            "audio": {"input_device": "edged_mic", "output_device": "edged_spk"},
            "controls": {"enabled": False},
            "realtime": {"provider": "custom", "url": sim.url, "voice": "alloy"},
            "credentials": {"credential": None, "key_file": None, "env": "EDGED_TEST_KEY"},
            "health": {"interval_s": 1},
        }))
        logs = tmp_path / "edged.log"
        with logs.open("wb") as out:
            proc = start_edged(
                config, {**pulse.env, **notify_socket.env(), "EDGED_TEST_KEY": key}, out)
        run = Edged(proc, sim, notify_socket, sock, logs, key)
        try:
            sim.wait_for_event("session.update", timeout=WAIT_S)
            notify_socket.wait_until(
                lambda ds: any("link up" in d.fields.get("STATUS", "") for d in ds),
                timeout=WAIT_S)
            yield run
        finally:
            stop_edged(proc)
            text = logs.read_text(errors="replace")
            assert "Traceback" not in text, text
            assert secret_runs(key, text) == [], text
            assert "cannot write to the journal" not in text, text


def bad_server_error(run: Edged, fault: Fault) -> tuple[Watcher, dict[str, Any]]:
    """Subscribe, then have the next connection's server send ``fault``'s error: the
    watcher and the ``server_error`` event it saw."""
    watcher = Watcher(run.socket)
    watcher.wait_for(lambda e: e["event"] == "state", "subscription (its first state line)",
                     WAIT_S)
    run.sim.inject(fault)
    run.sim.drop_all()  # the daemon reconnects; that handshake gets the fault
    event = watcher.wait_for(lambda e: e["event"] == "server_error", "server_error event",
                             WAIT_S)
    return watcher, event


def health_after(journald: Journal, cursor: str | None, run: Edged,
                 last_error: Callable[[str], bool]) -> list[Entry]:
    """The daemon's health records, once one whose last error passes ``last_error`` is in."""
    return journald.mine(cursor, "EDGED_KIND=health", pid=run.proc.pid, timeout=WAIT_S,
                         until=lambda es: any(last_error(e.get("EDGED_LAST_ERROR", ""))
                                              for e in es))


@pytest.mark.parametrize("edged_run", [SK_KEY, PLAIN_KEY], indirect=True,
                         ids=["sk-key", "prefix-free-key"])
def test_a_server_quoting_the_key_shows_no_run_of_it_anywhere(
        edged_run: Edged, journald: Journal, journal_cursor: str | None) -> None:
    r = edged_run
    watcher, event = bad_server_error(r, Fault.quote_key())
    status, as_json = r.ctl("status"), r.ctl("status", "--json")
    health = health_after(journald, journal_cursor, r, lambda e: "invalid_api_key" in e)
    journald.mine(journal_cursor, pid=r.proc.pid, timeout=WAIT_S, until=lambda es: any(
        e.get("MESSAGE", "").startswith("realtime server error invalid_api_key") for e in es))
    edged_status = [subprocess.run([sys.executable, "-m", "edged", "status", *args],
                                   capture_output=True, text=True, timeout=WAIT_S, check=False)
                    for args in ((), ("--json",))]
    err = watcher.stop(WAIT_S)
    watched = "".join(watcher.raw) + err
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=20) == 0
    everything = journald.read(f"_PID={r.proc.pid}", after=journal_cursor)

    shown = {
        "ctl status": status.stdout + status.stderr,
        "ctl status --json": as_json.stdout + as_json.stderr,
        "ctl watch --json": watched,
        "journal": json.dumps(everything, ensure_ascii=False),
        "edged status": "".join(s.stdout + s.stderr for s in edged_status),
    }
    assert {where: secret_runs(r.key, text) for where, text in shown.items()} == {
        where: [] for where in shown}
    # ...and each of them still said what happened
    assert event["data"]["code"] == "invalid_api_key"
    assert event["data"]["message"].startswith(
        "Incorrect API key provided: [redacted] (read as [redacted])"), event
    assert status.returncode == 0 and "invalid_api_key" in status.stdout, status
    assert as_json.returncode == 0, as_json
    last_error = json.loads(as_json.stdout)["health"]["last_error"]
    assert "invalid_api_key" in last_error and "[redacted]" in last_error, last_error
    assert any("[redacted]" in e.get("EDGED_LAST_ERROR", "") for e in health)
    assert all(s.returncode == 0 for s in edged_status), edged_status
    assert len(everything) > len(health)


def test_a_lone_surrogate_from_the_server_blinds_nothing(
        edged_run: Edged, journald: Journal, journal_cursor: str | None) -> None:
    r = edged_run
    watcher, event = bad_server_error(r, Fault.surrogate())
    assert event["data"]["message"] == "The server failed on character \ufffd here."

    status = r.ctl("status")
    assert status.returncode == 0, status.stderr
    assert "server_error" in status.stdout
    as_json = r.ctl("status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert "\ufffd here" in json.loads(as_json.stdout)["health"]["last_error"]

    # the next health record reaches the journal, bad character replaced
    health = health_after(journald, journal_cursor, r, lambda e: "server_error" in e)
    [record] = [e for e in health if "server_error" in e.get("EDGED_LAST_ERROR", "")][:1]
    assert "\ufffd here" in record["EDGED_LAST_ERROR"]
    assert "\ufffd here" in json.loads(record["EDGED_RECORD"])["health"]["last_error"]
    # and so do the health records after it
    journald.mine(journal_cursor, "EDGED_KIND=health", pid=r.proc.pid, timeout=WAIT_S,
                  until=lambda es: len(es) >= health.index(record) + 3)
    watcher.stop(WAIT_S)
