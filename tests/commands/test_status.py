"""``edged status`` reading health records back from a REAL journal (root: see the rig),
with the volume and the next timer from the daemon's control socket (the control
server over the daemon stand-in, whose timers are the real service's)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.commands.status import live_status
from edged.control.client import ControlClient
from edged.health import journal as hj
from edged.health.metrics import Metrics
from edged.health.proc import ProcSample
from tests.control.stand_in import WALL, Clock, serving_tools
from tests.rigs.journald import Journal, require_journald

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal() -> Iterator[Journal]:
    j = require_journald()
    hj.setup_logging(logging.INFO)
    try:
        yield j
    finally:
        hj.reset_logging()


def edged(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edged", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def write_record(marker: str, answers: int, rss_mb: float = 31.5) -> None:
    m = Metrics(0.0)
    m.set_state("listening")
    m.set_link("up", 0.0)
    m.answers = answers
    m.fail("network", marker, 50.0)
    hj.record_health(m.snapshot(3600.0, ProcSample(rss_mb, 40.0, 0.25)), "info")


def latest_json(journal: Journal, marker: str, answers: int) -> dict[str, object]:
    """Write a record and read it back; another process on this machine may write a
    health record in between, so retry a few times until ours is the latest."""
    for _ in range(5):
        write_record(marker, answers)
        journal.mine(None, f"EDGED_LAST_ERROR={marker}")
        result = edged("status", "--json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        if data["pid"] == os.getpid():
            return dict(data)
    raise AssertionError("another process kept writing health records")


def test_json_is_the_latest_record(journal: Journal) -> None:
    marker = f"marker-{uuid.uuid4()}"
    latest_json(journal, "an older record", 1)
    data = latest_json(journal, marker, 4242)
    health = data["health"]
    assert isinstance(health, dict)
    assert health["last_error"] == marker
    assert health["answers"] == 4242
    assert health["rss_mb"] == 31.5
    assert data["priority"] == "info"
    assert isinstance(data["recorded_at"], str)


def test_table(journal: Journal) -> None:
    marker = f"marker-{uuid.uuid4()}"
    for _ in range(5):
        write_record(marker, 77)
        journal.mine(None, f"EDGED_LAST_ERROR={marker}")
        result = edged("status")
        if f"pid {os.getpid()}" in result.stdout.splitlines()[0]:
            break
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("edged health at ")
    assert lines[0].endswith(f"pid {os.getpid()}: info")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["state"].split()[-1] == "listening"
    assert "77 (0 barge-ins)" in rows["answers"]
    assert "31.5 MB (peak 40.0 MB)" in rows["memory"]
    assert marker in rows["last"]


def test_table_ends_with_the_volume_and_the_next_timer(journal: Journal, tmp_path: Path) -> None:
    clock = Clock()
    with serving_tools(tmp_path / "control.sock", tmp_path / "state", clock) as served:
        with ControlClient(served.path) as c:
            c.request("timers.set", seconds=600, label="pasta")
            c.request("volume", level=35)
        clock.advance(2)
        write_record("with tools", 1)
        journal.mine(None, "EDGED_LAST_ERROR=with tools")
        table = edged("status", "--socket", served.path)
        as_json = edged("status", "--json", "--socket", served.path)
    assert table.returncode == 0, table.stderr
    at = time.strftime("%H:%M", time.localtime(WALL + 600))
    assert table.stdout.splitlines()[-2:] == ["volume 35", f"next timer: pasta in 9m 58s (at {at})"]
    data = json.loads(as_json.stdout)
    assert data["volume"] == 35
    assert data["next_timer"]["label"] == "pasta" and data["next_timer"]["remaining_s"] == 598


def test_the_daemon_is_asked_only_when_it_is_this_machines(tmp_path: Path) -> None:
    with serving_tools(tmp_path / "control.sock", tmp_path / "state") as served:
        reply = live_status(Namespace(directory=None, socket=served.path))
        assert reply is not None and reply["volume"] == 60 and reply["next_timer"] is None
        # another machine's journal: this machine's daemon says nothing about it...
        assert live_status(Namespace(directory=str(tmp_path), socket=None)) is None
        # ...unless asked by name
        named = live_status(Namespace(directory=str(tmp_path), socket=served.path))
        assert named is not None and named["volume"] == 60
    # not running, or no socket: the journal's record is still the answer
    assert live_status(Namespace(directory=None, socket=str(tmp_path / "none.sock"))) is None


def test_no_record_is_a_clear_message(tmp_path: Path) -> None:
    result = edged("status", "--directory", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"edged status: no health record found in {tmp_path}\n"


def test_unreadable_journal_is_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = edged("status", "--json", "--directory", str(missing))
    assert result.returncode == 1
    assert result.stderr == (
        f"edged status: cannot open {missing}: No such file or directory\n")
    assert "Traceback" not in result.stderr
