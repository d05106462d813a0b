"""A subscriber's bounded queue of event lines: a slow reader costs drops, not memory.

The daemon never waits for a subscriber. Lines wait here (at most ``capacity``)
until the subscriber's socket can take them; when it is full, new lines are
counted instead of kept, and a marker saying how many were lost follows the
lines the reader takes next (or precedes the next line offered, whichever comes
first), so a reader knows its picture may be stale as soon as it catches up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class Outbox:
    """``offer`` lines, ``take`` them all at once; ``len`` never exceeds ``capacity``."""

    def __init__(self, capacity: int, marker: Callable[[int], bytes]) -> None:
        if capacity < 2:
            raise ValueError("an outbox needs room for a marker and a line")
        self.capacity = capacity
        self._marker = marker
        self._lines: deque[bytes] = deque()
        self.dropped = 0  # lost since the last marker
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._lines)

    def offer(self, line: bytes) -> bool:
        """Queue ``line``; False when it was dropped because the reader is behind."""
        room = self.capacity - len(self._lines)
        if room < (2 if self.dropped else 1):
            self.dropped += 1
            self.dropped_total += 1
            return False
        if self.dropped:
            self._lines.append(self._marker(self.dropped))
            self.dropped = 0
        self._lines.append(line)
        return True

    def take(self) -> bytes:
        """Everything queued, in order, as one buffer (empty when nothing is), and the
        marker for what was lost meanwhile: the reader need not wait for the next event
        to learn of it."""
        if self.dropped:
            self._lines.append(self._marker(self.dropped))
            self.dropped = 0
        data = b"".join(self._lines)
        self._lines.clear()
        return data
