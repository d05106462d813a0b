"""The timer service on a real event loop, with real files, and clocks the tests control."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edged.tools import timers as timers_module
from edged.tools.registry import ToolError
from edged.tools.timer_service import TimerService, system_now
from edged.tools.timers import Now, Timer

WALL = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Clock:
    """A clock the test sets. ``mono`` follows the loop's clock when ``live``, so wake-ups
    really happen; the wall clock, the boot and the sync state are the test's."""

    def __init__(self, *, boot: str = "boot-a", synced: bool = True, live: bool = False) -> None:
        self.live = live
        self.base = time.monotonic() if live else 1000.0
        self.offset = 0.0
        self.wall0 = WALL
        self.wall_step = 0.0
        self.boot = boot
        self.synced = synced

    def __call__(self) -> Now:
        mono = (time.monotonic() if self.live else self.base + self.offset)
        return Now(mono, self.wall0 + (mono - self.base) + self.wall_step, self.boot, self.synced)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Rings:
    def __init__(self) -> None:
        self.due: list[Timer] = []
        self.missed: list[Timer] = []
        self.event = asyncio.Event()

    def on_due(self, items: list[Timer]) -> None:
        self.due += items
        self.event.set()

    def on_missed(self, items: list[Timer]) -> None:
        self.missed += items


def service(path: Path, rings: Rings, now: Callable[[], Now] | None,
            *, max_timers: int = 20, grace_s: float = 600) -> TimerService:
    return TimerService(path, asyncio.get_running_loop(), rings.on_due, max_timers=max_timers,
                        grace_s=grace_s, now=now, on_missed=rings.on_missed)


def stored(path: Path) -> list[dict[str, object]]:
    doc = json.loads((path / "timers.json").read_text())
    assert doc["version"] == 1
    items: list[dict[str, object]] = doc["timers"]
    return items


# --------------------------------------------------------------------------- running for real


def test_a_timer_rings_on_the_event_loop_with_the_real_clocks(tmp_path: Path) -> None:
    async def main() -> None:
        rings = Rings()
        svc = service(tmp_path, rings, None)
        assert svc.start().kept == []
        t = svc.set_timer(0.05, "tea")
        assert t.boot_id == system_now().boot_id != ""
        await asyncio.wait_for(rings.event.wait(), 5)
        assert rings.due == [t] and rings.missed == []
        assert len(svc) == 0 and stored(tmp_path) == []
        svc.close()

    asyncio.run(main())


def test_close_stops_the_wake_ups_but_keeps_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        rings = Rings()
        svc = service(tmp_path, rings, None)
        svc.start()
        svc.set_timer(0.05, None)
        svc.close()
        await asyncio.sleep(0.2)
        svc.check()
        assert rings.due == [] and len(stored(tmp_path)) == 1

    asyncio.run(main())


