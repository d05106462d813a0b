"""The cost guard's token bucket: at most N answers per minute, bursts up to N."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``capacity`` per ``period_s``.

    Time is passed in; a clock that goes backwards refills nothing.
    """

    capacity: float
    period_s: float = 60.0
    tokens: float = -1.0  # -1: full, until first used
    stamp: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            rate = self.capacity / self.period_s
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until a token is available (0 if one is)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 0 else missing * self.period_s / self.capacity
