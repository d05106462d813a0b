"""The supervisor's pure rules: reopen backoff and stall detection."""

from __future__ import annotations

from edged.audio.status import STARTUP_GRACE_S, reopen_delay, stalled


def test_reopen_backoff_doubles_up_to_the_cap() -> None:
    assert [reopen_delay(n, 10.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert reopen_delay(10_000, 3.0) == 3.0  # no overflow on a very long outage


def test_a_stream_is_stalled_only_after_the_timeout() -> None:
    opened = 100.0
    now = opened + STARTUP_GRACE_S + 10
    assert not stalled(now, opened, last_callback=now - 1.9, timeout=2.0)
    assert stalled(now, opened, last_callback=now - 2.1, timeout=2.0)


def test_a_fresh_stream_gets_a_start_up_grace() -> None:
    opened = 100.0
    # no callback yet, 3 s after opening: slow first buffers, not a lost device
    assert not stalled(opened + 3.0, opened, last_callback=0.0, timeout=2.0)
    assert stalled(opened + 2.0 + STARTUP_GRACE_S + 0.1, opened, last_callback=0.0, timeout=2.0)