def test_a_wall_clock_step_neither_fires_nor_loses_a_running_timer(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock(live=True)
        rings = Rings()
        svc = service(tmp_path, rings, clock)
        svc.start()
        t = svc.set_timer(0.3, None)
        clock.wall_step = 7200  # forward two hours
        svc.check()
        await asyncio.sleep(0.1)
        assert rings.due == []
        clock.wall_step = -86400  # and back a day
        svc.check()
        await asyncio.wait_for(rings.event.wait(), 5)
        assert rings.due == [t]

    asyncio.run(main())


def test_a_late_sync_is_noticed_without_being_told(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timers_module, "WALL_RECHECK_S", 0.05)

    async def main() -> None:
        clock = Clock(synced=False, live=True)
        rings = Rings()
        svc = service(tmp_path, rings, clock)
        svc.start()
        t = svc.set_alarm(8, 0)  # the clock says 08:00:00 now: tomorrow...
        clock.wall_step = 86400 - 1  # ...and the unset clock was a day behind
        await asyncio.sleep(0.15)
        assert rings.due == []  # judged only when synchronised
        clock.synced = True  # retimed to the next 08:00 of the real (synced) clock
        await asyncio.sleep(0.15)
        (moved, left), = svc.listing()
        assert moved.id == t.id and moved.wall_trusted and left is not None and left < 1
        await asyncio.wait_for(rings.event.wait(), 10)
        assert [r.id for r in rings.due] == [t.id]

    asyncio.run(main())


def test_a_failing_callback_is_logged_and_the_service_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        calls: list[list[Timer]] = []

        def on_due(items: list[Timer]) -> None:
            calls.append(items)
            raise RuntimeError("speaker unplugged")

        svc = TimerService(tmp_path, asyncio.get_running_loop(), on_due, max_timers=5,
                           grace_s=600)
        svc.start()
        svc.set_timer(0.02, "one")
        svc.set_timer(0.1, "two")
        await asyncio.sleep(0.4)
        assert [[t.label for t in c] for c in calls] == [["one"], ["two"]]

    with caplog.at_level(logging.ERROR, logger="edged.tools"):
        asyncio.run(main())
    assert "timer callback failed for timer t1 'one'" in caplog.text


# --------------------------------------------------------------------------- the tools' calls


def test_every_change_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        svc = service(tmp_path, Rings(), clock)
        svc.start()
        t = svc.set_timer(600, "pasta")
        assert stored(tmp_path) == [t.to_json()]
        a = svc.set_alarm(7, 30, "wake")
        assert a.due_wall == WALL + 23.5 * 3600  # tomorrow 07:30 UTC
        assert stored(tmp_path) == [t.to_json(), a.to_json()]
        assert svc.cancel("PASTA") == [t]
        assert stored(tmp_path) == [a.to_json()]
        assert svc.cancel("nothing") == []
        assert [p.name for p in tmp_path.iterdir()] == ["timers.json"]
        svc.close()

    asyncio.run(main())


def test_the_listing_is_soonest_first_with_remaining_seconds(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        svc = service(tmp_path, Rings(), clock)
        svc.start()
        later = svc.set_timer(900, None)
        soon = svc.set_timer(60, None)
        clock.advance(10)
        assert svc.listing() == [(soon, 50), (later, 890)]

    asyncio.run(main())


def test_max_timers_is_a_clear_refusal(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock(), max_timers=2)
        svc.start()
        svc.set_timer(60, None)
        svc.set_alarm(9, 0, None)
        with pytest.raises(ToolError, match=r"already 2 timers and alarms set.*cancel one"):
            svc.set_timer(60, None)
        assert len(stored(tmp_path)) == 2
        svc.cancel("t1")
        svc.set_timer(60, None)

    asyncio.run(main())


def test_bad_values_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock())
        svc.start()
        with pytest.raises(ValueError):
            svc.set_alarm(24, 0)
        with pytest.raises(ValueError):
            svc.set_timer(0)
        with pytest.raises(RuntimeError):
            svc.start()

    asyncio.run(main())


# --------------------------------------------------------------------------- restarts


def test_a_restart_in_the_same_boot_keeps_timers(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        first = service(tmp_path, Rings(), clock)
        first.start()
        t = first.set_timer(600, "pasta")
        first.close()
        clock.advance(100)
        rings = Rings()
        second = service(tmp_path, rings, clock)
        restored = second.start()
        assert restored.kept == [t] and second.listing() == [(t, 500)]
        clock.advance(500)
        second.check()
        assert rings.due == [t]

    asyncio.run(main())


def test_after_a_reboot_timers_are_judged_by_the_synchronised_wall(tmp_path: Path) -> None:
    async def main() -> None:
        before = Clock(boot="boot-a")
        svc = service(tmp_path, Rings(), before)
        svc.start()
        soon = svc.set_timer(300, "soon")      # due while off, 700 s late: rings
        gone = svc.set_timer(30, "gone")       # due while off, 970 s late: missed
        later = svc.set_timer(7200, "later")   # still to come
        svc.close()
        after = Clock(boot="boot-b")
        after.wall0 = WALL + 1000  # a reboot, 1000 s later, monotonic clock restarted
        after.base = 3.0
        rings = Rings()
        restored = service(tmp_path, rings, after, grace_s=900).start()
        assert restored.ring_now == [soon] and restored.missed == [gone]
        assert restored.kept == [later]
        assert rings.due == [] and rings.missed == []  # start-up results go to the caller
        assert [t["id"] for t in stored(tmp_path)] == [later.id]

    asyncio.run(main())


def test_after_a_reboot_without_sync_timers_wait_for_the_clock(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock(boot="boot-a"))
        svc.start()
        soon = svc.set_timer(60, "soon")
        gone = svc.set_timer(30, "gone")
        svc.close()
        after = Clock(boot="boot-b", synced=False)
        after.wall0 = WALL - 50000  # the unset clock is far behind
        rings = Rings()
        svc = service(tmp_path, rings, after, grace_s=600)
        restored = svc.start()
        assert sorted(t.id for t in restored.kept) == [soon.id, gone.id]
        assert {t.id for t, left in svc.listing() if left is None} == {soon.id, gone.id}
        svc.check()
        assert rings.due == [] and rings.missed == []
        after.synced = True
        after.wall0 = WALL + 700  # synchronised: 640 s after soon, 670 s after gone
        svc.check()
        assert rings.due == []
        assert sorted(t.id for t in rings.missed) == [soon.id, gone.id]
        assert stored(tmp_path) == []

    asyncio.run(main())


def test_a_late_sync_within_the_grace_rings(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock(boot="boot-a"))
        svc.start()
        t = svc.set_timer(60, "soon")
        svc.close()
        after = Clock(boot="boot-b", synced=False)
        rings = Rings()
        svc = service(tmp_path, rings, after, grace_s=600)
        svc.start()
        after.synced = True
        after.wall0 = WALL + 90
        svc.check()
        assert rings.due == [t] and rings.missed == []

    asyncio.run(main())


def test_a_timer_set_on_an_unset_clock_is_missed_after_a_reboot(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock(boot="boot-a", synced=False))
        svc.start()
        t = svc.set_timer(600, None)
        svc.close()
        restored = service(tmp_path, Rings(), Clock(boot="boot-b")).start()
        assert restored.missed == [t] and restored.kept == []

    asyncio.run(main())


def test_an_alarm_is_judged_only_while_the_clock_is_synchronised(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        rings = Rings()
        svc = service(tmp_path, rings, clock)
        svc.start()
        t = svc.set_alarm(8, 10, "meeting")  # 600 s from now
        assert t.wall_trusted
        clock.synced = False
        clock.advance(700)
        svc.check()
        assert rings.due == [] and svc.listing() == [(t, None)]
        clock.synced = True
        svc.check()
        assert rings.due == [t]  # 100 s late, within the grace

    asyncio.run(main())


def test_an_alarm_set_before_sync_is_moved_to_the_real_next_occurrence(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock(synced=False)
        clock.wall0 = WALL - 3 * 3600  # the unset clock says 05:00; it is really 08:00
        svc = service(tmp_path, Rings(), clock)
        svc.start()
        t = svc.set_alarm(7, 0, "wake")  # meant: tomorrow 07:00
        assert not t.wall_trusted and t.due_wall == WALL - 3600
        clock.wall0 = WALL
        clock.synced = True
        svc.check()
        (moved, left), = svc.listing()
        assert moved.wall_trusted and moved.due_wall == WALL + 23 * 3600
        assert left == 23 * 3600
        assert stored(tmp_path) == [moved.to_json()]

    asyncio.run(main())


def test_an_alarm_that_rang_while_off_rings_or_is_missed_at_start(tmp_path: Path) -> None:
    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock())
        svc.start()
        a = svc.set_alarm(8, 5, "five past")
        b = svc.set_alarm(9, 0, "nine")
        svc.close()
        after = Clock(boot="boot-b")
        after.wall0 = WALL + 3600 + 120  # 09:02
        restored = service(tmp_path, Rings(), after, grace_s=600).start()
        assert restored.missed == [a] and restored.ring_now == [b]

    asyncio.run(main())


# --------------------------------------------------------------------------- bad files


def test_a_corrupt_file_means_starting_with_no_timers(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "timers.json").write_text('{"version": 1, "timers": [')

    async def main() -> None:
        svc = service(tmp_path, Rings(), Clock())
        assert svc.start().kept == []
        assert stored(tmp_path) == []

    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        asyncio.run(main())
    assert (tmp_path / "timers.json.bad").exists()


def test_a_file_without_a_timer_list_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "timers.json").write_text('{"version": 1, "timers": {}}')

    async def main() -> None:
        service(tmp_path, Rings(), Clock()).start()

    asyncio.run(main())
    assert (tmp_path / "timers.json.bad").read_text() == '{"version": 1, "timers": {}}'


def test_entries_that_are_not_timers_are_skipped(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    good = Timer("t3", "timer", "ok", WALL, "boot-a", 1100.0, WALL + 100, True)
    (tmp_path / "timers.json").write_text(json.dumps(
        {"version": 1, "timers": [{"id": "t1"}, good.to_json(), 7]}))

    async def main() -> None:
        assert service(tmp_path, Rings(), Clock()).start().kept == [good]

    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        asyncio.run(main())
    assert caplog.text.count("skipped an entry") == 2


def test_a_disk_that_refuses_writes_is_logged_and_timers_still_ring(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")

    async def main() -> None:
        rings = Rings()
        svc = service(blocker / "timers.json", rings, None)
        svc.start()
        assert svc.save_failed
        t = svc.set_timer(0.02, None)
        await asyncio.wait_for(rings.event.wait(), 5)
        assert rings.due == [t]

    with caplog.at_level(logging.ERROR, logger="edged.tools"):
        asyncio.run(main())
    assert caplog.text.count("cannot save timers") == 1  # said once, not at every change


def test_every_set_and_cancel_is_told_for_the_journal(tmp_path: Path) -> None:
    told: list[tuple[str, str]] = []

    async def main() -> list[str]:
        rings = Rings()
        svc = TimerService(tmp_path, asyncio.get_running_loop(), rings.on_due, max_timers=20,
                           grace_s=600, now=Clock(), on_missed=rings.on_missed,
                           on_change=lambda what, t: told.append((what, t.id)))
        svc.start()
        ids = [svc.set_timer(60, "tea").id, svc.set_alarm(7, 0, "wake").id]
        assert svc.cancel("nothing such") == []
        svc.cancel("all")
        svc.close()
        return ids

    tea, alarm = asyncio.run(main())
    assert told == [("set", tea), ("set", alarm), ("cancelled", tea), ("cancelled", alarm)]
