"""Check 12 against a real journald (root), and a socket that is not there."""

from __future__ import annotations

from pathlib import Path

from edged.doctor.context import Context, Options
from edged.doctor.journal import check_journald
from tests.rigs.journald import Journal


def test_a_test_entry_is_written_and_read_back(journald: Journal) -> None:
    result = check_journald(Context(Options()))
    assert result.status == "ok", result
    token = result.details["token"]
    entries = journald.read(f"EDGED_DOCTOR_TOKEN={token}")
    assert len(entries) == 1
    assert entries[0]["SYSLOG_IDENTIFIER"] == "edged"


def test_no_journald_socket_fails_with_a_fix(tmp_path: Path) -> None:
    result = check_journald(Context(Options(journal_socket=str(tmp_path / "socket"))))
    assert result.status == "fail"
    assert "not reachable" in result.summary
    assert result.fix is not None and "systemd-journald" in result.fix


def test_a_stale_socket_file_fails(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.close()  # the file stays; nobody listens
    result = check_journald(Context(Options(journal_socket=str(path))))
    assert result.status == "fail"
