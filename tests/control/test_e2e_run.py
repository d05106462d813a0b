"""``edged ctl`` against the REAL ``edged run`` process.

Real everything: the daemon process with PyAudio on PulseAudio's paced virtual
devices (the pulse rig), the simulator over loopback WebSocket, the control
socket, and ``edged ctl`` as separate processes. Nothing is mocked: GPIO is off
(``controls.enabled: false``), which is exactly the case ``edged ctl`` is for.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edged.control.client import ControlClient, ControlError
from edged.demo.scenario import utterance
from edged.rig.process import start_edged, stop_edged
from edged.simulator import Simulator, SimulatorThread
from tests.control.users import STRANGER, as_user, try_status
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


SPEECH = utterance("weather")[: 24000 * 2]  # 1 s of speech, 24 kHz mono PCM16
LOUD_RMS = 300.0  # the speech's 10 ms windows are far above; the idle rig's mic is 0


def onset(pcm: bytes) -> int | None:
    """Where the first loud 10 ms window of 24 kHz PCM16 starts (bytes), if any."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    n = len(x) // 240
    rms = np.sqrt(np.mean(x[: n * 240].reshape(n, 240) ** 2, axis=1))
    loud = np.flatnonzero(rms > LOUD_RMS)
    return int(loud[0]) * 480 if len(loud) else None


def appended(events: list[tuple[int, dict[str, Any]]], start: int) -> bytes:
    """The microphone audio a client sent, from its ``start``-th event on."""
    return b"".join(base64.b64decode(e["audio"]) for _, e in events[start:]
                    if e["type"] == "input_audio_buffer.append")


def hears_all_of_it(sim: Simulator, start: int) -> bool:
    """The server has the speech from its onset to beyond its end (run on its loop)."""
    pcm = appended(sim.events, start)
    at = onset(pcm)
    return at is not None and len(pcm) - at >= len(SPEECH) + 300 * 48


def ctl_ok(r: Edged, *args: str) -> str:
    done = r.ctl(*args)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def test_turns_driven_by_ctl_press_and_release_and_by_ctl_talk(edged_run: Edged) -> None:
    """Two push-to-talk turns from ``edged ctl``, each answered, then ``edged ctl
    status`` says so. The first is held until the server has heard the whole utterance
    (``ptt-press`` … ``ptt-release``), so nothing depends on when the rig's microphone
    delivers its first buffer (seconds after it opens, on an idle null sink); once it
    has, the second is ``talk``, whose hold is a fixed time by design."""
    r = edged_run
    watcher = Watcher(r.socket, env())
    watcher.until("state", "idle")

    # 1. press, speak, release once the server has all of it
    first = len(r.sim.events())
    assert ctl_ok(r, "ptt-press") == "listening\n"
    watcher.until("transition", "listening")
    r.sim.wait_for_event("input_audio_buffer.append", timeout=60, start=first)  # mic live
    r.pulse.feed_mic(SPEECH, rate=24000)
    r.sim.call(r.sim.sim.wait_until, lambda: hears_all_of_it(r.sim.sim, first), 60,
               "the whole utterance", timeout=70)
    assert ctl_ok(r, "ptt-release") == "thinking\n"
    watcher.until("transition", "speaking")
    watcher.until("transition", "idle")
    sent = [e for _, e in r.sim.events()[first:]]
    assert collapse([e["type"] for e in sent]) == TURN

    # 2. `edged ctl talk`: the pre-roll the live microphone filled goes out at once
    second = len(r.sim.events())
    talk = subprocess.Popen(
        [sys.executable, "-m", "edged", "ctl", "--socket", r.socket, "talk", "--seconds", "1.5"],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        watcher.until("transition", "listening")
        r.pulse.feed_mic(SPEECH, rate=24000)
        out, err = talk.communicate(timeout=60)
    finally:
        if talk.poll() is None:
            talk.kill()
            talk.communicate()
    assert (talk.returncode, out, err) == (0, "listening\nthinking\n", "")
    watcher.until("transition", "speaking")
    watcher.until("transition", "idle")
    assert watcher.stop(timeout=30) == ""
    sent = [e for _, e in r.sim.events()[second:]]
    assert collapse([e["type"] for e in sent]) == TURN
    sent_ms = len(appended(r.sim.events(), second)) / 48
    print(f"talk: appended {sent_ms:.0f} ms of audio for a 1.5 s hold")
    assert sent_ms >= 100  # at least what a commit needs (100 ms at 24 kHz PCM16)

    phases = [e["phase"] for e in watcher.seen if e["event"] == "transition"]
    assert phases == ["listening", "thinking", "speaking", "idle"] * 2
    delivered = [e["data"] for e in watcher.seen if e["event"] == "utterance_delivered"]
    assert len(delivered) == 2 and delivered[0]["ms"] >= len(SPEECH) / 48

    # what the daemon's figures say about it, as a person reads them
    table = ctl_ok(r, "status")
    assert table.startswith(f"edged health, pid {r.proc.pid}: ")
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1)
                for line in table.splitlines()[1:] if line.startswith("  "))
    # after the health rows, the tools' own two lines
    assert re.fullmatch(r"volume \d+\nno timers", "\n".join(table.splitlines()[-2:]))
    assert rows["state"] == "idle" and rows["link"].startswith("up for ")
    assert rows["answers"] == "2 (0 barge-ins)"
    assert rows["utterances"] == "2 delivered, 0 held, 0 dropped"
    # PyAudio on the rig's devices (asleep, healthy, if 30 s passed without a sound)
    assert re.fullmatch(r"input (open|standby), output (open|standby)", rows["devices"])
    data = json.loads(ctl_ok(r, "status", "--json"))
    assert (data["phase"], data["pid"]) == ("idle", r.proc.pid)
    assert data["health"]["answers"] == 2 and data["health"]["uplink_p95_ms"] is not None


