"""Checks 6–7: the GPIO pin factory and the configured pins, and the user's groups.

The pins are claimed through the daemon's own ``edged.buttons.gpio.Controls`` (so the
error is the one ``edged run`` would give) and released at once.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, skip, warn

_BUSY = ("is edged already running? stop it first (sudo systemctl stop edged); otherwise "
         "another program holds the pin, or pick another one in the config")


def check_gpio(ctx: Context) -> CheckResult:
    from edged.buttons.gpio import Controls, ControlsUnavailable

    check_id, title = "gpio", "GPIO"
    assert ctx.config is not None
    cfg = ctx.config.controls
    if not cfg.enabled:
        return skip(check_id, title, "skipped: controls.enabled is false (no buttons or LED)")
    pins = [(role, pin) for role, pin in (("ptt", cfg.ptt_pin), ("wake", cfg.wake_pin),
                                          ("led", cfg.led_pin)) if pin is not None]
    if not pins:
        return skip(check_id, title, "skipped: no pins configured (controls.*_pin are null)")
    # lgpio (the Pi's default factory) makes its notification pipe in LG_WD, else in the
    # working directory, which need not be writable where someone runs the doctor
    os.environ.setdefault("LG_WD", tempfile.gettempdir())
    loop = asyncio.new_event_loop()
    try:
        controls = Controls(cfg, loop, lambda _event: None, pin_factory=ctx.options.pin_factory)
    except ControlsUnavailable as exc:
        return fail(check_id, title, f"{exc.key}: {exc.cause}", gpio_fix(exc.cause),
                    key=exc.key)
    finally:
        loop.close()
    try:
        factory = _factory_name(ctx.options.pin_factory)
        stuck = controls.pressed_at_start
    finally:
        controls.close()
    shown = ", ".join(f"{role} BCM {pin}" for role, pin in pins)
    facts = {"factory": factory, "pins": dict(pins)}
    if stuck:
        which = " and ".join(stuck)
        return warn(check_id, title, f"{factory}: {shown} usable, but the {which} button reads "
                    "as pressed", "a button held, stuck or wired the other way: check the "
                    "wiring and controls.pull_up (true = the button connects the pin to "
                    "ground)", stuck=list(stuck), **facts)
    return ok(check_id, title, f"{factory}: {shown} usable", **facts)


def gpio_fix(cause: str) -> str:
    """The one thing to do about a ControlsUnavailable cause."""
    text = cause.lower()
    if "already in use" in text:
        return _BUSY
    if "permission" in text:
        return ("add the user to the gpio group (sudo usermod -aG gpio $USER, then log in "
                "again), or run: sudo -u edged edged doctor")
    if "does not exist" in text:
        return "use a BCM pin number between 2 and 27 (not the physical pin number)"
    if "pwm" in text:
        return "set controls.led_pwm: false, or move the LED to a PWM-capable pin"
    if "not a raspberry pi" in text or "no gpio library" in text:
        return ("on a Pi: sudo apt install python3-lgpio; elsewhere set controls.enabled: "
                "false (buttons then come from edged ctl)")
    return "set controls.enabled: false to run without GPIO, or controls.required: false"


def _factory_name(given: Any) -> str:
    if given is not None:
        return type(given).__name__
    from gpiozero import Device

    return type(Device.pin_factory).__name__ if Device.pin_factory is not None else "default"


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class GroupFinding:
    group: str
    problem: str  # "absent" (no such group), "missing" (not a member), "stale" (not yet active)


def group_findings(needed: Iterable[str], existing: set[str], active: set[str],
                   configured: set[str]) -> list[GroupFinding]:
    """Pure: which needed groups the user is not (yet) in.

    ``active``: groups of this login; ``configured``: groups the user database puts
    the user in (``usermod -aG`` changes this one, and takes effect at the next login).
    """
    found = []
    for group in needed:
        if group not in existing:
            found.append(GroupFinding(group, "absent"))
        elif group in active:
            continue
        elif group in configured:
            found.append(GroupFinding(group, "stale"))
        else:
            found.append(GroupFinding(group, "missing"))
    return found


def check_groups(ctx: Context) -> CheckResult:
    check_id, title = "groups", "groups"
    assert ctx.config is not None
    if os.geteuid() == 0:
        return skip(check_id, title, "skipped: running as root (the service itself runs as "
                    "the edged user, which the installer puts in these groups)")
    needed = ["audio", *(["gpio"] if ctx.config.controls.enabled else [])]
    user = pwd.getpwuid(os.geteuid()).pw_name
    all_groups = grp.getgrall()
    existing = {g.gr_name for g in all_groups}
    by_gid = {g.gr_gid: g.gr_name for g in all_groups}
    active = {by_gid[g] for g in os.getgroups() if g in by_gid}
    primary = by_gid.get(pwd.getpwuid(os.geteuid()).pw_gid)
    configured = {g.gr_name for g in all_groups if user in g.gr_mem} | (
        {primary} if primary else set())
    findings = group_findings(needed, existing, active, configured)
    facts = {"user": user, "needed": needed, "active": sorted(active & set(needed))}
    if not findings:
        return ok(check_id, title, f"{user} is in {' and '.join(needed)}", **facts)
    absent = [f.group for f in findings if f.problem == "absent"]
    missing = [f.group for f in findings if f.problem == "missing"]
    stale = [f.group for f in findings if f.problem == "stale"]
    parts = []
    if missing:
        parts.append(f"{user} is not in {', '.join(missing)}")
    if stale:
        parts.append(f"{user} was added to {', '.join(stale)} but this login predates it")
    if absent:
        parts.append(f"no {', '.join(absent)} group on this system")
    if missing:
        fix = f"sudo usermod -aG {','.join(missing)} {user}, then log out and in again"
    elif stale:
        fix = "log out and in again (or run: newgrp " + stale[0] + ")"
    else:
        fix = ("not a Raspberry Pi OS image? the GPIO group comes with it; without GPIO set "
               "controls.enabled: false")
    return warn(check_id, title, "; ".join(parts), fix, **facts,
                findings=[{"group": f.group, "problem": f.problem} for f in findings])
