"""Check 12: journald is reachable: its socket answers and a test entry lands there.

libsystemd drops an entry silently when the socket is missing, so the check
connects to the socket itself first, then sends a uniquely tagged entry and, when
this user may read the journal, reads it back.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, warn

ID, TITLE = "journald", "journald"
READ_BACK_S = 3.0


def _socket_answers(path: str) -> str | None:
    """None when something accepts datagrams on ``path``; otherwise why not."""
    if not os.path.exists(path):
        return "no such socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(path)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    finally:
        s.close()
    return None


def _read_back(token: str) -> bool:
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        return False
    deadline = time.monotonic() + READ_BACK_S
    while time.monotonic() < deadline:
        try:
            out = subprocess.run([journalctl, "--no-pager", "-o", "cat",
                                  f"EDGED_DOCTOR_TOKEN={token}"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return False
        if token in out:
            return True
        time.sleep(0.1)
    return False


def check_journald(ctx: Context) -> CheckResult:
    path = ctx.options.journal_socket
    why = _socket_answers(path)
    if why is not None:
        return fail(ID, TITLE, f"journald is not reachable at {path} ({why}); edged would log "
                    "to standard error", "start it: sudo systemctl start systemd-journald "
                    "(in a container without systemd, edged's logs go to stderr)", socket=path)
    try:
        import systemd.journal
    except ImportError:
        return fail(ID, TITLE, "the systemd Python module is missing",
                    "reinstall edged (scripts/setup installs systemd-python)", socket=path)
    token = uuid.uuid4().hex
    try:
        systemd.journal.send(f"edged doctor: journal test {token}", SYSLOG_IDENTIFIER="edged",
                             EDGED_KIND="doctor", EDGED_DOCTOR_TOKEN=token, PRIORITY="6")
    except OSError as exc:
        return fail(ID, TITLE, f"journald refused a test entry: {exc.strerror or exc}",
                    "check journald: journalctl --verify; sudo systemctl restart "
                    "systemd-journald", socket=path)
    if _read_back(token):
        return ok(ID, TITLE, "a test entry was written and read back "
                  f"(journalctl EDGED_DOCTOR_TOKEN={token[:8]}…)", socket=path, token=token)
    return warn(ID, TITLE, "a test entry was sent but could not be read back",
                "to read the journal, be root or in the systemd-journal group "
                "(sudo usermod -aG systemd-journal $USER)", socket=path, token=token)
