"""The registry: a call never raises (but for cancellation), and every failure is one sentence."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from edged.realtime.events import ToolSpec
from edged.tools.registry import Outcome, Registry, Tool, ToolError, sync_handler

SECONDS = {
    "type": "object",
    "properties": {"seconds": {"type": "integer", "minimum": 1}},
    "required": ["seconds"],
    "additionalProperties": False,
}
NOTHING = {"type": "object", "properties": {}, "additionalProperties": False}


async def echo(args: dict[str, Any]) -> Mapping[str, Any]:
    return {"got": args, "text": "café"}


async def slow(args: dict[str, Any]) -> Mapping[str, Any]:
    await asyncio.sleep(10)
    return {}


async def broken(args: dict[str, Any]) -> Mapping[str, Any]:
    raise ZeroDivisionError("secret detail /home/pi/key")


async def refuses(args: dict[str, Any]) -> Mapping[str, Any]:
    raise ToolError("there is no timer called pasta")


async def own_timeout(args: dict[str, Any]) -> Mapping[str, Any]:
    raise TimeoutError


async def not_json(args: dict[str, Any]) -> Mapping[str, Any]:
    return {"when": {1, 2}}


async def nan(args: dict[str, Any]) -> Mapping[str, Any]:
    return {"x": float("nan")}


def registry() -> Registry:
    return Registry([
        Tool("echo", "Echo.", SECONDS, echo),
        Tool("slow", "Slow.", NOTHING, slow),
        Tool("broken", "Broken.", NOTHING, broken),
        Tool("refuses", "Refuses.", NOTHING, refuses),
        Tool("own_timeout", "Times out by itself.", NOTHING, own_timeout),
        Tool("not_json", "Answers a set.", NOTHING, not_json),
        Tool("nan", "Answers NaN.", NOTHING, nan),
        Tool("plain", "A sync function.", NOTHING, sync_handler(lambda a: {"ok": True})),
    ])


def call(name: str, arguments: str, timeout_s: float = 1.0) -> Outcome:
    return asyncio.run(registry().call(name, arguments, timeout_s))


def failed(outcome: Outcome, sentence: str) -> None:
    assert not outcome.ok
    assert outcome.error == sentence
    assert json.loads(outcome.output) == {"error": sentence}
    assert outcome.duration_s >= 0


def test_specs_are_the_tools_in_order() -> None:
    specs = registry().specs()
    assert isinstance(specs, tuple)
    assert specs[0] == ToolSpec("echo", "Echo.", SECONDS)
    assert [s.name for s in specs] == list(registry().names())
    assert "echo" in registry() and "nope" not in registry() and len(registry()) == 8


def test_success_is_the_handlers_mapping_as_compact_json() -> None:
    out = call("echo", '{"seconds": 600}')
    assert out.ok and out.error is None and out.name == "echo"
    assert out.output == '{"got":{"seconds":600},"text":"café"}'


def test_a_sync_function_can_be_a_handler() -> None:
    out = call("plain", "{}")
    assert out.ok and out.output == '{"ok":true}'


def test_empty_arguments_count_as_an_empty_object() -> None:
    assert call("plain", "").ok
    assert call("plain", "  \n").ok


def test_unknown_tool() -> None:
    failed(call("launch_rockets", "{}"), "there is no tool called 'launch_rockets'")


@pytest.mark.parametrize("arguments", ['{"seconds": ', "seconds=5", '{"seconds": NaN}',
                                       '{"seconds": Infinity}', "[" * 100000])
def test_arguments_that_are_not_json(arguments: str) -> None:
    failed(call("echo", arguments), "the arguments are not valid JSON")


@pytest.mark.parametrize("arguments", ["[600]", "600", '"x"', "null"])
def test_arguments_that_are_not_an_object(arguments: str) -> None:
    failed(call("echo", arguments), "the arguments must be a JSON object")


def test_schema_mismatch_names_the_argument() -> None:
    failed(call("echo", '{"seconds": 0}'), "'seconds' must be at least 1")
    failed(call("echo", "{}"), "'seconds' is required")


def test_a_slow_handler_is_abandoned_at_the_timeout() -> None:
    out = call("slow", "{}", timeout_s=0.05)
    failed(out, "slow took longer than 0.05 s and was abandoned")
    assert 0.05 <= out.duration_s < 2


def test_a_handler_exception_names_the_tool_and_type_but_leaks_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edged.tools"):
        out = call("broken", "{}")
    failed(out, "broken failed: ZeroDivisionError")
    assert "secret" not in out.output and "Traceback" not in out.output
    assert any(r.exc_info for r in caplog.records)  # the journal gets the traceback


def test_a_tool_error_is_answered_with_its_sentence() -> None:
    failed(call("refuses", "{}"), "there is no timer called pasta")


def test_a_handlers_own_timeout_is_not_taken_for_ours() -> None:
    failed(call("own_timeout", "{}", timeout_s=5), "own_timeout failed: TimeoutError")


def test_an_answer_that_is_not_json_fails_cleanly() -> None:
    failed(call("not_json", "{}"), "not_json failed: its answer could not be encoded")
    failed(call("nan", "{}"), "nan failed: its answer could not be encoded")


def test_a_long_sentence_is_shortened_to_one_line() -> None:
    async def chatty(args: dict[str, Any]) -> Mapping[str, Any]:
        raise ToolError("word\n" * 100)

    out = asyncio.run(Registry([Tool("chatty", "", NOTHING, chatty)]).call("chatty", "{}", 1))
    assert out.error is not None and len(out.error) <= 200 and "\n" not in out.error
    assert out.error.endswith("…")


def test_cancellation_passes_through() -> None:
    async def main() -> None:
        task = asyncio.create_task(registry().call("slow", "{}", 30))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize(("tools", "message"), [
    ([Tool("a", "", NOTHING, echo), Tool("a", "", NOTHING, echo)], "offered twice"),
    ([Tool("has space", "", NOTHING, echo)], "letters, digits"),
    ([Tool("", "", NOTHING, echo)], "letters, digits"),
    ([Tool("a", "", {"type": "string"}, echo)], "must be an object schema"),
    ([Tool("a", "", {"type": "object", "properties": {"x": {"type": "integer", "minimun": 1}}},
           echo)], "unsupported keyword 'minimun'"),
])
def test_the_registry_refuses_at_construction_what_would_fail_later(
        tools: list[Tool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry(tools)
