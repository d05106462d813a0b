"""When a stream of probabilities is a detection: the cutoff and a refractory time.

The library averages the model's last few outputs but has no notion of "already
fired": one spoken phrase keeps the average above the cutoff for several steps,
and an echo of the chime could re-trigger. Plain values in, a bool out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Trigger:
    threshold: float
    refractory_s: float
    quiet_until: float = -math.inf

    def feed(self, probability: float, t: float) -> bool:
        """True once per phrase: the first step above the cutoff, then not again
        until ``refractory_s`` after it."""
        if probability <= self.threshold or t < self.quiet_until:
            return False
        self.quiet_until = t + self.refractory_s
        return True

    def hold(self, until: float) -> None:
        """No detection before ``until`` (the daemon's own chime, for example)."""
        self.quiet_until = max(self.quiet_until, until)
