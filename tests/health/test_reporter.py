"""The periodic health task against a real journald and a NOTIFY_SOCKET listener."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from edged.config import HealthConfig
from edged.health import journal as hj
from edged.health.metrics import Metrics
from edged.health.notify import Notifier
from edged.health.reporter import HealthReporter
from tests.rigs.journald import Journal
from tests.rigs.notify import NotifyListener


@pytest.fixture
def to_journal(journald: Journal) -> Iterator[None]:
    hj.setup_logging(logging.INFO)
    try:
        yield
    finally:
        hj.reset_logging()


def busy_metrics() -> Metrics:
    m = Metrics(0.0)
    m.set_state("listening")
    m.set_link("up", 0.0)
    m.set_device("input", "ok")
    m.set_device("output", "ok")
    return m


def test_records_every_interval_with_real_memory_and_cpu(
        to_journal: None, journald: Journal, journal_cursor: str | None,
        notify_socket: NotifyListener) -> None:
    # Budgets far above what a pytest process uses (its RSS depends on what ran before),
    # so the record stays at info and STATUS carries no warning suffix.
    budgets = HealthConfig(interval_s=1.0, memory_warning_mb=4000, memory_critical_mb=4096,
                           cpu_warning_pct=300, cpu_critical_pct=400)
    reporter = HealthReporter(busy_metrics(), budgets, notifier=Notifier())

    async def main() -> None:
        task = asyncio.create_task(reporter.run())
        await asyncio.sleep(2.6)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    entries = journald.mine(journal_cursor, "EDGED_KIND=health", count=2)
    assert 2 <= len(entries) <= 3
    for entry in entries:
        assert 10.0 < float(entry["EDGED_RSS_MB"]) < 1000.0  # this test process, really
        assert float(entry["EDGED_PEAK_RSS_MB"]) >= float(entry["EDGED_RSS_MB"])
        assert 0.0 <= float(entry["EDGED_CPU_PCT"]) < 100.0
        assert entry["EDGED_STATE"] == "listening"
    status = notify_socket.wait_for("STATUS")[-1].fields["STATUS"]
    assert status.startswith("listening · link up ")
    assert status.endswith("% CPU")


def test_over_budget_record_is_critical_and_status_says_why(
        to_journal: None, journald: Journal, journal_cursor: str | None,
        notify_socket: NotifyListener) -> None:
    tight = HealthConfig(memory_warning_mb=1, memory_critical_mb=2)
    reporter = HealthReporter(busy_metrics(), tight, notifier=Notifier())
    reporter.prime()
    _, ev = reporter.report()
    assert ev.priority == "critical"
    [entry] = journald.mine(journal_cursor, "EDGED_KIND=health")
    assert entry["PRIORITY"] == "2"
    assert entry["EDGED_REASONS"].startswith("memory ")
    assert "critical: memory" in notify_socket.wait_for("STATUS")[-1].fields["STATUS"]

    # a reload raised the levels (far above this test process, whatever ran before it)
    reporter.reconfigure(HealthConfig(memory_warning_mb=4000, memory_critical_mb=4096))
    _, ev = reporter.report()
    assert not any(r.startswith("memory") for r in ev.reasons)


def test_refresh_status_follows_state_changes(notify_socket: NotifyListener) -> None:
    metrics = busy_metrics()
    written: list[tuple[object, ...]] = []
    reporter = HealthReporter(metrics, HealthConfig(), notifier=Notifier(),
                              write=lambda *a: written.append(a))
    reporter.prime()
    metrics.set_state("speaking")
    assert reporter.refresh_status().startswith("speaking · link up")
    metrics.set_link("connecting", 5.0)
    reporter.refresh_status()
    statuses = [d.fields["STATUS"] for d in notify_socket.wait_for("STATUS", count=2)]
    assert statuses[0].startswith("speaking · link up")
    assert statuses[1].startswith("speaking · link connecting")
    assert written == []  # a status refresh writes no health record
