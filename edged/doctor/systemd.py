"""Check 13: the systemd unit is installed, enabled and active.

Without systemd as PID 1 (a container, a chroot) ``systemctl`` cannot answer: the
check then says so and reports only whether the unit file is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from edged.doctor.context import UNIT, Context
from edged.doctor.result import CheckResult, fail, ok, skip, warn

ID, TITLE = "systemd", "systemd unit"
PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "FragmentPath", "Result")
_INSTALL = "install it: sudo scripts/install.sh (the unit, the edged user and the config)"


def parse_show(text: str) -> dict[str, str]:
    """Pure: ``systemctl show -p ...`` output (``Key=value`` lines) as a mapping."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def judge(props: Mapping[str, str]) -> CheckResult:  # noqa: PLR0911 - one verdict per unit state
    """Pure: the verdict on the unit from its ``systemctl show`` properties."""
    load = props.get("LoadState", "")
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    enabled = props.get("UnitFileState", "")
    where = props.get("FragmentPath") or UNIT
    facts: dict[str, Any] = {k: props.get(k, "") for k in PROPERTIES}
    if load == "not-found":
        return fail(ID, TITLE, f"{UNIT} is not installed", _INSTALL, **facts)
    if load != "loaded":
        return fail(ID, TITLE, f"{UNIT} did not load ({load})",
                    f"systemd-analyze verify {where} says why", **facts)
    state = f"{active} ({sub})" if sub else active
    if active == "active":
        if enabled not in ("enabled", "enabled-runtime", "static", "alias", "indirect"):
            return warn(ID, TITLE, f"{where}: {state} but {enabled or 'not enabled'}: it will "
                        "not start at boot", "sudo systemctl enable edged", **facts)
        return ok(ID, TITLE, f"{where}: {state}, {enabled}", **facts)
    if active == "failed":
        why = props.get("Result", "")
        return fail(ID, TITLE, f"{UNIT} failed{f' ({why})' if why else ''}",
                    "journalctl -u edged -n 50 shows why; then: sudo systemctl restart edged",
                    **facts)
    if active in ("activating", "reloading", "deactivating"):
        return warn(ID, TITLE, f"{where}: {state}",
                    "wait a moment and run edged doctor again", **facts)
    return fail(ID, TITLE, f"{where}: installed but {state}",
                "start it (and at every boot): sudo systemctl enable --now edged", **facts)


def unit_file(dirs: tuple[str, ...]) -> str | None:
    for d in dirs:
        path = os.path.join(d, UNIT)
        if os.path.exists(path):
            return path
    return None


def check_systemd(ctx: Context) -> CheckResult:
    opts = ctx.options
    installed = unit_file(opts.unit_dirs)
    if not os.path.isdir(opts.systemd_run_dir):
        where = f"unit file {installed}" if installed else "no unit file installed"
        return skip(ID, TITLE, f"skipped: systemd is not PID 1 here (a container?), so "
                    f"whether edged is active cannot be checked; {where}",
                    unit_file=installed)
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return skip(ID, TITLE, "skipped: systemctl is not installed", unit_file=installed)
    try:
        done = subprocess.run([systemctl, "show", UNIT, "--no-pager",
                               *(f"--property={p}" for p in PROPERTIES)],
                              capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return fail(ID, TITLE, f"systemctl did not answer: {exc}",
                    "check systemd: systemctl is-system-running")
    props = parse_show(done.stdout)
    if done.returncode != 0 or "LoadState" not in props:
        return fail(ID, TITLE, f"systemctl show {UNIT} failed: "
                    f"{done.stderr.strip() or done.returncode}",
                    "check systemd: systemctl is-system-running")
    return judge(props)
