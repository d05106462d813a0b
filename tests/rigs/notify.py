"""The ``notify_socket`` fixture over :mod:`edged.rig.notify`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edged.rig.notify import Datagram, NotifyListener, parse

__all__ = ["Datagram", "NotifyListener", "notify_socket", "parse"]


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    """A listener, with NOTIFY_SOCKET pointing at it in this process's environment."""
    listener = NotifyListener()
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    try:
        yield listener
    finally:
        listener.close()
