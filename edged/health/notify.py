"""sd_notify messages and a watchdog that only vouches for what is really alive.

Every message goes through ``systemd.daemon.notify``; without ``NOTIFY_SOCKET``
(not under systemd) it is a no-op. The watchdog ping runs as a task on the daemon's
event loop, so a hung loop cannot ping; it also measures how late its own timer
fired (a loop that is not hung but starved) and asks every registered liveness
probe — e.g. "the audio callbacks ran within the last 2 s" — before each ping. The
gating decision is a pure function of those figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger("edged.health.notify")

Clock = Callable[[], float]


def notify(message: str) -> bool:
    """Send one sd_notify message; False when there is no NOTIFY_SOCKET (or it fails)."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    import systemd.daemon

    try:
        return bool(systemd.daemon.notify(message))
    except (OSError, ValueError) as exc:
        log.warning("sd_notify failed: %s", exc)
        return False


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Notifier:
    """The daemon's side of Type=notify: READY, STATUS, RELOADING, STOPPING, WATCHDOG."""

    def __init__(self, send: Callable[[str], bool] = notify) -> None:
        self._send = send
        self.last_status: str | None = None

    def ready(self, status: str | None = None) -> bool:
        msg = "READY=1"
        if status is not None:
            self.last_status = _one_line(status)
            msg += f"\nSTATUS={self.last_status}"
        return self._send(msg)

    def status(self, text: str) -> bool:
        """Update STATUS= (``systemctl status`` shows it); unchanged text is not resent."""
        line = _one_line(text)
        if line == self.last_status:
            return True
        self.last_status = line
        return self._send(f"STATUS={line}")

    def reloading(self, monotonic_usec: int | None = None) -> bool:
        """RELOADING=1 with the CLOCK_MONOTONIC time systemd needs to order the reload."""
        usec = monotonic_usec if monotonic_usec is not None else time.monotonic_ns() // 1000
        return self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        msg = "STOPPING=1"
        if status is not None:
            msg += f"\nSTATUS={_one_line(status)}"
        return self._send(msg)

    def watchdog(self) -> bool:
        return self._send("WATCHDOG=1")


# --------------------------------------------------------------------------- watchdog


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings (half of WATCHDOG_USEC), or None when the watchdog is off.

    Follows sd_watchdog_enabled(): WATCHDOG_PID, when set, must be this process.
    """
    raw = environ.get("WATCHDOG_USEC", "").strip()
    if not raw.isdigit() or int(raw) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(raw) / 1e6 / 2


@dataclass(frozen=True, slots=True)
class Probe:
    """A liveness source: ``last_seen()`` is when it last showed life (monotonic
    seconds), or None when it has nothing to vouch for right now (e.g. no stream is
    open because the device is unplugged and being retried)."""

    name: str
    max_age_s: Callable[[], float]  # asked at every check: a reload may change it
    last_seen: Callable[[], float | None]


@dataclass(frozen=True, slots=True)
class Hold:
    """One reason to withhold a ping: what is not alive (``name``) and by how much."""

    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.name} {self.detail}"


LOOP = "event loop"


def watchdog_decision(now: float, lag_s: float, max_lag_s: float,
                      probes: Iterable[tuple[str, float | None, float]]) -> tuple[Hold, ...]:
    """Why a ping must be withheld; empty when it may be sent.

    ``probes`` are ``(name, last_seen, max_age_s)``.
    """
    holds: list[Hold] = []
    if lag_s > max_lag_s:
        holds.append(Hold(LOOP, f"{lag_s * 1000:.0f} ms late (limit {max_lag_s * 1000:.0f} ms)"))
    for name, last_seen, max_age in probes:
        if last_seen is None:
            continue
        age = now - last_seen
        if age > max_age:
            holds.append(Hold(name, f"last alive {age:.1f} s ago (limit {max_age:g} s)"))
    return tuple(holds)


class Liveness:
    """A timestamp another thread may update (one float store: safe without a lock).

    The audio callback calls ``beat(time.monotonic())``; the watchdog reads it.
    """

    __slots__ = ("_last",)

    def __init__(self, last: float | None = None) -> None:
        self._last = last

    def beat(self, now: float) -> None:
        self._last = now

    def clear(self) -> None:
        """Nothing to vouch for (the stream is closed on purpose)."""
        self._last = None

    def __call__(self) -> float | None:
        return self._last


class Watchdog:
    """Pings WATCHDOG=1 every ``interval_s`` from the event loop, when all is alive."""

    def __init__(self, interval_s: float, notifier: Notifier, *, max_lag_s: float | None = None,
                 clock: Clock = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.max_lag_s = max_lag_s if max_lag_s is not None else interval_s / 2
        self._notifier = notifier
        self._clock = clock
        self._probes: dict[str, Probe] = {}
        self.pings = 0
        self.withheld = 0
        self.withholding: tuple[Hold, ...] = ()

    @classmethod
    def from_env(cls, notifier: Notifier, environ: Mapping[str, str] | None = None, *,
                 max_lag_s: float | None = None, clock: Clock = time.monotonic
                 ) -> Watchdog | None:
        """A watchdog at half of $WATCHDOG_USEC, or None when systemd asked for none."""
        interval = watchdog_interval(os.environ if environ is None else environ, os.getpid())
        if interval is None:
            return None
        return cls(interval, notifier, max_lag_s=max_lag_s, clock=clock)

    def add_probe(self, name: str, max_age_s: float | Callable[[], float],
                  last_seen: Callable[[], float | None]) -> None:
        """``max_age_s``: a number, or a function of the config in force (read at every
        check, so a reload of the limit applies without a restart)."""
        if callable(max_age_s):
            limit = max_age_s
        else:
            fixed = float(max_age_s)
            def limit() -> float:
                return fixed
        self._probes[name] = Probe(name, limit, last_seen)

    def remove_probe(self, name: str) -> None:
        self._probes.pop(name, None)

    def check(self, now: float, lag_s: float) -> tuple[Hold, ...]:
        probes = [(p.name, p.last_seen(), p.max_age_s()) for p in self._probes.values()]
        return watchdog_decision(now, lag_s, self.max_lag_s, probes)

    def tick(self, now: float, lag_s: float) -> bool:
        """Decide and, when everything is alive, ping. Logs when pinging stops and resumes."""
        holds = self.check(now, lag_s)
        if holds:
            self.withheld += 1
            if [h.name for h in holds] != [h.name for h in self.withholding]:
                log.warning("watchdog: withholding the ping: %s", "; ".join(map(str, holds)),
                            extra={"fields": {"kind": "watchdog", "watchdog": "withheld"}})
            self.withholding = holds
            return False
        if self.withholding:
            log.info("watchdog: pinging again", extra={"fields": {"kind": "watchdog",
                                                                  "watchdog": "resumed"}})
            self.withholding = ()
        self.pings += 1
        self._notifier.watchdog()
        return True

    async def run(self) -> None:
        """Ping until cancelled; the first ping goes out at once."""
        self.tick(self._clock(), 0.0)
        while True:
            due = self._clock() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = self._clock()
            self.tick(now, max(0.0, now - due))
