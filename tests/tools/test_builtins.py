"""The built-in tools end to end through the registry, with a stand-in daemon (ToolHost)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edged.config import ToolsConfig
from edged.tools.builtins import ToolHost, builtin_tools
from edged.tools.registry import Outcome, Registry
from edged.tools.timer_service import TimerService
from edged.tools.timers import Now

WALL = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a Friday
ALL = ["set_timer", "set_alarm", "list_timers", "cancel_timer", "stop_ringing",
       "get_volume", "set_volume", "get_time", "end_conversation"]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Host:
    """What the daemon would be, as far as the tools can tell."""

    def __init__(self, timers: TimerService | None, synced: bool = True) -> None:
        self.timers = timers
        self.level = 50
        self.ringing = False
        self.handsfree = True
        self.synced = synced

    def volume(self) -> int:
        return self.level

    def set_volume(self, level: int) -> int:
        self.level = level
        return level

    def stop_ringing(self) -> bool:
        was, self.ringing = self.ringing, False
        return was

    def end_conversation(self) -> bool:
        return self.handsfree

    def clock_synced(self) -> bool:
        return self.synced


class Rig:
    def __init__(self, tmp_path: Path, *, synced: bool = True, cfg: ToolsConfig | None = None,
                 timers: bool = True) -> None:
        self.mono = 1000.0
        self.wall = WALL
        self.synced = synced
        service = TimerService(tmp_path, asyncio.get_running_loop(), lambda items: None,
                               max_timers=(cfg or ToolsConfig()).max_timers, grace_s=600,
                               now=self.now)
        service.start()
        self.host = Host(service if timers else None, synced)
        host: ToolHost = self.host  # the stand-in satisfies the protocol
        self.registry = Registry(builtin_tools(cfg or ToolsConfig(), host))

    def now(self) -> Now:
        return Now(self.mono, self.wall, "boot-a", self.synced)

    async def call(self, name: str, **arguments: Any) -> Outcome:
        return await self.registry.call(name, json.dumps(arguments), 5.0)

    async def ok(self, name: str, **arguments: Any) -> Any:
        out = await self.call(name, **arguments)
        assert out.ok, out.output
        return json.loads(out.output)

    async def error(self, name: str, **arguments: Any) -> str | None:
        out = await self.call(name, **arguments)
        assert not out.ok
        return out.error


def run(tmp_path: Path, test: Any, **kw: Any) -> None:
    async def main() -> None:
        await test(Rig(tmp_path, **kw))

    asyncio.run(main())


# --------------------------------------------------------------------------- what is offered


def names(cfg: ToolsConfig) -> list[str]:
    return [t.name for t in builtin_tools(cfg, Host(None))]


def test_every_switch_is_honoured() -> None:
    assert names(ToolsConfig()) == ALL
    assert names(ToolsConfig(enabled=False)) == []
    assert names(ToolsConfig(timers=False)) == ALL[5:]
    assert names(ToolsConfig(volume=False)) == ALL[:5] + ALL[7:]
    assert names(ToolsConfig(clock=False)) == ALL[:7] + ALL[8:]
    assert names(ToolsConfig(end_conversation=False)) == ALL[:8]


def test_the_schemas_are_strict_objects_the_registry_accepts() -> None:
    registry = Registry(builtin_tools(ToolsConfig(), Host(None)))
    for spec in registry.specs():
        assert spec.parameters["type"] == "object"
        assert spec.parameters["additionalProperties"] is False
        assert 20 < len(spec.description) < 260 and spec.description.endswith(".")
    specs = {s.name: s.parameters for s in registry.specs()}
    assert specs["set_timer"]["required"] == ["seconds"]
    assert specs["set_alarm"]["required"] == ["time"]
    assert specs["cancel_timer"]["required"] == ["which"]
    assert "required" not in specs["set_volume"]
    assert specs["list_timers"]["properties"] == {}


# --------------------------------------------------------------------------- timers


def test_set_timer(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("set_timer", seconds=600, label="pasta") == {
            "id": "t1", "kind": "timer", "label": "pasta", "rings_in_s": 600, "rings_at": "08:10"}
        assert await rig.ok("set_timer", seconds=90) == {
            "id": "t2", "kind": "timer", "rings_in_s": 90, "rings_at": "08:01"}
        assert await rig.error("set_timer", seconds=0) == "'seconds' must be at least 1"
        assert await rig.error("set_timer", minutes=10) == "'seconds' is required"

    run(tmp_path, test)


def test_set_timer_on_an_unset_clock_gives_no_clock_time(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("set_timer", seconds=60) == {"id": "t1", "kind": "timer",
                                                          "rings_in_s": 60}

    run(tmp_path, test, synced=False)


def test_set_alarm_today_or_tomorrow(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("set_alarm", time="08:30", label="call mum") == {
            "id": "t1", "kind": "alarm", "label": "call mum", "rings_at": "08:30",
            "day": "today", "rings_in_s": 1800}
        assert await rig.ok("set_alarm", time="07:30") == {
            "id": "t2", "kind": "alarm", "rings_at": "07:30", "day": "tomorrow",
            "rings_in_s": 84600}
        sentence = await rig.error("set_alarm", time="7:30")
        assert sentence is not None and sentence.startswith("'time' must match the pattern")

    run(tmp_path, test)


def test_set_alarm_on_an_unset_clock_says_it_waits(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        out = await rig.ok("set_alarm", time="06:45")
        assert out["rings_at"] == "06:45" and out["clock_synchronised"] is False
        assert "only once" in out["note"] and "rings_in_s" not in out

    run(tmp_path, test, synced=False)


def test_list_timers(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("list_timers") == {"timers": []}
        await rig.ok("set_timer", seconds=600, label="pasta")
        await rig.ok("set_alarm", time="09:00")
        rig.mono += 60
        rig.wall += 60
        assert await rig.ok("list_timers") == {"timers": [
            {"id": "t1", "kind": "timer", "label": "pasta", "remaining_s": 540,
             "rings_at": "08:10"},
            {"id": "t2", "kind": "alarm", "remaining_s": 3540, "rings_at": "09:00"},
        ]}

    run(tmp_path, test)


def test_list_timers_while_the_clock_is_unset(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        await rig.ok("set_timer", seconds=600)
        await rig.ok("set_alarm", time="09:00")
        assert await rig.ok("list_timers") == {"clock_synchronised": False, "timers": [
            {"id": "t1", "kind": "timer", "remaining_s": 600},
            {"id": "t2", "kind": "alarm", "waiting_for_clock": True},
        ]}

    run(tmp_path, test, synced=False)


def test_cancel_timer(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.error("cancel_timer", which="all") == (
            "there are no timers or alarms to cancel")
        await rig.ok("set_timer", seconds=600, label="Pasta")
        await rig.ok("set_timer", seconds=60, label="eggs")
        await rig.ok("set_alarm", time="07:00")
        assert await rig.error("cancel_timer", which="  the   rice ") == (
            "there is no timer called the rice")
        assert await rig.ok("cancel_timer", which="pasta") == {
            "cancelled": [{"id": "t1", "kind": "timer", "label": "Pasta"}]}
        assert await rig.error("cancel_timer", which="pasta") == "there is no timer called pasta"
        assert await rig.ok("cancel_timer", which="t3") == {
            "cancelled": [{"id": "t3", "kind": "alarm"}]}
        assert await rig.ok("cancel_timer", which="all") == {
            "cancelled": [{"id": "t2", "kind": "timer", "label": "eggs"}]}
        assert await rig.error("cancel_timer", which="") == "'which' must not be empty"

    run(tmp_path, test)


def test_the_most_timers_allowed(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        await rig.ok("set_timer", seconds=60)
        await rig.ok("set_alarm", time="10:00")
        sentence = await rig.error("set_timer", seconds=60)
        assert sentence == ("there are already 2 timers and alarms set (the most allowed); "
                            "cancel one first")

    run(tmp_path, test, cfg=ToolsConfig(max_timers=2))


def test_stop_ringing(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("stop_ringing") == {"stopped": False, "note": "nothing was ringing"}
        rig.host.ringing = True
        assert await rig.ok("stop_ringing") == {"stopped": True}
        assert not rig.host.ringing

    run(tmp_path, test)


def test_timer_tools_without_a_timer_service(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        for name, args in (("set_timer", {"seconds": 5}), ("list_timers", {}),
                           ("cancel_timer", {"which": "all"}), ("set_alarm", {"time": "07:00"})):
            assert await rig.error(name, **args) == "timers are not available on this speaker"

    run(tmp_path, test, timers=False)


# --------------------------------------------------------------------------- volume


def test_volume(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("get_volume") == {"level": 50}
        assert await rig.ok("set_volume", level=80) == {"level": 80}
        assert await rig.ok("set_volume", change="up") == {"level": 95}
        assert await rig.ok("set_volume", change="up") == {"level": 100}
        assert await rig.ok("set_volume", change="down") == {"level": 85}
        assert await rig.ok("set_volume", level=0) == {"level": 0}
        assert await rig.ok("set_volume", change="down") == {"level": 0}
        assert rig.host.level == 0

    run(tmp_path, test, cfg=ToolsConfig(volume_step=15))


def test_set_volume_needs_exactly_one_of_level_and_change(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        both = await rig.error("set_volume", level=10, change="up")
        neither = await rig.error("set_volume")
        assert both == neither == ("give either 'level' (0 to 100) or 'change' (up or down), "
                                   "exactly one of them")
        assert await rig.error("set_volume", level=101) == "'level' must be at most 100"
        assert await rig.error("set_volume", change="louder") == (
            "'change' must be one of 'up', 'down'")
        assert rig.host.level == 50

    run(tmp_path, test)


def test_the_host_has_the_last_word_on_the_level(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        rig.host.set_volume = lambda level: min(level, 70)  # type: ignore[method-assign]
        assert await rig.ok("set_volume", level=90) == {"level": 70}

    run(tmp_path, test)


# --------------------------------------------------------------------------- clock, ending


def test_get_time(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        out = await rig.ok("get_time")
        assert out["time_zone"] == "UTC" and out["utc_offset"] == "+00:00"
        assert out["clock_synchronised"] is True
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", out["date"])
        assert re.fullmatch(r"\d\d:\d\d", out["time"])
        assert out["weekday"].endswith("day")

    run(tmp_path, test)


def test_get_time_says_when_the_clock_is_unset(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert (await rig.ok("get_time"))["clock_synchronised"] is False

    run(tmp_path, test, synced=False)


def test_end_conversation(tmp_path: Path) -> None:
    async def test(rig: Rig) -> None:
        assert await rig.ok("end_conversation") == {"ending": True}
        rig.host.handsfree = False
        assert await rig.ok("end_conversation") == {"ending": False}

    run(tmp_path, test)
