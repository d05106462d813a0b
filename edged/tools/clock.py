"""What the system says about time: is the clock set, which boot is this, what is
the local time. A Pi has no real-time clock, so until NTP has answered the wall
clock may be hours (or years) off; the timers need to know.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

SYNC_FLAG = Path("/run/systemd/timesync/synchronized")  # touched by systemd-timesyncd
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
LOCALTIME = Path("/etc/localtime")
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
_TIMEX_BYTES = 512  # larger than struct timex on every ABI (208 bytes on 64-bit)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def kernel_state() -> int:
    """adjtimex(2) in read-only mode (``modes`` 0 in a zeroed ``struct timex``): the
    kernel's clock state, or -1 if it cannot be asked (not Linux, no libc)."""
    try:
        buf = ctypes.create_string_buffer(_TIMEX_BYTES)
        return int(_libc().adjtimex(buf))
    except (OSError, AttributeError):
        return -1


def synced(flag: Path = SYNC_FLAG, kernel: Callable[[], int] = kernel_state) -> bool:
    """True if the clock is synchronised: timesyncd's flag file exists, or the kernel
    says so (chrony and ntpd tell the kernel). Any failure counts as not synchronised."""
    try:
        if flag.exists():
            return True
    except OSError:
        pass
    try:
        state = kernel()
    except Exception:
        return False
    return 0 <= state != TIME_ERROR


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot's random id: monotonic times are only comparable within one boot.
    Empty if it cannot be read (then no stored monotonic time is trusted)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def zone_name(environ: Mapping[str, str] | None = None, localtime: Path = LOCALTIME) -> str | None:
    """The IANA time zone name (``Europe/Berlin``) if it can be told, from ``$TZ`` or the
    ``/etc/localtime`` link; None otherwise (the abbreviation is still known)."""
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").lstrip(":")
    if tz:  # $TZ overrides /etc/localtime: a name, a file, or a POSIX rule (no name)
        if _ZONE_RE.match(tz):
            return tz
        return _after_zoneinfo(tz)
    try:
        return _after_zoneinfo(os.readlink(localtime))
    except OSError:
        return None


_ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)+$")


def _after_zoneinfo(path: str) -> str | None:
    marker = "zoneinfo/"
    return path.split(marker, 1)[1] if marker in path else None


def utc_offset(seconds: int) -> str:
    """``+01:00`` / ``-03:30`` from an offset east of UTC in seconds."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_now(wall: float, zone: str | None = None) -> dict[str, str]:
    """The local date and time at ``wall`` (epoch s) in the system's time zone, as the
    clock tool answers it. ``zone``, if known, is added as ``zone``."""
    lt = time.localtime(wall)
    out = {
        "date": f"{lt.tm_year:04d}-{lt.tm_mon:02d}-{lt.tm_mday:02d}",
        "time": f"{lt.tm_hour:02d}:{lt.tm_min:02d}",
        "weekday": _WEEKDAYS[lt.tm_wday],
        "time_zone": lt.tm_zone,
        "utc_offset": utc_offset(lt.tm_gmtoff),
    }
    if zone:
        out["zone"] = zone
    return out


def hhmm(wall: float) -> str:
    """The local clock time at ``wall`` as ``HH:MM``."""
    lt = time.localtime(wall)
    return f"{lt.tm_hour:02d}:{lt.tm_min:02d}"


def next_occurrence(hour: int, minute: int, wall: float) -> float:
    """The first moment after ``wall`` when the local clock shows ``hour:minute`` (epoch s).

    On a daylight-saving day a time that does not exist, or exists twice, lands
    where the C library's ``mktime`` puts it.
    """
    lt = time.localtime(wall)
    day = lt.tm_mday
    for _ in range(3):  # today, tomorrow; a third try only for a skipped DST time
        due = time.mktime((lt.tm_year, lt.tm_mon, day, hour, minute, 0, 0, 0, -1))
        if due > wall:
            return due
        day += 1  # mktime normalises the 32nd of a month
    return due + 86400.0
