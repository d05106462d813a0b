"""sd_notify through systemd-python to a real NOTIFY_SOCKET, and the watchdog's gating.

The listener (tests/rigs/notify.py) stands in for systemd: it receives exactly the
datagrams PID 1 would. The cadence tests wait for events (so many pings, so many
withheld ticks) with generous timeouts and check the order of what the watchdog did
on its own loop thread: never how long anything took, which on a loaded machine
is anyone's guess (figures belong in the bench).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from edged.health.notify import (
    Liveness,
    Notifier,
    Watchdog,
    notify,
    watchdog_decision,
    watchdog_interval,
)
from tests.rigs.notify import NotifyListener

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_with(*tasks: Callable[[], Coroutine[Any, Any, None]],
             during: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``tasks`` on a fresh event loop until ``during`` ends."""
    async def main() -> None:
        running = [asyncio.create_task(t()) for t in tasks]
        try:
            await during()
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
    asyncio.run(main())


# --------------------------------------------------------------------------- messages


def test_ready_status_stopping(notify_socket: NotifyListener) -> None:
    n = Notifier()
    assert n.ready("listening · link connecting")
    assert n.status("idle\n· link up")
    assert n.status("idle · link up")  # the same line again: not resent
    assert n.stopping("shutting down")
    dgs = notify_socket.wait_for("STOPPING=1")
    raws = [d.raw for d in notify_socket.datagrams]
    assert raws == ["READY=1\nSTATUS=listening · link connecting", "STATUS=idle · link up",
                    "STOPPING=1\nSTATUS=shutting down"]
    assert dgs[0].fields["STATUS"] == "shutting down"


def test_reloading_carries_the_monotonic_clock(notify_socket: NotifyListener) -> None:
    n = Notifier()
    before = time.monotonic_ns() // 1000
    assert n.reloading()
    after = time.monotonic_ns() // 1000
    assert n.ready()
    [reload_dg] = notify_socket.wait_for("RELOADING=1")
    ready = notify_socket.wait_for("READY=1")
    assert before <= int(reload_dg.fields["MONOTONIC_USEC"]) <= after
    assert ready[0].t >= reload_dg.t


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    assert Notifier().ready() is False


def test_a_child_process_reports_through_the_rig() -> None:
    """How the daemon is tested end to end: NOTIFY_SOCKET comes from its environment."""
    listener = NotifyListener()
    try:
        code = "from edged.health.notify import Notifier; Notifier().ready('child up')"
        env = {**os.environ, **listener.env(), "PYTHONPATH": ROOT}
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
        [dg] = listener.wait_for("READY=1")
        assert dg.fields["STATUS"] == "child up"
    finally:
        listener.close()


# --------------------------------------------------------------------------- pure gating


@pytest.mark.parametrize("env, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "123"}, 0.2),
    ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "999"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, 123) == expected


def test_decision_pings_when_all_is_alive() -> None:
    assert watchdog_decision(10.0, 0.01, 0.1, [("audio", 9.5, 2.0)]) == ()


def test_decision_withholds_for_a_late_loop() -> None:
    holds = watchdog_decision(10.0, 0.5, 0.1, [])
    assert [str(h) for h in holds] == ["event loop 500 ms late (limit 100 ms)"]


def test_decision_withholds_for_a_stale_probe() -> None:
    holds = watchdog_decision(10.0, 0.0, 0.1, [("audio", 7.0, 2.0), ("controls", 9.9, 2.0)])
    assert [str(h) for h in holds] == ["audio last alive 3.0 s ago (limit 2 s)"]


def test_a_probe_limit_given_as_a_function_is_read_at_every_check() -> None:
    """The daemon passes audio.stall_timeout_s this way: before, a reload of it was
    ignored until a restart."""
    limit = [2.0]
    dog = Watchdog(10.0, Notifier(), max_lag_s=1.0)
    dog.add_probe("audio callbacks", lambda: limit[0], lambda: 7.0)
    assert [h.name for h in dog.check(10.0, 0.0)] == ["audio callbacks"]  # 3 s > 2 s
    limit[0] = 5.0
    assert dog.check(10.0, 0.0) == ()
    dog.add_probe("fixed", 2.5, lambda: 7.0)
    assert [h.name for h in dog.check(10.0, 0.0)] == ["fixed"]


def test_decision_ignores_a_probe_with_nothing_to_vouch_for() -> None:
    assert watchdog_decision(10.0, 0.0, 0.1, [("audio", None, 2.0)]) == ()


def test_watchdog_off_without_watchdog_usec() -> None:
    assert Watchdog.from_env(Notifier(), {}) is None


# --------------------------------------------------------------------------- real cadence


