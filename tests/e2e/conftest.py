"""Rigs for the end-to-end tests: a private PulseAudio, a NOTIFY_SOCKET listener, journald,
and ``edged run`` itself on them."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon_rig import Edged, launch
from tests.rigs.journald import journal_cursor, journald
from tests.rigs.notify import notify_socket
from tests.rigs.pulse import PulseRig, pulse

__all__ = ["edged_run", "journal_cursor", "journald", "notify_socket", "pulse"]


@pytest.fixture
def edged_run(pulse: PulseRig, tmp_path: Path) -> Iterator[Edged]:
    """``edged run`` with the default test config (:func:`launch`), up and streaming."""
    with launch(pulse, tmp_path) as run:
        yield run
