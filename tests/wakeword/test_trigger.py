"""One detection per phrase: the cutoff and the refractory time."""

from __future__ import annotations

from edged.wakeword.trigger import Trigger


def test_fires_once_above_the_cutoff_then_rests_for_the_refractory_time() -> None:
    t = Trigger(threshold=0.8, refractory_s=2.0)
    probs = [0.1, 0.85, 0.95, 0.9, 0.2]
    fired = [t.feed(p, 10.0 + i * 0.03) for i, p in enumerate(probs)]
    assert fired == [False, True, False, False, False]
    assert not t.feed(0.99, 11.9)  # still resting
    assert t.feed(0.99, 12.1)  # 2 s after the first


def test_the_cutoff_itself_is_not_a_detection() -> None:
    assert not Trigger(0.8, 0).feed(0.8, 0.0)


def test_hold_silences_it_until_then() -> None:
    t = Trigger(0.5, 0.0)
    t.hold(5.0)
    assert not t.feed(0.9, 4.9) and t.feed(0.9, 5.0)