class Trace(logging.Handler):
    """What a watchdog did, in the order it did it: each ping it sent (on through the
    real sd_notify, to the listener) and each line it logged. Both happen on the
    watchdog's own loop thread, so the order is exact and needs no clock."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.steps.append(record.getMessage())

    def send(self, message: str) -> bool:
        if message == "WATCHDOG=1":
            self.steps.append(PING)
        return notify(message)

    def pings(self, since: int = 0) -> int:
        return self.steps[since:].count(PING)


PING = "<ping>"


@pytest.fixture
def trace(caplog: pytest.LogCaptureFixture) -> Iterator[Trace]:
    caplog.set_level(logging.INFO, logger="edged.health.notify")
    handler = Trace()
    logger = logging.getLogger("edged.health.notify")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def until(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Let the loop run until ``condition`` holds (generous: a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def test_pings_at_half_of_watchdog_usec(notify_socket: NotifyListener) -> None:
    sent: list[float] = []  # when each ping went out, on the watchdog's loop

    def send(message: str) -> bool:
        if message == "WATCHDOG=1":
            sent.append(time.monotonic())
        return notify(message)

    dog = Watchdog.from_env(Notifier(send), {"WATCHDOG_USEC": "400000"})
    assert dog is not None and dog.interval_s == 0.2

    async def scenario() -> None:
        await asyncio.sleep(0)  # one step of the watchdog's task: up to its first sleep
        assert len(sent) == 1  # the first ping went out at once, not an interval later
        # then one every interval: a watchdog that slept longer would find itself late
        # and withhold them (a loaded machine only makes this take longer)
        await until(lambda: len(sent) >= 6, "six pings")

    run_with(dog.run, during=scenario)
    notify_socket.wait_for("WATCHDOG=1", count=len(sent))  # every one reached "systemd"
    # and never more often than the interval
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= dog.interval_s - 0.001, gaps


def test_no_pings_while_the_loop_is_blocked(notify_socket: NotifyListener,
                                            trace: Trace) -> None:
    dog = Watchdog(0.2, Notifier(trace.send))
    marks: dict[str, int] = {}

    async def scenario() -> None:
        # pinging, and not withholding for a late tick of its own (a loaded machine)
        await until(lambda: trace.pings() >= 2 and not dog.withholding, "two pings")
        marks["blocked"] = len(trace.steps)
        time.sleep(1.2)  # a hung callback: the loop cannot run anything
        await until(lambda: trace.pings(marks["blocked"]) >= 2, "two pings after the block")

    run_with(dog.run, during=scenario)
    after = trace.steps[marks["blocked"]:]
    # The first tick after the block saw how late it was and withheld its ping; the
    # next one on time pinged again.
    assert after[0].startswith("watchdog: withholding the ping: event loop "), after
    assert after[0].endswith(" late (limit 100 ms)"), after
    assert after[1:3] == ["watchdog: pinging again", PING], after
    assert dog.withheld >= 1
    notify_socket.wait_for("WATCHDOG=1", count=trace.pings())


def test_no_pings_while_a_probe_is_stale(notify_socket: NotifyListener, trace: Trace) -> None:
    dog = Watchdog(0.1, Notifier(trace.send), max_lag_s=60.0)  # lag is not what this is about
    audio = Liveness()
    dog.add_probe("audio callbacks", 0.3, audio)
    beating = threading.Event()
    beating.set()
    lock = threading.Lock()  # no beat slips in after ``beating`` is cleared
    stop = threading.Event()

    def callback_thread() -> None:  # stands in for PortAudio's callback thread
        while not stop.is_set():
            with lock:
                if beating.is_set():
                    audio.beat(time.monotonic())
            time.sleep(0.02)

    thread = threading.Thread(target=callback_thread)
    thread.start()
    marks: dict[str, int] = {}

    async def scenario() -> None:
        # pinging, and not withholding because the stand-in thread was starved once
        await until(lambda: trace.pings() >= 3 and not dog.withholding, "three pings")
        with lock:
            beating.clear()
        marks["stalled"] = len(trace.steps)
        await until(lambda: dog.withholding, "the stale probe to stop the pings")
        withheld = dog.withheld
        await until(lambda: dog.withheld >= withheld + 5, "five more ticks")
        marks["resumed"] = len(trace.steps)
        beating.set()
        await until(lambda: trace.pings(marks["resumed"]) >= 3, "three pings after it")

    try:
        run_with(dog.run, during=scenario)
    finally:
        stop.set()
        thread.join()
    stalled = trace.steps[marks["stalled"]:]
    lines = [i for i, step in enumerate(stalled) if step != PING]
    # Once the probe was stale: not one ping until beats resumed. The journal says why,
    # once per change (not once per tick), so a restart by systemd can be explained.
    assert stalled[lines[0]].startswith(
        "watchdog: withholding the ping: audio callbacks last alive "), stalled
    assert stalled[lines[1]] == "watchdog: pinging again", stalled
    assert lines[0] < marks["resumed"] - marks["stalled"] <= lines[1]
    assert PING not in stalled[lines[0]:lines[1]]
    assert stalled[lines[1] + 1] == PING
    notify_socket.wait_for("WATCHDOG=1", count=trace.pings())
