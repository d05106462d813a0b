"""The periodic health task: sample /proc, judge the figures, write the record, update STATUS.

One wake-up per ``health.interval_s`` (60 s by default), so it costs nothing
measurable. The daemon calls :meth:`HealthReporter.refresh_status` on state changes
so ``systemctl status edged`` is current between records. Each record also goes
to the Prometheus textfile when ``health.prometheus_textfile`` names one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from edged.config import HealthConfig
from edged.health.journal import record_health
from edged.health.metrics import Evaluation, Metrics, Priority, evaluate, status_line
from edged.health.notify import Notifier
from edged.health.proc import ProcSample, ProcSampler
from edged.health.prometheus import Textfile, exposition

log = logging.getLogger("edged.health")

Writer = Callable[[dict[str, Any], Priority, tuple[str, ...]], None]
Figures = Callable[[], Mapping[str, Any]]


class HealthReporter:
    def __init__(self, metrics: Metrics, config: HealthConfig, *,
                 notifier: Notifier | None = None, sampler: ProcSampler | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 write: Writer = record_health, figures: Figures | None = None) -> None:
        """``figures``: more of the record that the metrics do not hold (the timers
        pending, from the tools), asked for at each record."""
        self.metrics = metrics
        self.config = config
        self.textfile = Textfile(config.prometheus_textfile)
        self._figures = figures
        self._notifier = notifier
        self._sampler = sampler if sampler is not None else ProcSampler()
        self._clock = clock
        self._write = write
        self.last_sample: ProcSample | None = None
        self.last_snapshot: dict[str, Any] | None = None
        self.last_evaluation: Evaluation | None = None

    def reconfigure(self, config: HealthConfig) -> None:
        """New budgets or interval (after a reload); the next wait uses the new interval.
        The textfile is switched on, off or moved at once; it is next written with
        the next record."""
        self.config = config
        self.textfile.move(config.prometheus_textfile)

    def prime(self) -> None:
        """Take the first /proc reading, so the first record's CPU covers one interval."""
        self.last_sample = self._sampler.sample(self._clock())

    def report(self) -> tuple[dict[str, Any], Evaluation]:
        """Write one health record now (and the textfile), and return it with its
        evaluation."""
        snapshot, evaluation = self._record()
        text = self._exposition(snapshot, evaluation)
        if text is not None:
            self.textfile.write(text)
        return snapshot, evaluation

    def _record(self) -> tuple[dict[str, Any], Evaluation]:
        now = self._clock()
        try:
            self.last_sample = self._sampler.sample(now)
        except OSError as exc:  # /proc unreadable: still report the rest
            log.warning("cannot read /proc for memory and CPU: %s", exc)
        snapshot = self.metrics.snapshot(now, self.last_sample)
        if self._figures is not None:
            try:
                snapshot.update(self._figures())
            except Exception:  # the rest of the record still counts
                log.exception("health figures from the tools failed")
        evaluation = evaluate(snapshot, self.config)
        self._write(snapshot, evaluation.priority, evaluation.reasons)
        self.last_snapshot, self.last_evaluation = snapshot, evaluation
        if self._notifier is not None:
            self._notifier.status(status_line(snapshot, evaluation))
        return snapshot, evaluation

    def _exposition(self, snapshot: dict[str, Any], evaluation: Evaluation) -> str | None:
        if self.textfile.path is None:
            return None
        return exposition(snapshot, priority=evaluation.priority, budgets=self.config)

    def refresh_status(self) -> str:
        """Recompute STATUS= from the current state and the last /proc sample, and send it."""
        snapshot = self.metrics.snapshot(self._clock(), self.last_sample)
        line = status_line(snapshot, self.last_evaluation)
        if self._notifier is not None:
            self._notifier.status(line)
        return line

    async def run(self) -> None:
        """Report every ``config.interval_s`` until cancelled."""
        self.prime()
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.config.interval_s
            due = max(due, loop.time())  # after a stall, do not fire a burst to catch up
            await asyncio.sleep(due - loop.time())
            try:
                text = self._exposition(*self._record())
                if text is not None:
                    # fsync on an SD card can take tens of milliseconds: off the loop
                    await asyncio.to_thread(self.textfile.write, text)
            except Exception:  # a bad figure must not end health reporting for good
                log.exception("health record failed")
