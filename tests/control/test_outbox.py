"""A slow subscriber's queue: bounded, ordered, and honest about what it dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edged.control.outbox import Outbox


def marker(n: int) -> bytes:
    return f"dropped {n}\n".encode()


def test_lines_come_out_in_order() -> None:
    box = Outbox(4, marker)
    for line in (b"a\n", b"b\n", b"c\n"):
        assert box.offer(line)
    assert len(box) == 3
    assert box.take() == b"a\nb\nc\n"
    assert len(box) == 0 and box.take() == b""


def test_full_box_drops_and_tells_the_count_as_soon_as_the_reader_catches_up() -> None:
    """Before: the marker waited for the next event, which may come much later."""
    box = Outbox(3, marker)
    assert [box.offer(x) for x in (b"1\n", b"2\n", b"3\n", b"4\n", b"5\n")] == [
        True, True, True, False, False]
    assert len(box) == 3 and box.dropped == 2
    assert box.take() == b"1\n2\n3\ndropped 2\n"
    assert box.offer(b"6\n")
    assert box.take() == b"6\n"
    assert box.dropped == 0 and box.dropped_total == 2


def test_each_marker_counts_only_what_was_lost_since_the_last_one() -> None:
    box = Outbox(2, marker)
    for line in (b"1\n", b"2\n", b"3\n"):
        box.offer(line)
    assert box.take() == b"1\n2\ndropped 1\n"
    for line in (b"4\n", b"5\n", b"6\n", b"7\n"):
        box.offer(line)
    assert box.take() == b"4\n5\ndropped 2\n"
    assert box.take() == b""  # nothing lost since: no marker
    assert box.dropped_total == 3


def test_capacity_must_hold_a_marker_and_a_line() -> None:
    with pytest.raises(ValueError):
        Outbox(1, marker)


@given(st.integers(2, 20), st.lists(st.booleans(), max_size=200))
def test_bounded_and_every_line_accounted_for(capacity: int, steps: list[bool]) -> None:
    box = Outbox(capacity, marker)
    offered = delivered = 0
    told = 0
    out = b""
    for offer in steps:
        if offer:
            box.offer(f"{offered}\n".encode())
            offered += 1
        else:
            out += box.take()
        assert len(box) <= capacity
    out += box.take()
    numbers: list[int] = []
    for line in out.decode().splitlines():
        if line.startswith("dropped"):
            told += int(line.split()[1])
        else:
            numbers.append(int(line))
            delivered += 1
    assert numbers == sorted(numbers)  # order kept
    assert delivered + told + box.dropped == offered
    assert box.dropped_total == told + box.dropped
