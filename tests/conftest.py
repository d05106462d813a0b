"""Shared by every test: a daemon started in-process keeps its state apart."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timers and the spoken volume go to the unit's state directory; without this a
    test's volume or timer would outlive it in /var/lib/edged and reach the next."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
