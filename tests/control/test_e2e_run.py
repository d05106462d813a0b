"""``edged ctl`` against the REAL ``edged run`` process.

Real everything: the daemon process with PyAudio on PulseAudio's paced virtual
devices (the pulse rig), the simulator over loopback WebSocket, the control
socket, and ``edged ctl`` as separate processes. Nothing is mocked: GPIO is off
(``controls.enabled: false``), which is exactly the case ``edged ctl`` is for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edged.control.client import ControlClient, ControlError
from edged.demo.scenario import utterance
from edged.rig.process import start_edged, stop_edged
from edged.simulator import SimulatorThread
from tests.control.users import as_user, try_status
from tests.rigs.ctl import Watcher
from tests.rigs.pulse import PulseRig

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-ctl-e2e-Hq3Rt8Wm1Zx6Vn4Pb2Ly"
TURN = ["input_audio_buffer.clear", "input_audio_buffer.append", "input_audio_buffer.commit",
        "response.create"]

pytestmark = pytest.mark.pulse


@dataclass
class Edged:
    proc: subprocess.Popen[bytes]
    sim: SimulatorThread
    socket: str
    logs: Path
    pulse: PulseRig

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edged", "ctl", "--socket", self.socket,
                               *args], capture_output=True, text=True, timeout=timeout,
                              env=env(), check=False)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture
def edged_run(pulse: PulseRig, open_dir: Path) -> Iterator[Edged]:
    with SimulatorThread(answer="tone", pace=4.0, tone_s=0.5) as sim:
        sock = str(open_dir / "control.sock")
        config = open_dir / "edged.yaml"
        config.write_text(yaml.safe_dump({
            "audio": {"input_device": "edged_mic", "output_device": "edged_spk",
                      "sounds": False},
            "controls": {"enabled": False},
            "realtime": {"provider": "custom", "url": sim.url},
            "credentials": {"credential": None, "key_file": None, "env": "OPENAI_API_KEY"},
            "control": {"socket": sock},
        }))
        logs = open_dir / "edged.log"
        with logs.open("wb") as out:
            proc = start_edged(
                config, {**pulse.env, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": FAKE_KEY}, out)
        run = Edged(proc, sim, sock, logs, pulse)
        try:
            sim.wait_for_event("session.update", timeout=60)
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, logs.read_text()
                with contextlib.suppress(ControlError), ControlClient(sock) as c:
                    if c.request("status")["health"]["link"] == "up":
                        break
                assert time.monotonic() < deadline, "the control socket never answered"
                time.sleep(0.1)
            yield run
        finally:
            stop_edged(proc)
            text = logs.read_text(errors="replace")
            assert "Traceback" not in text, text
            assert FAKE_KEY not in text
        assert proc.returncode == 0, text
        assert not Path(sock).exists()  # removed on a clean stop


def collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t or t != "input_audio_buffer.append":
            out.append(t)
    return out


def drain(s: socket.socket) -> bytes:
    """Everything the socket delivers until it has been quiet for its timeout."""
    data = b""
    with contextlib.suppress(TimeoutError):
        while chunk := s.recv(1 << 16):
            data += chunk
    return data


def test_a_turn_driven_by_ctl_talk(edged_run: Edged) -> None:
    r = edged_run
    watcher = Watcher(r.socket, env())
    watcher.until("state", "idle")
    # The rig's microphone is a null sink's monitor: freshly loaded and idle, the sink
    # renders in 2 s blocks, so a stream opened on it gets its first buffer 1.5–2 s late
    # (measured with a bare PyAudio stream; a USB microphone delivers at once). The
    # daemon opened it at start-up; a press before then would hold nothing to send.
    time.sleep(2.5)
    first = len(r.sim.events())
    talk = subprocess.Popen(
        [sys.executable, "-m", "edged", "ctl", "--socket", r.socket, "talk", "--seconds", "1.5"],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher.until("transition", "listening")
    r.pulse.feed_mic(utterance("weather")[: 24000 * 2], rate=24000)  # 1 s of speech
    out, err = talk.communicate(timeout=60)
    assert (talk.returncode, out, err) == (0, "listening\nthinking\n", "")
    watcher.until("transition", "speaking")
    watcher.until("transition", "idle")
    assert watcher.stop(timeout=30) == ""
    sent = [e for _, e in r.sim.events()[first:]]
    assert collapse([e["type"] for e in sent]) == TURN
    appended = sum(len(e["audio"]) * 3 // 4 for e in sent
                   if e["type"] == "input_audio_buffer.append")
    # The utterance reached the server: at least what a commit needs (100 ms at 24 kHz
    # PCM16). How much of the 1.5 s hold arrives depends on the rig's capture start-up.
    print(f"appended {appended / 48:.0f} ms of audio for a 1.5 s hold")
    assert appended >= 100 * 48
    phases = [e["phase"] for e in watcher.seen if e["event"] == "transition"]
    assert phases == ["listening", "thinking", "speaking", "idle"]


def test_abuse_leaves_the_daemon_answering_and_its_memory_flat(edged_run: Edged) -> None:
    r = edged_run
    path = r.socket
    with ControlClient(path) as c:  # warm up: first-use allocations are not growth
        for _ in range(20):
            c.request("status")
    before = r.rss_kb()

    # garbage, on one connection: an error each, and the connection stays usable
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        reader = s.makefile("rb")
        for line in (b"\n", b"\x00\xff garbage\n", b"[" * 50000 + b"\n", b'{"cmd": 1}\n',
                     b'{"cmd": "format-disk"}\n'):
            s.sendall(line)
            assert json.loads(reader.readline())["ok"] is False
        s.sendall(b'{"cmd": "status"}\n')
        assert json.loads(reader.readline())["ok"] is True
        reader.close()

    # a 1 MB line: refused at the limit, the connection dropped
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(b"y" * (1 << 20) + b"\n")
        reply = json.loads(s.makefile("rb").readline())
        assert reply["code"] == "line_too_long"

    # a thousand connect/disconnects (those beyond control.max_clients are refused and
    # closed by the daemon at once, so a write may meet a closed socket)
    for i in range(1000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            if i % 2:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    s.sendall(b'{"cmd": "stat')

    # connections the flood left queued are refused as "busy" (control.max_clients) until
    # the daemon has seen them close; then it answers again
    deadline = time.monotonic() + 30
    while True:
        try:
            with ControlClient(path) as c:
                assert c.request("status")["ok"] is True
            break
        except ControlError as exc:
            assert "busy" in str(exc) and time.monotonic() < deadline, exc
            time.sleep(0.1)

    # a subscriber that never reads, while events pour out
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(30)
    stuck.connect(path)
    stuck.sendall(b'{"cmd": "subscribe"}\n')
    with ControlClient(path, timeout=30) as c:
        for i in range(800):  # each toggle: notices + a transition, ~1 KB of event lines
            c.request("mute" if i % 2 == 0 else "unmute")
    with ControlClient(path, timeout=30) as c:
        assert c.request("status")["phase"] == "idle"
    after = r.rss_kb()

    # when it finally reads, it is told how many events it missed
    stuck.settimeout(3)
    data = drain(stuck)  # the backlog the kernel and the daemon's bounded queue held
    with ControlClient(path) as c:  # the next events come after the marker
        c.request("mute")
        c.request("unmute")
    data += drain(stuck)
    stuck.close()
    dropped = [json.loads(line) for line in data.splitlines()
               if line.startswith(b'{"event":"dropped"')]
    assert dropped and dropped[0]["data"]["count"] > 0
    growth_mb = (after - before) / 1024
    print(f"RSS before {before / 1024:.1f} MB, after abuse {after / 1024:.1f} MB "
          f"(+{growth_mb:.1f} MB); first dropped marker: {dropped[0]['data']['count']} events")
    assert growth_mb < 3, f"RSS grew by {growth_mb:.1f} MB"
    assert r.ctl("status", "--json").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user "
                    "(fork + setuid)")
def test_a_stranger_is_refused_by_the_real_daemon(edged_run: Edged) -> None:
    r = edged_run
    said = as_user(65534, 65534, [], try_status(r.socket))
    assert said.startswith(f"denied: permission denied: {r.socket}"), said
    os.chmod(r.socket, 0o666)  # even through a socket opened up by mistake
    said = as_user(65534, 65534, [], try_status(r.socket))
    assert said.startswith("denied: permission denied: uid 65534 is neither root nor a member"), \
        said
    done = r.ctl("status")
    assert done.returncode == 0 and "state" in done.stdout
