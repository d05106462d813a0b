"""Memory and CPU from the real /proc, checked against the kernel's own accounting."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from edged.health.proc import ProcSampler, cpu_percent, parse_cpu_ticks, parse_status


def spin(cpu_seconds: float) -> None:
    """Burn ``cpu_seconds`` of this thread's CPU time."""
    end = time.thread_time() + cpu_seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def test_parse_stat_with_a_command_name_holding_spaces_and_parentheses() -> None:
    fields = ["S", "1", "2", "3", "0", "-1", "4194560", "100", "0", "0", "0", "250", "70"]
    text = "1234 (my (odd) name) " + " ".join(fields) + " 0 0 20 0 1 0\n"
    assert parse_cpu_ticks(text) == 320


def test_parse_status() -> None:
    text = "Name:\tpython\nVmPeak:\t  9000 kB\nVmHWM:\t   4096 kB\nVmRSS:\t   2048 kB\n"
    assert parse_status(text) == (2048, 4096)


def test_cpu_percent() -> None:
    assert cpu_percent(50, 1.0, 100.0) == 50.0
    assert cpu_percent(200, 1.0, 100.0) == 200.0  # two cores busy
    assert cpu_percent(10, 0.0, 100.0) == 0.0


def test_rss_and_peak_follow_a_real_allocation() -> None:
    sampler = ProcSampler()
    before = sampler.sample(time.monotonic())
    block = bytearray(40 * 1024 * 1024)  # zero-filled by calloc: touch every page
    for i in range(0, len(block), 4096):
        block[i] = 1
    during = sampler.sample(time.monotonic())
    del block
    after = sampler.sample(time.monotonic())
    assert before.cpu_pct is None  # no interval yet
    assert during.rss_mb - before.rss_mb > 35
    assert during.peak_rss_mb >= during.rss_mb
    assert after.peak_rss_mb >= during.rss_mb  # the high-water mark stays
    assert after.rss_mb < during.rss_mb - 30  # freed


def test_cpu_matches_the_kernels_process_time() -> None:
    sampler = ProcSampler(min_interval_s=0.1)
    t0, c0 = time.monotonic(), time.process_time()
    sampler.sample(t0)
    spin(0.4)
    t1, c1 = time.monotonic(), time.process_time()
    sample = sampler.sample(t1)
    expected = 100.0 * (c1 - c0) / (t1 - t0)
    tick_error = 100.0 * 0.02 / (t1 - t0)  # 1/CLK_TCK at each end
    assert sample.cpu_pct is not None
    assert abs(sample.cpu_pct - expected) <= tick_error + 2.0


def test_cpu_counts_other_threads() -> None:
    """PortAudio's callbacks run in their own threads: they must count."""
    sampler = ProcSampler(min_interval_s=0.1)
    t0 = time.monotonic()
    sampler.sample(t0)
    worker = threading.Thread(target=spin, args=(0.3,))
    worker.start()
    worker.join()
    sample = sampler.sample(time.monotonic())
    assert sample.cpu_pct is not None
    assert sample.cpu_pct > 100.0 * 0.25 / (time.monotonic() - t0)


def test_idle_process_uses_almost_no_cpu() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = ProcSampler(child.pid)
        time.sleep(0.5)  # let it finish starting up
        sampler.sample(time.monotonic())
        time.sleep(1.0)
        sample = sampler.sample(time.monotonic())
    finally:
        child.kill()
        child.wait()
    assert sample.cpu_pct is not None
    assert sample.cpu_pct < 3.0
    assert 1.0 < sample.rss_mb < 100.0


def test_a_too_short_interval_keeps_the_last_figure() -> None:
    sampler = ProcSampler(min_interval_s=0.5)
    t0 = time.monotonic()
    sampler.sample(t0)
    time.sleep(0.6)
    first = sampler.sample(time.monotonic())
    spin(0.02)  # one or two clock ticks in a few ms would read as ~100 %
    again = sampler.sample(time.monotonic())
    assert first.cpu_pct is not None
    assert again.cpu_pct == first.cpu_pct
