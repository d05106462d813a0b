"""``edged status`` reading health records back from a REAL journal (root: see the rig)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.health import journal as hj
from edged.health.metrics import Metrics
from edged.health.proc import ProcSample
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
