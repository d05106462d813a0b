"""The pure timer model: ids, labels, cancel, listing, due, next_check, and the restart rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edged.tools.timers import (
    LATE_SLACK_S,
    MAX_LABEL,
    WALL_RECHECK_S,
    Now,
    Timer,
    TimerBook,
    clean_label,
    late_by,
    remaining,
    rings,
    split_late,
)

BOOT = "boot-a"
OTHER = "boot-b"
WALL = 1_800_000_000.0  # 2027-01-15, a synchronised clock


def at(mono: float = 1000.0, wall: float = WALL, boot: str = BOOT, synced: bool = True) -> Now:
    return Now(mono, wall, boot, synced)


# --------------------------------------------------------------------------- adding


def test_a_timer_is_due_on_both_clocks_and_trusted_if_synced() -> None:
    book = TimerBook()
    t = book.add_timer(600, "  pasta  ", at())
    assert t == Timer("t1", "timer", "pasta", WALL, BOOT, 1600.0, WALL + 600, True)
    assert not book.add_timer(5, None, at(synced=False)).wall_trusted


def test_an_alarm_has_only_a_wall_due_time() -> None:
    t = TimerBook().add_alarm(WALL + 3600, "wake", at())
    assert (t.kind, t.due_mono, t.due_wall, t.wall_trusted) == ("alarm", None, WALL + 3600, True)


@pytest.mark.parametrize("seconds", [0, -5, float("nan"), float("inf")])
def test_a_timer_needs_a_positive_finite_duration(seconds: float) -> None:
    with pytest.raises(ValueError):
        TimerBook().add_timer(seconds, None, at())
    with pytest.raises(ValueError):
        TimerBook().add_alarm(float("nan"), None, at())


def test_ids_are_short_unique_and_not_reused_while_a_later_one_lives() -> None:
    book = TimerBook()
    ids = [book.add_timer(60, None, at()).id for _ in range(3)]
    assert ids == ["t1", "t2", "t3"]
    book.cancel("t2")
    assert book.add_timer(60, None, at()).id == "t4"
    book.cancel("all")
    assert book.add_alarm(WALL + 60, None, at()).id == "t1"


def test_labels_are_trimmed_collapsed_and_cut() -> None:
    assert clean_label("  the   big\tpot ") == "the big pot"
    assert clean_label("   ") is None
    assert clean_label(None) is None
    long = clean_label("x" * 39 + " yyyy")
    assert long == "x" * 39 and len("x" * 39) <= MAX_LABEL
    assert len(clean_label("z" * 100) or "") == MAX_LABEL


# --------------------------------------------------------------------------- cancel and listing


def test_cancel_by_id_label_or_all() -> None:
    book = TimerBook()
    pasta = book.add_timer(600, "Pasta", at())
    eggs = book.add_timer(300, "eggs", at())
    eggs2 = book.add_timer(400, "EGGS", at())
    wake = book.add_alarm(WALL + 9000, "wake", at())
    assert book.cancel("T1") == [pasta]
    assert book.cancel("  Eggs ") == [eggs, eggs2]  # every match, any case
    assert book.cancel("pasta") == []
    assert book.cancel("") == []
    assert book.cancel("ALL") == [wake]
    assert len(book) == 0


def test_an_id_wins_over_a_label_that_looks_like_one() -> None:
    book = TimerBook()
    first = book.add_timer(60, "t2", at())
    second = book.add_timer(60, None, at())
    assert book.cancel("t2") == [second]
    assert book.cancel("t2") == [first]  # now only the label matches


def test_listing_is_soonest_first_with_unknowns_last() -> None:
    book = TimerBook()
    later = book.add_timer(900, None, at())
    alarm = book.add_alarm(WALL + 100, None, at(synced=False))  # waits for the clock
    soon = book.add_timer(60, None, at())
    assert book.listing(at(mono=1010)) == [(soon, 50.0), (later, 890.0), (alarm, None)]


# --------------------------------------------------------------------------- due and clock steps


def test_a_timer_fires_on_the_monotonic_clock() -> None:
    book = TimerBook()
    t = book.add_timer(600, None, at())
    assert book.due(at(mono=1599.9, wall=WALL + 599.9)) == []
    assert book.due(at(mono=1600, wall=WALL + 600)) == [t]
    assert len(book) == 0 and book.due(at(mono=1700)) == []


def test_a_wall_clock_step_forward_does_not_fire_a_timer() -> None:
    book = TimerBook()
    t = book.add_timer(600, None, at())
    stepped = at(mono=1010, wall=WALL + 7200)  # the clock jumped two hours ahead
    assert book.due(stepped) == []
    assert remaining(t, stepped) == 590
    assert book.due(at(mono=1600, wall=WALL + 7790)) == [t]


def test_a_wall_clock_step_backward_does_not_lose_a_timer() -> None:
    book = TimerBook()
    t = book.add_timer(600, None, at(synced=False))
    back = at(mono=1600, wall=WALL - 86400)  # the clock went back a day (and was unsynced)
    assert book.due(back) == [t]


def test_an_alarm_is_judged_by_wall_time_and_only_when_synchronised() -> None:
    book = TimerBook()
    t = book.add_alarm(WALL + 3600, None, at())
    assert book.due(at(mono=1001, wall=WALL + 3600, synced=False)) == []
    assert remaining(t, at(wall=WALL + 3600, synced=False)) is None
    # a wall step forward past it does ring an alarm: it is a clock time
    assert book.due(at(mono=1002, wall=WALL + 3601)) == [t]


def test_an_alarm_set_before_sync_waits_for_retime() -> None:
    book = TimerBook()
    t = book.add_alarm(WALL + 60, None, at(synced=False))
    assert book.untrusted_alarms() == [t]
    assert remaining(t, at(wall=WALL + 100)) is None  # synced now, but not retimed yet
    moved = book.retime(t.id, WALL + 86400, at(wall=WALL + 100))
    assert moved.wall_trusted and moved.due_wall == WALL + 86400
    assert book.untrusted_alarms() == []
    assert remaining(moved, at(wall=WALL + 100)) == 86300


def test_next_check_is_the_soonest_monotonic_due() -> None:
    book = TimerBook()
    assert book.next_check(at()) is None
    book.add_timer(600, None, at())
    book.add_timer(90, None, at())
    assert book.next_check(at(mono=1010)) == 1090


def test_next_check_looks_at_wall_items_at_least_every_recheck() -> None:
    book = TimerBook()
    book.add_alarm(WALL + 3600, None, at())
    assert book.next_check(at()) == 1000 + WALL_RECHECK_S
    assert book.next_check(at(wall=WALL + 3590)) == 1010  # due within the window: on time
    assert book.next_check(at(wall=WALL + 3700)) == 1000  # already due: now
    assert book.next_check(at(synced=False)) == 1000 + WALL_RECHECK_S  # waiting for the clock


def test_next_check_for_a_timer_from_another_boot_uses_the_wall() -> None:
    book = TimerBook()
    book.timers["t1"] = Timer("t1", "timer", None, WALL, OTHER, 5.0, WALL + 10, True)
    assert book.next_check(at()) == 1000 + 10
    assert book.next_check(at(synced=False)) == 1000 + WALL_RECHECK_S


# --------------------------------------------------------------------------- restart


def stored_timer(due_in: float, *, boot: str = OTHER, trusted: bool = True,
                 ident: str = "t1") -> Timer:
    return Timer(ident, "timer", "tea", WALL - 100, boot, 50.0 + due_in, WALL + due_in, trusted)


def stored_alarm(due_in: float, *, trusted: bool = True, ident: str = "t2") -> Timer:
    return Timer(ident, "alarm", "wake", WALL - 100, OTHER, None, WALL + due_in, trusted)


def test_after_a_reboot_a_trusted_timer_is_judged_by_the_synchronised_wall() -> None:
    book = TimerBook()
    future, soon_late, long_late = (stored_timer(300, ident="t1"), stored_timer(-60, ident="t2"),
                                    stored_timer(-3600, ident="t3"))
    r = book.restore([future, soon_late, long_late], at(mono=5), grace_s=600)
    assert (r.kept, r.ring_now, r.missed) == ([future], [soon_late], [long_late])
    assert remaining(future, at(mono=5)) == 300  # its stale monotonic time is ignored


def test_after_a_reboot_without_sync_a_trusted_timer_waits_then_is_judged() -> None:
    book = TimerBook()
    t = stored_timer(-3600)
    r = book.restore([t], at(synced=False), grace_s=600)
    assert r.kept == [t] and r.ring_now == [] and r.missed == []
    assert book.due(at(synced=False)) == []
    assert book.listing(at(synced=False)) == [(t, None)]
    synced = at(mono=1020)
    assert book.due(synced) == [t]
    assert split_late([t], synced, grace_s=600) == ([], [t])  # an hour late: missed
    assert split_late([t], synced, grace_s=7200) == ([t], [])


def test_after_a_reboot_a_timer_set_on_an_unsynced_clock_is_missed() -> None:
    t = stored_timer(300, trusted=False)
    r = TimerBook().restore([t], at(), grace_s=600)
    assert r.missed == [t] and r.kept == [] and r.ring_now == []


def test_a_daemon_restart_in_the_same_boot_keeps_monotonic_time() -> None:
    book = TimerBook()
    running = stored_timer(0, boot=BOOT, trusted=False, ident="t1")  # due_mono 50
    later = replace(stored_timer(0, boot=BOOT, trusted=False, ident="t2"), due_mono=5000.0)
    r = book.restore([running, later], at(mono=40, wall=0, synced=False), grace_s=600)
    assert r.kept == [running, later]
    r = book.restore([running, later], at(mono=70, wall=0, synced=False), grace_s=600)
    assert r.ring_now == [running] and r.kept == [later]
    r = book.restore([running], at(mono=5000, synced=False), grace_s=600)
    assert r.missed == [running]


def test_alarms_at_start_up_are_judged_only_when_synchronised() -> None:
    missed_one, ring_one, later = (stored_alarm(-7200, ident="t1"), stored_alarm(-30, ident="t2"),
                                   stored_alarm(3600, ident="t3"))
    r = TimerBook().restore([missed_one, ring_one, later], at(synced=False), grace_s=600)
    assert r.kept == [missed_one, ring_one, later]
    r = TimerBook().restore([missed_one, ring_one, later], at(), grace_s=600)
    assert (r.kept, r.ring_now, r.missed) == ([later], [ring_one], [missed_one])


def test_an_untrusted_alarm_is_kept_at_start_up_for_retiming() -> None:
    t = stored_alarm(-7200, trusted=False)
    r = TimerBook().restore([t], at(), grace_s=600)
    assert r.kept == [t]


def test_restore_renumbers_a_clashing_id_instead_of_losing_it() -> None:
    a, b = stored_timer(100, ident="t1"), stored_timer(200, ident="t1")
    book = TimerBook()
    r = book.restore([a, b], at(), grace_s=600)
    assert [t.id for t in r.kept] == ["t1", "t2"]
    assert set(book.timers) == {"t1", "t2"}


def test_restore_replaces_what_was_in_the_book() -> None:
    book = TimerBook()
    book.add_timer(60, None, at())
    book.restore([], at(), grace_s=600)
    assert len(book) == 0


def test_the_grace_rule() -> None:
    assert rings(599, 600) and not rings(600, 600)
    assert rings(0.2, 0) and rings(LATE_SLACK_S, 0) and not rings(LATE_SLACK_S + 0.1, 0)
    t = stored_timer(-10)
    assert late_by(t, at()) == 10
    assert late_by(t, at(synced=False)) is None
    assert split_late([t], at(synced=False), grace_s=0) == ([t], [])  # unknown: ring


# --------------------------------------------------------------------------- persistence form


def test_to_json_and_back() -> None:
    for t in (stored_timer(5), stored_alarm(5), Timer("t9", "timer", None, 1, "", 2, 3, False)):
        assert Timer.from_json(t.to_json()) == t


@pytest.mark.parametrize("change", [
    {"id": ""}, {"id": 5}, {"kind": "egg"}, {"label": 3}, {"boot_id": None},
    {"wall_trusted": "yes"}, {"due_wall": None}, {"due_mono": None}, {"set_wall": "x"},
    {"due_wall": float("nan")}, {"due_wall": True},
])
def test_from_json_refuses_what_is_not_a_timer(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Timer.from_json({**stored_timer(5).to_json(), **change})
    with pytest.raises(ValueError):
        Timer.from_json([1, 2])


def test_an_alarm_with_a_monotonic_time_is_refused() -> None:
    with pytest.raises(ValueError):
        Timer.from_json({**stored_alarm(5).to_json(), "due_mono": 4.0})


def test_a_stored_label_is_cleaned_on_load() -> None:
    t = Timer.from_json({**stored_timer(5).to_json(), "label": "  " + "y" * 80})
    assert t.label == "y" * MAX_LABEL
