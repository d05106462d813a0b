"""The real ``edged run`` for the end-to-end tests, and the ways they drive and watch it.

:func:`launch` starts the daemon process (``edged.rig.process``) with PyAudio on the
PulseAudio rig's paced virtual devices, against the simulator over loopback, and
waits until its link is up. The tests then edit the config file, reload it with
SIGHUP or ``edged ctl reload``, and watch what came of it: ``edged ctl`` as a
separate process, the journal (``tests/rigs/journald.py``), PulseAudio's own view
of the daemon's streams, and what the simulator received.
"""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edged.control.client import ControlClient, ControlError
from edged.rig.process import start_edged, stop_edged
from edged.simulator import SimulatorThread
from tests.rigs.ctl import Watcher
from tests.rigs.pulse import PulseRig

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0  # generous: a loaded machine, the null sink's slow first buffers
KEY = "sk-e2e-Hv3Nq8Wt5Ls1Yb7Rc4Mx"


def base_doc(url: str, socket: str) -> dict[str, Any]:
    """The config the daemon starts with: the rig's devices, no GPIO, the simulator."""
    return {
        # standby off: the streams must stay put unless a reload reopens them
        "audio": {"input_device": "edged_mic", "output_device": "edged_spk",
                  "standby_after_s": 0, "volume": 1.0},
        "controls": {"enabled": False},
        "realtime": {"provider": "custom", "url": url},
        "credentials": {"credential": None, "key_file": None, "env": "EDGED_TEST_KEY"},
        "control": {"socket": socket},
        # its own timers and volume, beside its socket
        "tools": {"state_dir": str(Path(socket).parent / "state")},
    }


def wait(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Edged:
    proc: subprocess.Popen[bytes]
    sim: SimulatorThread
    pulse: PulseRig
    config: Path
    socket: str
    logs: Path
    doc: dict[str, Any]

    def write(self, **sections: Mapping[str, Any]) -> dict[str, Any]:
        """Write the starting config with these sections' keys replaced; return it."""
        doc = copy.deepcopy(self.doc)
        for name, keys in sections.items():
            doc[name] = {**doc.get(name, {}), **keys}
        self.config.write_text(yaml.safe_dump(doc))
        return doc

    def ctl(self, *args: str, socket: str | None = None) -> subprocess.CompletedProcess[str]:
        """``edged ctl --socket SOCKET ARGS...`` as a separate process."""
        return subprocess.run(ctl_command(socket or self.socket, *args), capture_output=True,
                              text=True, timeout=WAIT_S * 1.5, env=ctl_env(), check=False)

    def status(self, socket: str | None = None) -> dict[str, Any]:
        with ControlClient(socket or self.socket) as client:
            return client.request("status")

    def streams(self) -> dict[str, list[str]]:
        """The daemon's PulseAudio streams: playback (sink inputs) and record (source
        outputs), by index."""
        out: dict[str, list[str]] = {}
        for kind in ("sink-inputs", "source-outputs"):
            blocks = self.pulse.pactl("list", kind).split("\n\n")
            out[kind] = [b.split("#", 1)[1].split()[0] for b in blocks
                         if f'application.process.id = "{self.proc.pid}"' in b]
        return out

    def one_stream_each_way(self) -> bool:
        return all(len(v) == 1 for v in self.streams().values())

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def output(self) -> str:
        return self.logs.read_text(errors="replace")

    def alive(self) -> None:
        assert self.proc.poll() is None, self.output()[-4000:]

    def link_up(self) -> bool:
        self.alive()
        with contextlib.suppress(ControlError, OSError):
            return bool(self.status()["health"]["link"] == "up")
        return False


def watch(r: Edged) -> Watcher:
    """``edged ctl watch --json`` on ``r``, once its subscription is up."""
    watcher = Watcher(r.socket, ctl_env())
    watcher.wait_for(lambda e: e["event"] == "state", "subscription (its first state line)",
                     WAIT_S)
    return watcher


def ctl_env() -> dict[str, str]:
    """``edged ctl`` runs from this checkout (a copy with a planted bug, too)."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def ctl_command(socket: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "edged", "ctl", "--socket", socket, *args]


@contextlib.contextmanager
def launch(pulse: PulseRig, tmp_path: Path, *, doc: Mapping[str, Mapping[str, Any]] | None = None,
           env: Mapping[str, str] | None = None) -> Iterator[Edged]:
    """``edged run`` on the rig against a fresh simulator, with ``doc``'s sections merged
    into :func:`base_doc`; yielded once the link is up and one stream runs each way.

    On exit it is stopped with SIGTERM and must exit 0 with no traceback in its output.
    """
    with SimulatorThread(answer="echo", pace=4.0) as sim:
        socket = str(tmp_path / "control.sock")
        start_doc = base_doc(sim.url, socket)
        for name, keys in (doc or {}).items():
            start_doc[name] = {**start_doc.get(name, {}), **keys}
        config = tmp_path / "edged.yaml"
        config.write_text(yaml.safe_dump(start_doc))
        logs = tmp_path / "edged.log"
        with logs.open("wb") as out:
            proc = start_edged(config, {**pulse.env, "PYTHONPATH": str(ROOT),
                                        "EDGED_TEST_KEY": KEY, **(env or {})}, out)
        run = Edged(proc, sim, pulse, config, str(start_doc["control"]["socket"]), logs,
                    start_doc)
        try:
            sim.wait_for_event("session.update", timeout=WAIT_S)
            wait(run.link_up, "the link to come up")
            wait(run.one_stream_each_way, "one stream per direction")
            yield run
        finally:
            stop_edged(proc)
        text = run.output()
        assert "Traceback" not in text, text
        assert proc.returncode == 0, f"edged run exited {proc.returncode}: {text[-4000:]}"
        assert KEY not in text
