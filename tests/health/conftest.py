"""Fixtures from the shared rigs: a real journald and a NOTIFY_SOCKET listener."""

from tests.rigs.journald import journal_cursor, journald
from tests.rigs.notify import notify_socket

__all__ = ["journal_cursor", "journald", "notify_socket"]
