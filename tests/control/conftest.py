"""Fixtures shared by the control tests (and the PulseAudio rig, for the e2e tests)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rigs.pulse import pulse

__all__ = ["open_dir", "pulse"]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can traverse (pytest's tmp dirs are root-only), for
    clients that run as another user."""
    d = Path(tempfile.mkdtemp(prefix="edged-ctl-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
