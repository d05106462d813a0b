"""Atomic JSON state: durable writes, a crash before the rename keeps the old state,
and a bad file is set aside instead of stopping the daemon."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from edged.tools import state_file


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    state_file.write(path, {"timers": [], "b": "café"})
    assert state_file.read(path) == {"timers": [], "b": "café"}
    assert path.read_text(encoding="utf-8") == '{"b": "café", "timers": []}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_write_replaces_and_fsyncs_the_file_and_the_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "volume.json"
    state_file.write(path, {"level": 10})
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    state_file.write(path, {"level": 70})
    assert synced == ["file", "dir"]
    assert state_file.read(path) == {"level": 70}


def test_a_crash_between_write_and_rename_keeps_the_old_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "timers.json"
    state_file.write(path, {"version": 1, "timers": ["old"]})

    def crash(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        state_file.write(path, {"version": 1, "timers": ["new"]})
    monkeypatch.undo()
    assert state_file.read(path) == {"version": 1, "timers": ["old"]}
    assert leftovers(tmp_path) == []


def test_a_value_that_is_not_json_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.write(path, {"ok": 1})
    with pytest.raises(ValueError):
        state_file.write(path, {"x": float("nan")})
    with pytest.raises(TypeError):
        state_file.write(path, {"x": {1}})
    assert state_file.read(path) == {"ok": 1}
    assert leftovers(tmp_path) == []


def test_write_creates_a_missing_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deeper" / "timers.json"
    state_file.write(path, [])
    assert state_file.read(path) == []
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_missing_file_reads_as_none_quietly(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert state_file.read(tmp_path / "nothing.json") is None
    assert caplog.records == []


@pytest.mark.parametrize("content", [b'{"level": 5', b"\xff\xfe garbage", b"", b"[" * 100000])
def test_a_corrupt_file_is_set_aside_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes) -> None:
    path = tmp_path / "volume.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        assert state_file.read(path) is None
    assert not path.exists()
    assert (tmp_path / "volume.json.bad").read_bytes() == content
    assert str(path) in caplog.text and "volume.json.bad" in caplog.text
    assert state_file.read(path) is None  # and afterwards simply nothing


def test_an_unreadable_file_is_set_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    path.write_text("{}")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        assert state_file.read(path) is None
    assert "cannot be read (Permission denied)" in caplog.text
    assert (tmp_path / "timers.json.bad").exists()


def test_a_file_that_cannot_be_moved_aside_is_still_only_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    path.write_text("nonsense")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        assert state_file.read(path) is None
    assert "could not move it aside: Read-only file system" in caplog.text


def test_state_dir_prefers_the_config_then_systemd_then_the_default() -> None:
    env = {"STATE_DIRECTORY": "/var/lib/edged-a:/var/lib/edged-b"}
    assert state_file.state_dir("/srv/edged", env) == Path("/srv/edged")
    assert state_file.state_dir(None, env) == Path("/var/lib/edged-a")
    assert state_file.state_dir("", {"STATE_DIRECTORY": "/x"}) == Path("/x")
    assert state_file.state_dir(None, {}) == Path("/var/lib/edged")
    assert state_file.state_dir(None, {"STATE_DIRECTORY": ""}) == Path("/var/lib/edged")


def test_state_dir_reads_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/run/test-state")
    assert state_file.state_dir(None) == Path("/run/test-state")
