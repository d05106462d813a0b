"""``edged run`` keeps the service user's other processes out of the daemon."""

from __future__ import annotations

import subprocess
import sys

PR_GET_DUMPABLE = 3


def test_the_daemon_process_is_not_dumpable() -> None:
    """Command tools run as the same user: without this they could read the daemon's
    /proc/PID/environ and memory (the API key). Checked in a child, as prctl is
    per process; the same call with the line removed reports 1."""
    code = ("import ctypes, sys\n"
            "from edged.commands.run import not_dumpable\n"
            "libc = ctypes.CDLL(None)\n"
            f"before = libc.prctl({PR_GET_DUMPABLE}, 0, 0, 0, 0)\n"
            "ok = not_dumpable()\n"
            f"print(before, ok, libc.prctl({PR_GET_DUMPABLE}, 0, 0, 0, 0))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["1", "True", "0"]
