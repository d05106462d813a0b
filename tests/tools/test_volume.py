"""The volume level: the perceptual curve, steps, and the level kept across restarts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edged.tools import volume


def db(x: float) -> float:
    return 20 * math.log10(x)


def test_gain_is_silent_at_zero_and_the_configured_maximum_at_a_hundred() -> None:
    assert volume.gain(0, 1.0) == 0.0
    assert volume.gain(100, 1.0) == 1.0
    assert volume.gain(100, 2.5) == 2.5


def test_gain_follows_a_square_curve() -> None:
    assert volume.gain(50, 1.0) == pytest.approx(0.25)
    assert db(volume.gain(50, 1.0)) == pytest.approx(-12.04, abs=0.01)
    assert db(volume.gain(10, 1.0)) == pytest.approx(-40.0)
    levels = [volume.gain(n, 1.0) for n in range(101)]
    assert levels == sorted(levels) and len(set(levels)) == 101


def test_gain_clamps_levels_out_of_range() -> None:
    assert volume.gain(-20, 1.0) == 0.0
    assert volume.gain(150, 0.8) == 0.8


@pytest.mark.parametrize(("level", "direction", "by", "expected"), [
    (50, "up", 10, 60), (50, "down", 10, 40), (95, "up", 10, 100), (5, "down", 10, 0),
    (100, "up", 10, 100), (0, "down", 10, 0), (0, "up", 1, 1),
])
def test_step_is_clamped(level: int, direction: volume.Direction, by: int,
                         expected: int) -> None:
    assert volume.step(level, direction, by) == expected


def test_the_store_keeps_the_level(tmp_path: Path) -> None:
    store = volume.VolumeStore(tmp_path)
    assert store.path == tmp_path / "volume.json"
    assert store.load() == 100
    assert store.load(default=40) == 40
    store.save(35)
    assert volume.VolumeStore(tmp_path).load() == 35
    store.save(250)
    assert store.load() == 100


def test_the_store_accepts_a_file_path(tmp_path: Path) -> None:
    store = volume.VolumeStore(tmp_path / "level.json")
    store.save(7)
    assert (tmp_path / "level.json").exists() and store.load() == 7


@pytest.mark.parametrize("content", ['{"level": 101}', '{"level": true}', '{"level": "50"}',
                                     "[50]", '{"level": 50.5}', "not json"])
def test_a_bad_level_file_is_set_aside_and_the_default_used(tmp_path: Path,
                                                            content: str) -> None:
    (tmp_path / "volume.json").write_text(content)
    assert volume.VolumeStore(tmp_path).load(default=60) == 60
    assert (tmp_path / "volume.json.bad").read_text() == content
    assert not (tmp_path / "volume.json").exists()
