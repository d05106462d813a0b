"""The spoken volume: a level 0–100 the user sets by voice, kept across restarts.

``audio.volume`` in the config stays the loudest the speaker may play; the level
scales it. The curve is the square of the level: loudness is heard roughly on a
log scale, and with a linear gain the top half of the range barely changes
(50 → 100 is only +6 dB) while the bottom is crammed into a few steps. Squared,
level 50 is −12 dB, 20 is −28 dB, 10 is −40 dB, so equal steps sound roughly
equal, and 0 is silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edged.tools import state_file

MAX_LEVEL = 100
FILE_NAME = "volume.json"

Direction = Literal["up", "down"]


def clamp(level: int) -> int:
    return max(0, min(MAX_LEVEL, int(level)))


def gain(level: int, max_gain: float) -> float:
    """The playback gain for ``level`` (clamped to 0–100), ``max_gain`` at 100."""
    return max_gain * (clamp(level) / MAX_LEVEL) ** 2


def step(level: int, direction: Direction, step: int) -> int:
    """One step louder or quieter, kept within 0–100."""
    return clamp(level + step if direction == "up" else level - step)


class VolumeStore:
    """The level in ``volume.json``. ``path`` is the state directory (the file is
    ``volume.json`` in it) or the file itself if it ends in ``.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path if path.suffix == ".json" else path / FILE_NAME

    def load(self, default: int = MAX_LEVEL) -> int:
        """The saved level, or ``default`` if none is saved (or the file is bad)."""
        data = state_file.read(self.path)
        if data is None:
            return clamp(default)
        level = data.get("level") if isinstance(data, dict) else None
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_LEVEL:
            state_file.set_aside(self.path, "does not hold a level from 0 to 100")
            return clamp(default)
        return level

    def save(self, level: int) -> None:
        """Save ``level`` (clamped) atomically; OSError if the disk refuses."""
        state_file.write(self.path, {"level": clamp(level)})
