"""Rigs for the end-to-end tests: a private PulseAudio, a NOTIFY_SOCKET listener, journald."""

from tests.rigs.journald import journal_cursor, journald
from tests.rigs.notify import notify_socket
from tests.rigs.pulse import pulse

__all__ = ["journal_cursor", "journald", "notify_socket", "pulse"]
