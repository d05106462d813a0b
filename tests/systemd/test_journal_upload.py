"""Central logs: systemd-journal-upload from a speaker to systemd-journal-remote, on loopback.

Real: edged's health record and journal handler make the entry (its ``EDGED_*``
fields, the config digest the redactor would otherwise mask), Debian's
``systemd-journal-remote`` turns it into the speaker's journal file and, as a second
process, is the central server listening on 127.0.0.1; ``systemd-journal-upload``
sends the file to it over HTTP; ``journalctl --file`` and ``edged status -D`` read
the central journal. Stand-in: the speaker's journald (none runs in a scratch
directory), replaced by journal-remote writing the entry from the journal export
format, which is what journald would have stored. HTTP without TLS is for this
loopback test only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edged import __version__
from edged.health import journal as hj
from edged.health.metrics import Metrics
from edged.health.proc import ProcSample

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


def tool(name: str) -> str:
    for where in ("/lib/systemd", "/usr/lib/systemd"):
        path = os.path.join(where, name)
        if os.access(path, os.X_OK):
            return path
    pytest.fail(f"{name} is missing: scripts/setup installs it (Debian package "
                "systemd-journal-remote)")


def record(hostname: str, digest: str) -> dict[str, str]:
    """One health record as edged's journal handler hands it to journald, with the
    fields journald adds itself (time, boot, host, pid)."""
    sent: list[dict[str, str]] = []

    def send(message: str, **fields: Any) -> None:
        sent.append({"MESSAGE": message, **{k: str(v) for k, v in fields.items()}})

    handler = hj.JournalHandler(send=send)
    handler.addFilter(hj.REDACT_FILTER)
    logger = hj.log
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel("INFO")
    try:
        m = Metrics(0.0)
        m.version, m.config_sha256 = __version__, digest
        m.set_state("idle")
        m.set_link("up", 1.0)
        m.fail("network", "connection reset by peer", 5.0)
        hj.record_health(m.snapshot(120.0, ProcSample(31.5, 33.0, 0.4)), "info")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [entry] = sent
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    return {**entry, "_HOSTNAME": hostname, "_PID": "4242", "_BOOT_ID": boot_id,
            "__REALTIME_TIMESTAMP": str(time.time_ns() // 1000),
            "__MONOTONIC_TIMESTAMP": str(time.monotonic_ns() // 1000)}


def export(entry: dict[str, str]) -> bytes:
    """The journal export format: ``FIELD=value`` lines, a length-prefixed binary form
    for values with a newline, and a blank line after the entry."""
    out = bytearray()
    for key, value in entry.items():
        data = value.encode()
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out + b"\n")


def device_journal(tmp_path: Path, entry: dict[str, str]) -> Path:
    """The speaker's journal file holding ``entry``, written by journal-remote from stdin."""
    path = tmp_path / f"{entry['_HOSTNAME']}.journal"
    done = subprocess.run([tool("systemd-journal-remote"), f"--output={path}", "-"],
                          input=export(entry), capture_output=True, timeout=TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``systemd-journal-remote`` on a loopback port: (its upload URL, its journal file).
    The port is picked free then bound by journal-remote; if another process took it in
    between, journal-remote exits and the next port is tried."""
    out = tmp_path / "central"
    out.mkdir()
    journal = out / "central.journal"
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen([tool("systemd-journal-remote"), f"--listen-http=127.0.0.1:{port}",
                                 f"--output={journal}", "--split-mode=none"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + TIMEOUT_S
        while proc.poll() is None and not listening(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None and listening(port):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("systemd-journal-remote did not listen on a loopback port")
    try:
        yield f"http://127.0.0.1:{port}", journal
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def upload(url: str, journal: Path) -> None:
    done = subprocess.run([tool("systemd-journal-upload"), f"--url={url}", f"--file={journal}",
                           "--follow=no"], capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr


def central_entries(journal: Path, *matches: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        out = subprocess.run(["journalctl", "--no-pager", f"--file={journal}", "-o", "json",
                              *matches], capture_output=True, text=True, timeout=TIMEOUT_S,
                             check=False)
        entries = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


def test_edged_fields_arrive_on_the_central_journal(central: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    url, journal = central
    first = record("speaker-01", "a1" * 32)
    second = record("speaker-02", "b2" * 32)
    for entry in (first, second):
        upload(url, device_journal(tmp_path, entry))

    got = central_entries(journal, "SYSLOG_IDENTIFIER=edged", "EDGED_KIND=health", count=2)
    assert [e["_HOSTNAME"] for e in got] == ["speaker-01", "speaker-02"]
    for sent, received in zip((first, second), got, strict=True):
        edged_fields = {k: v for k, v in sent.items() if k.startswith("EDGED_")}
        assert len(edged_fields) > 20
        assert {k: received.get(k) for k in edged_fields} == edged_fields
        assert received["MESSAGE"] == sent["MESSAGE"]
    assert got[0]["EDGED_CONFIG_SHA256"] == "a1" * 32  # whole: not masked on the way
    assert got[0]["EDGED_VERSION"] == __version__
    assert got[0]["EDGED_FAILURES_NETWORK"] == "1"

    # which speakers run a given config: a field match on the central journal
    [one] = central_entries(journal, "EDGED_KIND=health", f"EDGED_CONFIG_SHA256={'b2' * 32}",
                            count=1)
    assert one["_HOSTNAME"] == "speaker-02"


def test_edged_status_reads_the_central_journal(central: tuple[str, Path],
                                                tmp_path: Path) -> None:
    url, journal = central
    upload(url, device_journal(tmp_path, record("speaker-03", "c3" * 32)))
    assert central_entries(journal, "EDGED_KIND=health", count=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    status = subprocess.run([sys.executable, "-m", "edged", "status", "-D", str(journal.parent),
                             "--json"], capture_output=True, text=True, env=env,
                            timeout=TIMEOUT_S, check=False)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["health"]["config_sha256"] == "c3" * 32
    assert shown["health"]["version"] == __version__
    assert shown["pid"] == 4242
    table = subprocess.run([sys.executable, "-m", "edged", "status", "-D", str(journal.parent)],
                           capture_output=True, text=True, env=env, timeout=TIMEOUT_S,
                           check=False)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"^  config +sha256 {'c3' * 6}…$", table.stdout, re.MULTILINE), table.stdout
