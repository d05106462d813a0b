"""sd_notify through systemd-python to a real NOTIFY_SOCKET, and the watchdog's gating.

The listener (tests/rigs/notify.py) stands in for systemd: it receives exactly the
datagrams PID 1 would. Timing assertions are about cadence and absence (no ping while
blocked), with generous margins for a loaded machine.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
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


def run_for(seconds: float, *tasks: Callable[[], Coroutine[Any, Any, None]],
            during: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
    """Run ``tasks`` on a fresh event loop for ``seconds`` (or until ``during`` ends)."""
    async def main() -> None:
        running = [asyncio.create_task(t()) for t in tasks]
        try:
            if during is not None:
                await during()
            else:
                await asyncio.sleep(seconds)
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


def test_decision_ignores_a_probe_with_nothing_to_vouch_for() -> None:
    assert watchdog_decision(10.0, 0.0, 0.1, [("audio", None, 2.0)]) == ()


def test_watchdog_off_without_watchdog_usec() -> None:
    assert Watchdog.from_env(Notifier(), {}) is None


# --------------------------------------------------------------------------- real cadence


def test_pings_at_half_of_watchdog_usec(notify_socket: NotifyListener) -> None:
    dog = Watchdog.from_env(Notifier(), {"WATCHDOG_USEC": "400000"})
    assert dog is not None and dog.interval_s == 0.2
    start = time.monotonic()
    run_for(2.2, dog.run)
    pings = [d.t for d in notify_socket.having("WATCHDOG=1")]
    assert 6 <= len(pings) <= 13, pings  # ~11 expected
    assert pings[0] - start < 0.2  # the first goes out at once
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert 0.15 <= statistics.median(gaps) <= 0.35, gaps


def test_no_pings_while_the_loop_is_blocked(notify_socket: NotifyListener) -> None:
    dog = Watchdog(0.2, Notifier())
    marks: dict[str, float] = {}

    async def scenario() -> None:
        await asyncio.sleep(0.7)
        marks["blocked"] = time.monotonic()
        time.sleep(1.2)  # a hung callback: the loop cannot run anything
        marks["unblocked"] = time.monotonic()
        await asyncio.sleep(1.0)

    run_for(0, dog.run, during=scenario)
    pings = [d.t for d in notify_socket.having("WATCHDOG=1")]
    before = [t for t in pings if t < marks["blocked"]]
    inside = [t for t in pings if marks["blocked"] + 0.05 < t < marks["unblocked"]]
    after = [t for t in pings if t > marks["unblocked"]]
    assert len(before) >= 2
    assert inside == []
    assert len(after) >= 2
    # The first tick after the block saw how late it was and withheld its ping.
    assert after[0] - marks["unblocked"] >= 0.1
    assert dog.withheld >= 1


def test_no_pings_while_a_probe_is_stale(notify_socket: NotifyListener,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edged.health.notify")
    dog = Watchdog(0.1, Notifier(), max_lag_s=1.0)  # lag is not what this test is about
    audio = Liveness()
    dog.add_probe("audio callbacks", 0.3, audio)
    beating = threading.Event()
    beating.set()
    stop = threading.Event()

    def callback_thread() -> None:  # stands in for PortAudio's callback thread
        while not stop.is_set():
            if beating.is_set():
                audio.beat(time.monotonic())
            time.sleep(0.02)

    thread = threading.Thread(target=callback_thread)
    thread.start()
    marks: dict[str, float] = {}

    async def scenario() -> None:
        await asyncio.sleep(0.6)
        beating.clear()
        marks["stalled"] = time.monotonic()
        await asyncio.sleep(1.5)
        marks["resumed"] = time.monotonic()
        beating.set()
        await asyncio.sleep(0.8)

    try:
        run_for(0, dog.run, during=scenario)
    finally:
        stop.set()
        thread.join()
    pings = [d.t for d in notify_socket.having("WATCHDOG=1")]
    # Once the last beat is older than 0.3 s (plus a tick), no ping until beats resume.
    quiet_from = marks["stalled"] + 0.3 + 0.1 + 0.1
    assert [t for t in pings if quiet_from < t < marks["resumed"]] == []
    assert len([t for t in pings if t < marks["stalled"]]) >= 3
    assert len([t for t in pings if t > marks["resumed"]]) >= 3
    assert dog.withheld >= 5
    # The journal says why, once per change, so a restart by systemd can be explained.
    said = [r.getMessage() for r in caplog.records if r.name == "edged.health.notify"]
    assert any(m.startswith("watchdog: withholding the ping: audio callbacks last alive")
               for m in said), said
    assert "watchdog: pinging again" in said
    assert len(said) == 2  # once when it stopped, once when it resumed
