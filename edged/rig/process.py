"""The real ``edged run`` as a child process, the way the tests and the bench start it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def start_edged(config: Path, env: Mapping[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    """``edged run --config CONFIG`` with its output in ``out``: a file, never a pipe
    (a pipe nobody reads fills up and stalls the daemon)."""
    return subprocess.Popen([sys.executable, "-m", "edged", "run", "--config", str(config)],
                            env=dict(env), stdout=out, stderr=subprocess.STDOUT)


def stop_edged(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, as systemd stops it; killed if it is not gone within ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
