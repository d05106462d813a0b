"""The ``pulse`` fixture over :mod:`edged.rig.pulse` (a private PulseAudio server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.rig.pulse import (
    MIC,
    MIC_SINK,
    RATE,
    SPEAKER,
    PulseRig,
    Recorder,
    have_pulseaudio,
    pulse_env,
    pulse_rig,
)

__all__ = ["MIC", "MIC_SINK", "RATE", "SPEAKER", "PulseRig", "Recorder", "have_pulseaudio",
           "pulse", "pulse_env", "pulse_rig"]


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[PulseRig]:
    """A private PulseAudio rig, with this process's environment pointed at it."""
    if not have_pulseaudio():
        pytest.skip("PulseAudio (pulseaudio, pulseaudio-utils) is not installed; "
                    "scripts/setup installs it")
    with pulse_rig(tmp_path / "pulse") as rig, pulse_env(rig):
        yield rig
