"""The system clock questions: synchronised, boot id, local time, next occurrence of HH:MM."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edged.tools import clock

# POSIX TZ strings need no tz database on the machine.
BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"
ST_JOHNS = "NST3:30NDT,M3.2.0,M11.1.0"


@pytest.fixture
def tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def use(value: str) -> None:
        monkeypatch.setenv("TZ", value)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0, 0, 0)))


# --------------------------------------------------------------------------- synced


def test_the_timesyncd_flag_file_means_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    assert clock.synced(flag, kernel=lambda: clock.TIME_ERROR)


@pytest.mark.parametrize(("state", "expected"), [(0, True), (1, True), (4, True),
                                                 (clock.TIME_ERROR, False), (-1, False)])
def test_without_the_flag_the_kernel_decides(tmp_path: Path, state: int, expected: bool) -> None:
    assert clock.synced(tmp_path / "missing", kernel=lambda: state) is expected


def test_a_failing_kernel_question_means_not_synchronised(tmp_path: Path) -> None:
    def boom() -> int:
        raise OSError("no adjtimex here")

    assert not clock.synced(tmp_path / "missing", kernel=boom)


def test_an_unreadable_flag_location_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.touch()
    assert not clock.synced(blocker / "synchronized", kernel=lambda: -1)


def test_the_real_kernel_answers_a_clock_state() -> None:
    assert clock.kernel_state() in range(-1, 6)
    assert isinstance(clock.synced(), bool)


# --------------------------------------------------------------------------- boot id


def test_boot_id_is_read_and_stripped(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("1b7a3d2c-0000-4000-8000-000000000001\n")
    assert clock.boot_id(path) == "1b7a3d2c-0000-4000-8000-000000000001"
    assert clock.boot_id(tmp_path / "missing") == ""


def test_the_real_boot_id_is_a_uuid() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", clock.boot_id())


# --------------------------------------------------------------------------- local time


def test_local_now_in_winter_and_summer(tz: Callable[[str], None]) -> None:
    tz(BERLIN)
    assert clock.local_now(utc(2026, 12, 7, 18, 45, 30)) == {
        "date": "2026-12-07", "time": "19:45", "weekday": "Monday",
        "time_zone": "CET", "utc_offset": "+01:00",
    }
    summer = clock.local_now(utc(2026, 7, 1, 22, 30, 0), zone="Europe/Berlin")
    assert summer == {
        "date": "2026-07-02", "time": "00:30", "weekday": "Thursday",
        "time_zone": "CEST", "utc_offset": "+02:00", "zone": "Europe/Berlin",
    }


def test_a_negative_half_hour_offset(tz: Callable[[str], None]) -> None:
    tz(ST_JOHNS)
    now = clock.local_now(utc(2026, 12, 7, 12, 0, 0))
    assert now["time"] == "08:30" and now["utc_offset"] == "-03:30" and now["time_zone"] == "NST"


def test_utc_offset_format() -> None:
    assert clock.utc_offset(0) == "+00:00"
    assert clock.utc_offset(19800) == "+05:30"
    assert clock.utc_offset(-12600) == "-03:30"


def test_zone_name_from_tz_or_the_localtime_link(tmp_path: Path) -> None:
    assert clock.zone_name({"TZ": "Europe/Berlin"}) == "Europe/Berlin"
    assert clock.zone_name({"TZ": ":America/St_Johns"}) == "America/St_Johns"
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Europe/Paris")
    assert clock.zone_name({}, link) == "Europe/Paris"
    assert clock.zone_name({"TZ": BERLIN}, link) is None  # $TZ rules; a POSIX rule has no name
    assert clock.zone_name({"TZ": "/usr/share/zoneinfo/Asia/Tokyo"}, link) == "Asia/Tokyo"
    assert clock.zone_name({"TZ": "Etc/GMT+5"}) == "Etc/GMT+5"
    assert clock.zone_name({}, tmp_path / "missing") is None
    plain = tmp_path / "plain"
    plain.touch()
    assert clock.zone_name({}, plain) is None


# --------------------------------------------------------------------------- next occurrence


def test_next_occurrence_later_today_else_tomorrow(tz: Callable[[str], None]) -> None:
    tz(BERLIN)
    now = utc(2026, 12, 7, 18, 45, 0)  # 19:45 local
    assert clock.next_occurrence(20, 0, now) == utc(2026, 12, 7, 19, 0, 0)
    assert clock.next_occurrence(7, 30, now) == utc(2026, 12, 8, 6, 30, 0)
    assert clock.next_occurrence(19, 45, now) == utc(2026, 12, 8, 18, 45, 0)  # now: tomorrow
    assert clock.hhmm(clock.next_occurrence(0, 0, now)) == "00:00"


def test_next_occurrence_across_the_end_of_a_month_and_year(tz: Callable[[str], None]) -> None:
    tz(BERLIN)
    assert clock.next_occurrence(7, 0, utc(2026, 12, 31, 22, 0, 0)) == utc(2027, 1, 1, 6, 0, 0)


def test_next_occurrence_over_a_daylight_saving_change(tz: Callable[[str], None]) -> None:
    tz(BERLIN)
    # The night the clocks go forward (2026-03-29): 07:00 is then 05:00 UTC, not 06:00.
    assert clock.next_occurrence(7, 0, utc(2026, 3, 28, 20, 0, 0)) == utc(2026, 3, 29, 5, 0, 0)
    # 02:30 does not exist that night; it lands within an hour of it, after now.
    skipped = clock.next_occurrence(2, 30, utc(2026, 3, 28, 20, 0, 0))
    assert utc(2026, 3, 29, 0, 30, 0) <= skipped <= utc(2026, 3, 29, 1, 30, 0)
