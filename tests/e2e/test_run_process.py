"""The ``edged run`` process as systemd runs it: sd_notify, reload, SIGTERM, journald.

Real everything: the daemon process on PulseAudio virtual devices (PyAudio), the
simulator over loopback, a NOTIFY_SOCKET listener, and (as root) journald through
the test rig, read back with journalctl. Every wait is for an event (a datagram, a
journal record, a client event at the simulator), with a generous timeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from edged.rig.process import start_edged, stop_edged
from edged.simulator import SimulatorThread
from tests.e2e.daemon_rig import ROOT, WAIT_S, wait
from tests.rigs.journald import Journal
from tests.rigs.notify import NotifyListener
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

FAKE_KEY = "sk-e2e-Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    notify: NotifyListener
    sim: SimulatorThread
    config: Path
    doc: dict[str, Any]
    logs: Path

    def write(self, doc: dict[str, Any] | str) -> None:
        self.config.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))

    def voices(self) -> list[str | None]:
        """The voice of every session.update the simulator received."""
        return [e["session"].get("audio", {}).get("output", {}).get("voice")
                for _, e in self.sim.events() if e["type"] == "session.update"]


def config_doc(url: str, tmp: Path) -> dict[str, Any]:
    return {
        "control": {"socket": str(tmp / "control.sock")},
        "audio": {"input_device": "edged_mic", "output_device": "edged_spk"},
        "controls": {"enabled": False},
        "realtime": {"provider": "custom", "url": url, "voice": "alloy"},
        "credentials": {"credential": None, "key_file": None, "env": "EDGED_TEST_KEY"},
        "health": {"interval_s": 1},
    }


@pytest.fixture
def running(pulse: PulseRig, notify_socket: NotifyListener, tmp_path: Path) -> Iterator[Running]:
    with SimulatorThread(answer="echo", pace=4.0) as sim:
        path = tmp_path / "edged.yaml"
        doc = config_doc(sim.url, tmp_path)
        path.write_text(yaml.safe_dump(doc))
        env = {**pulse.env, **notify_socket.env(), "PYTHONPATH": str(ROOT),
               "EDGED_TEST_KEY": FAKE_KEY, "WATCHDOG_USEC": "1000000"}
        logs = tmp_path / "edged.log"
        with logs.open("wb") as out:
            proc = start_edged(path, env, out)
        try:
            yield Running(proc, notify_socket, sim, path, doc, logs)
        finally:
            stop_edged(proc)
        text = logs.read_text(errors="replace")
        assert "Traceback" not in text, text
        assert FAKE_KEY not in text


def wait_link_up(r: Running) -> None:
    r.sim.wait_for_event("session.update", timeout=WAIT_S)
    r.notify.wait_for("READY=1", timeout=WAIT_S)
    r.notify.wait_until(lambda ds: any("link up" in d.fields.get("STATUS", "") for d in ds),
                        timeout=WAIT_S)


def test_ready_watchdog_and_clean_stop(running: Running) -> None:
    r = running
    ready = r.notify.wait_for("READY=1", timeout=WAIT_S)[0]
    assert "STATUS" in ready.fields
    # WATCHDOG_USEC=1 s: pings keep coming while the loop and audio callbacks are alive
    r.notify.wait_for("WATCHDOG=1", after=ready.t, count=4, timeout=WAIT_S)
    wait_link_up(r)
    up = time.monotonic()
    r.notify.wait_for("WATCHDOG=1", after=up, count=2, timeout=WAIT_S)
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=WAIT_S) == 0
    assert r.notify.having("STOPPING=1")


def test_reload_applies_voice_without_reconnect_and_refuses_a_bad_file_with_file_line(
        running: Running, journald: Journal, journal_cursor: str | None) -> None:
    r = running
    wait_link_up(r)
    connections = r.sim.connections()
    # a good reload: a new voice goes out as session.update on the same connection
    r.write({**r.doc, "realtime": {**r.doc["realtime"], "voice": "echo"}})
    before = time.monotonic()
    r.proc.send_signal(signal.SIGHUP)
    reloading = r.notify.wait_for("RELOADING=1", after=before, timeout=WAIT_S)[0]
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0
    r.notify.wait_for("READY=1", after=reloading.t, timeout=WAIT_S)
    [applied] = journald.mine(journal_cursor, "EDGED_RELOAD=applied", pid=r.proc.pid,
                              timeout=WAIT_S)
    assert applied["EDGED_CHANGED"] == "realtime.voice"
    wait(lambda: "echo" in r.voices(), "a session.update with the new voice")
    assert r.sim.connections() == connections

    # a bad file: refused with file:line at error priority; it runs on, on the old config
    r.write("realtime:\n  voice: echo\n  vocie: x\naudio:\n  frame_ms: 3\n")
    before = time.monotonic()
    r.proc.send_signal(signal.SIGHUP)
    reloading = r.notify.wait_for("RELOADING=1", after=before, timeout=WAIT_S)[0]
    ready = r.notify.wait_for("READY=1", after=reloading.t, timeout=WAIT_S)[0]
    refused = journald.mine(journal_cursor, "EDGED_RELOAD=refused", pid=r.proc.pid,
                            timeout=WAIT_S, until=lambda es: any(
                                "still running on the previous config" in e["MESSAGE"]
                                for e in es))
    said = [e["MESSAGE"] for e in refused]
    assert f"reload refused: {r.config}:3: realtime.vocie: unknown key; did you mean " \
           "'voice'?" in said, said
    assert any(m.startswith(f"reload refused: {r.config}:5: audio.frame_ms:") for m in said)
    assert {e["PRIORITY"] for e in refused} == {"3"}
    # still alive, still pinging, still on the first connection
    r.notify.wait_for("WATCHDOG=1", after=ready.t, count=2, timeout=WAIT_S)
    assert r.proc.poll() is None
    assert r.sim.connections() == connections
    assert len(journald.read("EDGED_RELOAD=applied", f"_PID={r.proc.pid}",
                             after=journal_cursor)) == 1
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=WAIT_S) == 0


def test_journal_has_health_records_state_fields_and_no_key(running: Running,
                                                            journald: Journal,
                                                            journal_cursor: str | None) -> None:
    r = running
    wait_link_up(r)
    pid = r.proc.pid
    health = journald.mine(journal_cursor, "EDGED_KIND=health", pid=pid, count=2,
                           timeout=WAIT_S)
    rec = health[-1]
    for name in ("EDGED_STATE", "EDGED_LINK", "EDGED_RSS_MB", "EDGED_CPU_PCT"):
        assert name in rec, sorted(rec)
    assert rec["EDGED_LINK"] == "up"
    links = journald.mine(journal_cursor, "EDGED_KIND=link", pid=pid, timeout=WAIT_S)
    assert any(e.get("EDGED_LINK") == "up" for e in links)
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=WAIT_S) == 0
    everything = journald.read(f"_PID={pid}", after=journal_cursor)
    assert everything
    assert FAKE_KEY not in json.dumps(everything)
    assert FAKE_KEY[:12] not in json.dumps(everything)
