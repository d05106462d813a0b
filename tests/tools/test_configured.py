"""Configured tools as the registry sees them: schema, timeouts, confirmation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from edged.config import CommandToolConfig, ParameterConfig, ToolsConfig
from edged.tools import configured
from edged.tools.registry import Registry

GARAGE = CommandToolConfig(
    name="garage_door", description="Open or close the garage door.",
    argv=("/usr/local/bin/garage",), timeout_s=4.0,
    parameters={"action": ParameterConfig(enum=("open", "close"), description="what to do"),
                "seconds": ParameterConfig(type="integer", minimum=1, maximum=60,
                                           required=False)})


def test_parameters_become_a_strict_object_schema() -> None:
    schema = configured.parameters_schema(GARAGE.parameters)
    assert schema == {
        "type": "object", "additionalProperties": False, "required": ["action"],
        "properties": {
            "action": {"type": "string", "enum": ["open", "close"], "description": "what to do"},
            "seconds": {"type": "integer", "minimum": 1, "maximum": 60},
        },
    }


async def never(name: str) -> bool:
    raise AssertionError("no confirmation was asked for")


def tools_for(entry: CommandToolConfig, confirm: Any = None) -> tuple[Registry, list[str]]:
    ran: list[str] = []
    cfg = ToolsConfig(command=(entry,), confirm_timeout_s=8.0)
    tools = configured.configured_tools(cfg, confirm=confirm or never,
                                        slots=asyncio.Semaphore(1))
    return Registry(tools), ran


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What reached the command runner (the runner itself is tested in test_command.py:
    here only what configured.py decides matters)."""
    calls: list[dict[str, Any]] = []

    def runner_for(entry: CommandToolConfig, slots: asyncio.Semaphore) -> Any:
        async def run(arguments: dict[str, Any]) -> dict[str, Any]:
            calls.append(dict(arguments))
            return {"done": True}
        return run

    monkeypatch.setattr(configured, "_command_runner", runner_for)
    return calls


def call(reg: Registry, args: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    out = asyncio.run(reg.call("garage_door", json.dumps(args), 5.0))
    return out.ok, json.loads(out.output)


def test_each_tool_has_its_own_time_limit_with_the_button_wait() -> None:
    plain = ToolsConfig(command=(GARAGE,), confirm_timeout_s=8.0)
    button = ToolsConfig(command=(dataclasses.replace(GARAGE, confirm="button"),),
                         confirm_timeout_s=8.0)
    assert plain.call_limit_s(GARAGE) == 4.0 + 2.0
    assert button.call_limit_s(button.command[0]) == 4.0 + 2.0 + 8.0
    [tool] = configured.configured_tools(button, confirm=never, slots=asyncio.Semaphore(1))
    assert tool.timeout_s == 14.0


def test_schema_mismatch_never_reaches_the_program(runner: list[dict[str, Any]]) -> None:
    reg, _ = tools_for(GARAGE)
    ok, out = call(reg, {"action": "explode"})
    assert not ok and "must be one of 'open', 'close'" in out["error"] and runner == []


def test_voice_confirmation_sends_the_model_back_to_ask(
        runner: list[dict[str, Any]]) -> None:
    voice = dataclasses.replace(GARAGE, confirm="voice")
    reg, _ = tools_for(voice)
    [spec] = reg.specs()
    assert "ask the person to confirm" in spec.description
    assert spec.parameters["properties"]["confirmed"] == {
        "type": "boolean", "description": "true only after the person said yes to doing this"}
    ok, out = call(reg, {"action": "open"})
    assert not ok and "ask the person to confirm first" in out["error"] and runner == []
    ok, out = call(reg, {"action": "open", "confirmed": True})
    assert ok and out == {"done": True}
    assert runner == [{"action": "open"}]  # "confirmed" is the device's business, not the program's


def test_button_confirmation_is_enforced_by_the_device(
        runner: list[dict[str, Any]]) -> None:
    answers = [False, True]
    asked: list[str] = []

    async def confirm(name: str) -> bool:
        asked.append(name)
        return answers.pop(0)

    reg, _ = tools_for(dataclasses.replace(GARAGE, confirm="button"), confirm)
    ok, out = call(reg, {"action": "open", "confirmed": True})  # the model cannot say yes
    assert not ok and "'confirmed' is not a known argument" in out["error"] and asked == []
    ok, out = call(reg, {"action": "open"})
    assert not ok and "did not press a button to confirm within 8 s" in out["error"]
    assert runner == []
    ok, out = call(reg, {"action": "close"})
    assert ok and runner == [{"action": "close"}] and asked == ["garage_door"] * 2
    assert answers == []
