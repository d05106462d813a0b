"""Reloads against the real ``edged run``: bursts of SIGHUP, in-place audio keys, ctl reload.

Real everything: the daemon process with PyAudio on the PulseAudio rig's paced
virtual devices, the simulator over loopback, the control socket and ``edged ctl``
as a separate process. What PulseAudio reports (the playback and record streams
owned by the daemon's pid, and their indices) is the independent witness of how
many audio engines are alive and whether a reload reopened the devices.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from edged.control.client import ControlClient, ControlError
from edged.rig.process import start_edged, stop_edged
from edged.simulator import SimulatorThread
from tests.rigs.journald import Journal
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-reload-Kq2Vn7Rw4Tx9Zm3Pb8Ly"


@dataclass
class Edged:
    proc: subprocess.Popen[bytes]
    sim: SimulatorThread
    pulse: PulseRig
    config: Path
    socket: str
    logs: Path
    doc: dict[str, Any]

    def write(self, **audio: Any) -> None:
        doc = {**self.doc, "audio": {**self.doc["audio"], **audio}}
        self.config.write_text(yaml.safe_dump(doc))

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edged", "ctl", "--socket", self.socket,
                               *args], capture_output=True, text=True, timeout=90,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)

    def streams(self) -> dict[str, list[str]]:
        """The daemon's PulseAudio streams: playback (sink inputs) and record (source
        outputs), by index."""
        out: dict[str, list[str]] = {}
        for kind in ("sink-inputs", "source-outputs"):
            text = self.pulse.pactl("list", kind)
            blocks = text.split("\n\n")
            out[kind] = [b.split("#", 1)[1].split()[0] for b in blocks
                         if f'application.process.id = "{self.proc.pid}"' in b]
        return out

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def alive(self) -> None:
        assert self.proc.poll() is None, self.logs.read_text(errors="replace")[-4000:]


def wait(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def edged_run(pulse: PulseRig, tmp_path: Path) -> Iterator[Edged]:
    with SimulatorThread(answer="echo", pace=4.0) as sim:
        sock = str(tmp_path / "control.sock")
        config = tmp_path / "edged.yaml"
        doc: dict[str, Any] = {
            # standby off: the streams must stay put unless a reload reopens them
            "audio": {"input_device": "edged_mic", "output_device": "edged_spk",
                      "standby_after_s": 0, "volume": 1.0},
            "controls": {"enabled": False},
            "realtime": {"provider": "custom", "url": sim.url},
            "credentials": {"credential": None, "key_file": None, "env": "EDGED_TEST_KEY"},
            "control": {"socket": sock},
        }
        config.write_text(yaml.safe_dump(doc))
        logs = tmp_path / "edged.log"
        with logs.open("wb") as out:
            proc = start_edged(
                config, {**pulse.env, "PYTHONPATH": str(ROOT), "EDGED_TEST_KEY": FAKE_KEY}, out)
        run = Edged(proc, sim, pulse, config, sock, logs, doc)
        try:
            sim.wait_for_event("session.update", timeout=60)

            def link_up() -> bool:
                run.alive()
                with contextlib.suppress(ControlError), ControlClient(sock) as c:
                    return bool(c.request("status")["health"]["link"] == "up")
                return False

            wait(link_up, "the link to come up")
            wait(lambda: all(len(v) == 1 for v in run.streams().values()),
                 "one stream per direction")
            yield run
        finally:
            stop_edged(proc)
            text = logs.read_text(errors="replace")
        assert "Traceback" not in text, text
        assert proc.returncode == 0, text[-4000:]


def settle(r: Edged) -> None:
    """Wait until every reload asked for so far is done: reloads are serialised, so the
    answer to a ``ctl reload`` comes after all of them."""
    done = r.ctl("reload")
    assert done.returncode == 0, done.stdout + done.stderr


def test_volume_is_applied_in_place_and_a_rate_change_reopens_once(edged_run: Edged) -> None:
    r = edged_run
    before = r.streams()
    r.write(volume=0.5, sounds_volume=0.2, half_duplex=True)
    done = r.ctl("reload")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == \
        "applied: audio.volume, audio.half_duplex, audio.sounds_volume"
    assert r.streams() == before  # the same PulseAudio streams: nothing was reopened
    r.write(volume=0.5, sounds_volume=0.2, half_duplex=True, output_rate=44100)
    done = r.ctl("reload")
    assert done.stdout.strip() == "applied: audio.output_rate", done.stderr
    wait(lambda: all(len(v) == 1 for v in r.streams().values()), "the reopened streams")
    after = r.streams()
    assert after["sink-inputs"] != before["sink-inputs"]  # reopened, and only once
    assert "44100" in r.pulse.pactl("list", "sink-inputs")


def test_bursts_of_sighup_neither_crash_nor_leak(edged_run: Edged, journald: Journal,
                                                  journal_cursor: str | None) -> None:
    r = edged_run
    # warm up once through a full reopen, so lazily made threads (asyncio's own
    # executor) already exist when the baseline is taken
    r.write(output_rate=44100)
    settle(r)
    wait(lambda: all(len(v) == 1 for v in r.streams().values()), "reopened streams")
    base_threads, base_fds = r.threads(), r.fds()
    variants = [{"volume": 0.6, "output_rate": 48000}, {"volume": 0.7, "output_rate": 44100}]
    # two SIGHUPs 5 ms apart, ten times; each file changes the volume and a device rate
    for i in range(10):
        r.write(**variants[i % 2])
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.005)
        r.proc.send_signal(signal.SIGHUP)
        settle(r)
        r.alive()
    # twenty in one second
    for i in range(20):
        r.write(**variants[i % 2])
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
    settle(r)
    r.alive()
    wait(lambda: all(len(v) == 1 for v in r.streams().values()),
         "exactly one playback and one record stream")
    wait(lambda: r.threads() <= base_threads and r.fds() <= base_fds,
         f"threads and fds back to {base_threads} and {base_fds}", timeout=30)
    # the burst was merged, and the journal says so
    applied = journald.mine(journal_cursor, "EDGED_RELOAD=applied", pid=r.proc.pid)
    merged = [e for e in applied if int(e.get("EDGED_COALESCED", "0")) > 0]
    assert merged, [e["MESSAGE"] for e in applied]
    assert "coalesced into this one" in merged[0]["MESSAGE"]
    assert len(applied) < 40  # fewer reloads than signals
    status = r.ctl("status", "--json")
    assert status.returncode == 0, status.stderr


def test_ctl_reload_refuses_a_bad_file_with_file_line_and_keeps_running(
        edged_run: Edged) -> None:
    r = edged_run
    r.config.write_text("realtime:\n  voice: echo\n  vocie: x\naudio:\n  frame_ms: 3\n")
    done = r.ctl("reload")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"refused: {r.config}:3: realtime.vocie:") for line in lines), \
        done.stdout
    assert any(line.startswith(f"refused: {r.config}:5: audio.frame_ms:") for line in lines)
    r.alive()
    r.write()  # the original file again: nothing changed
    done = r.ctl("reload")
    assert (done.returncode, done.stdout.strip()) == (0, "applied: nothing changed")
