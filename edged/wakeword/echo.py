"""Not waking to its own voice: what the speaker played, checked against a detection.

With no echo cancellation the microphone hears the speaker, so an answer that says
"okay nabu" would wake the speaker that says it. Suppressing detection while it
speaks would also lose the wake word as a way to interrupt an answer, so instead a
detection made while answer audio was playing is checked against that audio: the
same model runs over the last seconds the speaker was given for that moment, and
if the phrase is in there too, the detection was an echo and is ignored. It costs
nothing until a detection coincides with playback, then one model pass over
:data:`LOOKBACK_S` of audio (about 20 ms of CPU here).
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from edged.audio.devices import MODEL_RATE

LOOKBACK_S = 2.5  # the phrase, and the speaker-to-microphone delay, fit in this
AHEAD_S = 0.3  # the clocks of the two streams disagree by a little
KEEP_S = 10.0  # played audio older than this can no longer matter
_BYTES_PER_S = MODEL_RATE * 2


class EchoReference:
    """The answer audio the speaker was given, with when each piece plays (monotonic s).

    ``add`` and ``clear`` come from the loop; ``window`` from the detector's thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: deque[tuple[float, bytes]] = deque()

    def add(self, at: float, pcm24k: bytes) -> None:
        """``pcm24k`` starts playing at ``at``."""
        if not pcm24k:
            return
        with self._lock:
            self._pieces.append((at, pcm24k))
            while self._pieces and self._pieces[0][0] + KEEP_S < at:
                self._pieces.popleft()

    def clear(self) -> None:
        """Playback was flushed: what was queued will not play."""
        with self._lock:
            self._pieces.clear()

    def window(self, t0: float, t1: float) -> bytes | None:
        """What played between ``t0`` and ``t1`` at 24 kHz (silence between pieces),
        or None if nothing did."""
        n = max(0, round((t1 - t0) * MODEL_RATE))
        out = np.zeros(n, np.int16)
        found = False
        with self._lock:
            pieces = list(self._pieces)
        for at, pcm in pieces:
            audio = np.frombuffer(pcm, np.int16, count=len(pcm) // 2)
            start = round((at - t0) * MODEL_RATE)
            lo, hi = max(0, start), min(n, start + len(audio))
            if lo < hi:
                out[lo:hi] = audio[lo - start:hi - start]
                found = True
        return out.tobytes() if found else None

    def around(self, t: float) -> bytes | None:
        """What played in the seconds before a detection at ``t``."""
        return self.window(t - LOOKBACK_S, t + AHEAD_S)
