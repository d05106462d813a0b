"""Resident memory and CPU use of a process, read from /proc.

Two small reads per sample (``status`` and ``stat``), no psutil: cheap enough for
every health interval. CPU time comes from ``utime + stime`` in clock ticks (all
threads, so PortAudio's callback threads count), which gives 1/CLK_TCK resolution —
0.017 % of one core over a 60 s interval at the usual 100 Hz.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcSample:
    rss_mb: float
    peak_rss_mb: float
    cpu_pct: float | None  # % of one core between samples; None until there is an interval


def parse_status(text: str) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` in kB from the text of /proc/PID/status."""
    rss = hwm = 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, max(rss, hwm)


def parse_cpu_ticks(text: str) -> int:
    """``utime + stime`` (clock ticks) from the text of /proc/PID/stat.

    The command name (field 2) may hold spaces and parentheses, so fields are counted
    from the last ``)``: state is field 3, utime 14 and stime 15.
    """
    after = text[text.rindex(")") + 2:].split()
    return int(after[11]) + int(after[12])


def cpu_percent(ticks: int, seconds: float, ticks_per_s: float) -> float:
    """CPU use as a percentage of one core over ``seconds`` of wall time."""
    if seconds <= 0:
        return 0.0
    return max(0.0, 100.0 * ticks / ticks_per_s / seconds)


class ProcSampler:
    """Samples one process (``self`` by default); CPU is averaged between samples."""

    def __init__(self, pid: int | str = "self", proc: str = "/proc",
                 min_interval_s: float = 0.5) -> None:
        self._dir = f"{proc}/{pid}"
        self._hz = float(os.sysconf("SC_CLK_TCK"))
        self._min_interval = min_interval_s
        self._last: tuple[float, int] | None = None
        self._last_cpu: float | None = None
        self._peak_kb = 0

    def _read(self, name: str) -> str:
        with open(f"{self._dir}/{name}", "rb") as f:
            return f.read().decode("ascii", "replace")

    def sample(self, now: float) -> ProcSample:
        """Read the figures; ``now`` is a monotonic time in seconds."""
        rss_kb, hwm_kb = parse_status(self._read("status"))
        # The kernel folds RSS into VmHWM lazily, so a later VmHWM can read below an
        # earlier VmRSS: keep the highest seen.
        self._peak_kb = max(self._peak_kb, hwm_kb)
        ticks = parse_cpu_ticks(self._read("stat"))
        if self._last is None:
            self._last = (now, ticks)
        elif now - self._last[0] >= self._min_interval:
            then, last_ticks = self._last
            self._last_cpu = cpu_percent(ticks - last_ticks, now - then, self._hz)
            self._last = (now, ticks)
        # else: too short an interval for clock ticks to mean anything (one tick in
        # 10 ms reads as 100 %): keep the baseline and report the last figure.
        return ProcSample(rss_kb / 1024.0, self._peak_kb / 1024.0, self._last_cpu)
