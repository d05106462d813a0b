"""Rigs for the audio tests: ALSA file PCMs (unpaced) and a private PulseAudio (paced)."""

from tests.rigs.alsa import alsa_files
from tests.rigs.pulse import pulse

__all__ = ["alsa_files", "pulse"]
