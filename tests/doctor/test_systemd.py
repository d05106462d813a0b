"""Check 13: the unit's state from ``systemctl show``, and the machine without PID 1 systemd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edged.doctor.context import Context, Options
from edged.doctor.systemd import check_systemd, judge, parse_show

SHOW = """LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
FragmentPath=/etc/systemd/system/edged.service
Result=success
"""


def props(**changes: str) -> dict[str, str]:
    return {**parse_show(SHOW), **changes}


def test_active_and_enabled_passes() -> None:
    result = judge(props())
    assert result.status == "ok"
    assert "active (running)" in result.summary and "enabled" in result.summary


def test_each_unhealthy_state_has_its_fix() -> None:
    missing = judge(props(LoadState="not-found", ActiveState="inactive"))
    assert missing.status == "fail" and "install.sh" in (missing.fix or "")
    stopped = judge(props(ActiveState="inactive", SubState="dead"))
    assert stopped.status == "fail" and "enable --now" in (stopped.fix or "")
    failed = judge(props(ActiveState="failed", SubState="failed", Result="watchdog"))
    assert failed.status == "fail" and "watchdog" in failed.summary
    assert "journalctl -u edged" in (failed.fix or "")
    not_at_boot = judge(props(UnitFileState="disabled"))
    assert not_at_boot.status == "warn" and "systemctl enable edged" in (not_at_boot.fix or "")


def test_without_systemd_as_pid_1_it_is_skipped_with_a_note(tmp_path: Path) -> None:
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is PID 1 here; this test is for machines without it")
    units = tmp_path / "units"
    units.mkdir()
    opts = Options(unit_dirs=(str(units),))
    absent = check_systemd(Context(opts))
    assert absent.status == "skip"
    assert "not PID 1" in absent.summary and "no unit file" in absent.summary
    (units / "edged.service").write_text("[Service]\nExecStart=/bin/true\n")
    present = check_systemd(Context(opts))
    assert present.status == "skip"
    assert str(units / "edged.service") in present.summary