def read_until_dropped(stuck: socket.socket, path: str) -> list[dict[str, Any]]:
    """Read a subscriber that stopped reading until it is told how many events it
    missed: with the daemon's backlog drained, the next events find room, and the
    marker comes before them. Mute toggles make those events."""
    lines: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        with contextlib.suppress(OSError), stuck.makefile("rb") as f:
            for line in f:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    line: bytes | None = b""
    with ControlClient(path, timeout=30) as c:
        while time.monotonic() < deadline:
            c.request("mute")
            c.request("unmute")
            with contextlib.suppress(queue.Empty):
                while (line := lines.get(timeout=1.0)) is not None:
                    if line.startswith(b'{"event":"dropped"'):
                        return [json.loads(line)]
            assert line is not None, "the daemon closed the subscription"
    raise AssertionError("no dropped marker within 120 s")


def flood(path: str) -> None:
    """Garbage, a 1 MB line, and a thousand connect/disconnects."""
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


def test_abuse_leaves_the_daemon_answering_and_its_memory_flat(edged_run: Edged) -> None:
    r = edged_run
    path = r.socket
    with ControlClient(path) as c:  # warm up: first-use allocations are not growth
        for _ in range(20):
            c.request("status")
    before = r.rss_kb()
    flood(path)

    # connections the flood left queued are refused as "busy" (control.max_clients) until
    # the daemon has seen them close; then it answers again
    deadline = time.monotonic() + 60
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
    stuck.settimeout(None)
    dropped = read_until_dropped(stuck, path)
    stuck.close()
    assert dropped[0]["data"]["count"] > 0
    growth_mb = (after - before) / 1024
    print(f"RSS before {before / 1024:.1f} MB, after abuse {after / 1024:.1f} MB "
          f"(+{growth_mb:.1f} MB); first dropped marker: {dropped[0]['data']['count']} events")
    assert growth_mb < 3, f"RSS grew by {growth_mb:.1f} MB"
    assert r.ctl("status", "--json").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user "
                    "(fork + setuid)")
def test_a_stranger_is_refused_by_the_real_daemon(edged_run: Edged) -> None:
    r = edged_run
    said = as_user(STRANGER, try_status(r.socket))
    assert said.startswith(f"denied: permission denied: {r.socket}"), said
    os.chmod(r.socket, 0o666)  # even through a socket opened up by mistake
    said = as_user(STRANGER, try_status(r.socket))
    assert said.startswith(f"denied: permission denied: uid {STRANGER.uid} is neither root "
                           "nor a member"), said
    done = r.ctl("status")
    assert done.returncode == 0 and "state" in done.stdout
