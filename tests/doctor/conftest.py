"""Rigs for the doctor's tests: a private PulseAudio, a real journald."""

from tests.rigs.journald import journald
from tests.rigs.pulse import pulse

__all__ = ["journald", "pulse"]
