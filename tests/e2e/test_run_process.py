"""The ``edged run`` process as systemd runs it: sd_notify, reload, SIGTERM, journald.

Real everything: the daemon process on PulseAudio virtual devices (PyAudio), the
simulator over loopback, a NOTIFY_SOCKET listener, and (as root) a real journald.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edged.simulator import SimulatorThread
from tests.rigs.journald import Journal
from tests.rigs.notify import NotifyListener
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

FAKE_KEY = "sk-e2e-Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"


@dataclass
class Running:
    proc: subprocess.Popen[str]
    notify: NotifyListener
    sim: SimulatorThread
    config: Path
    doc: dict[str, object]

    def write(self, doc: dict[str, object] | str) -> None:
        self.config.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))


def config_doc(url: str, tmp: Path) -> dict[str, object]:
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
        env = {**pulse.env, **notify_socket.env(), "EDGED_TEST_KEY": FAKE_KEY,
               "WATCHDOG_USEC": "1000000"}
        proc = subprocess.Popen([sys.executable, "-m", "edged", "run", "--config", str(path)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            yield Running(proc, notify_socket, sim, path, doc)
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=10)
            assert "Traceback" not in err, err
            assert FAKE_KEY not in out + err


def wait_link_up(r: Running, timeout: float = 30.0) -> None:
    r.sim.wait_for_event("session.update", timeout=timeout)
    r.notify.wait_for("READY=1", timeout=timeout)


def test_ready_watchdog_and_clean_stop(running: Running) -> None:
    r = running
    ready = r.notify.wait_for("READY=1", timeout=30)[0]
    assert "STATUS" in ready.fields
    # WATCHDOG_USEC=1 s → pings every 0.5 s while the loop and audio callbacks are alive
    pings = r.notify.wait_for("WATCHDOG=1", after=ready.t, count=4, timeout=15)
    gaps = [b.t - a.t for a, b in itertools.pairwise(pings)]
    assert all(0.2 < g < 1.0 for g in gaps), gaps
    wait_link_up(r)
    r.notify.wait_until(lambda ds: any("link up" in d.fields.get("STATUS", "") for d in ds),
                        timeout=15)
    sent = time.monotonic()
    r.proc.send_signal(signal.SIGTERM)
    code = r.proc.wait(timeout=10)
    took = time.monotonic() - sent
    assert code == 0
    assert r.notify.having("STOPPING=1")
    assert took < 2.0, f"SIGTERM took {took:.2f} s"


def test_reload_applies_voice_without_reconnect_and_refuses_a_bad_file(running: Running) -> None:
    r = running
    wait_link_up(r)
    connections = r.sim.connections()
    # a good reload: a new voice goes out as session.update on the same connection
    doc = dict(r.doc)
    doc["realtime"] = {**r.doc["realtime"], "voice": "echo"}  # type: ignore[dict-item]
    r.write(doc)
    before = time.monotonic()
    r.proc.send_signal(signal.SIGHUP)
    reloading = r.notify.wait_for("RELOADING=1", after=before, timeout=10)[0]
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0
    r.notify.wait_for("READY=1", after=reloading.t, timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        voices = [e["session"].get("audio", {}).get("output", {}).get("voice")
                  for _, e in r.sim.events() if e["type"] == "session.update"]
        if "echo" in voices:
            break
        time.sleep(0.05)
    assert "echo" in voices
    assert r.sim.connections() == connections
    # a bad file: refused with file:line, the daemon keeps running on the old config
    r.write("realtime:\n  voice: echo\n  vocie: x\naudio:\n  frame_ms: 3\n")
    before = time.monotonic()
    r.proc.send_signal(signal.SIGHUP)
    reloading = r.notify.wait_for("RELOADING=1", after=before, timeout=10)[0]
    r.notify.wait_for("READY=1", after=reloading.t, timeout=10)
    time.sleep(1.0)
    assert r.proc.poll() is None
    assert r.sim.connections() == connections
    pings_after = r.notify.wait_for("WATCHDOG=1", after=reloading.t, count=2, timeout=10)
    assert pings_after
    r.proc.send_signal(signal.SIGTERM)
    _, err = r.proc.communicate(timeout=10)
    if not os.path.exists("/run/systemd/journal/socket"):  # logged to stderr instead
        assert f"{r.config}:3: realtime.vocie:" in err
        assert f"{r.config}:5: audio.frame_ms:" in err


def test_journal_has_health_records_state_fields_and_no_key(running: Running,
                                                            journald: Journal,
                                                            journal_cursor: str | None) -> None:
    r = running
    wait_link_up(r)
    pid = r.proc.pid
    health = journald.mine(journal_cursor, "EDGED_KIND=health", pid=pid, count=2, timeout=20)
    rec = health[-1]
    for name in ("EDGED_STATE", "EDGED_LINK", "EDGED_RSS_MB", "EDGED_CPU_PCT"):
        assert name in rec, sorted(rec)
    assert rec["EDGED_LINK"] == "up"
    links = journald.mine(journal_cursor, "EDGED_KIND=link", pid=pid)
    assert any(e.get("EDGED_LINK") == "up" for e in links)
    # a bad reload is logged at error priority with file:line
    r.write("audio:\n  frame_ms: 3\n")
    r.proc.send_signal(signal.SIGHUP)
    refused = journald.mine(journal_cursor, "EDGED_RELOAD=refused", pid=pid, timeout=15)
    assert refused[0]["PRIORITY"] == "3"
    assert f"{r.config}:2: audio.frame_ms:" in refused[0]["MESSAGE"]
    r.proc.send_signal(signal.SIGTERM)
    r.proc.wait(timeout=10)
    everything = journald.read(f"_PID={pid}", after=journal_cursor)
    assert everything
    assert FAKE_KEY not in json.dumps(everything)
    assert FAKE_KEY[:12] not in json.dumps(everything)
