"""The tools the model may call, and one call carried out without ever failing loudly.

Whatever goes wrong in a call — an unknown name, arguments that are not JSON,
a schema mismatch, a slow or broken handler — the model gets a JSON answer with
one short sentence, so it can tell the user or correct itself, and the
conversation goes on. Only cancellation passes through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edged.realtime.events import ToolSpec
from edged.tools import schema

log = logging.getLogger("edged.tools")

Handler = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the realtime APIs accept
_MAX_SENTENCE = 200


class ToolError(Exception):
    """Raised by a handler to answer with this sentence (``"there is no timer called pasta"``)."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: a name, a description written for the model,
    the JSON Schema of its arguments (an object schema) and an async handler;
    ``timeout_s``: its own limit (None: the registry's)."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: Handler
    timeout_s: float | None = None

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


def sync_handler(fn: Callable[[dict[str, Any]], Mapping[str, Any]]) -> Handler:
    """A plain function as a handler (it runs on the loop, so it must be quick)."""

    async def handler(arguments: dict[str, Any]) -> Mapping[str, Any]:
        return fn(arguments)

    return handler


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call came to. ``output`` is the JSON text to send back to the model."""

    name: str
    ok: bool
    output: str
    error: str | None
    duration_s: float


class Registry:
    """The tools on offer, by name. Refuses at construction what would fail later:
    a duplicate or invalid name, a schema this checker does not understand."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if not _NAME_RE.match(tool.name):
                raise ValueError(f"tool name {tool.name!r}: use 1-64 letters, digits, _ or -")
            if tool.name in self._tools:
                raise ValueError(f"tool {tool.name!r} is offered twice")
            if tool.parameters.get("type") != "object":
                raise ValueError(f"tool {tool.name!r}: parameters must be an object schema")
            problems = schema.unsupported(tool.parameters)
            if problems:
                raise ValueError(f"tool {tool.name!r}: {'; '.join(problems)}")
            self._tools[tool.name] = tool

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec() for t in self._tools.values())

    async def call(self, name: str, arguments: str, timeout_s: float) -> Outcome:
        """Run one call. Never raises, except ``CancelledError``."""
        start = time.monotonic()
        ok, text = await self._answer(name, arguments, timeout_s)
        duration = time.monotonic() - start
        if ok:
            return Outcome(name, True, text, None, duration)
        sentence = _shorten(text)
        output = json.dumps({"error": sentence}, ensure_ascii=False)
        return Outcome(name, False, output, sentence, duration)

    async def _answer(self, name: str, arguments: str, timeout_s: float) -> tuple[bool, str]:
        """(True, the JSON answer) or (False, why not)."""
        tool = self._tools.get(name)
        if tool is None:
            return False, f"there is no tool called {_shorten(name, 64)!r}"
        args, problem = _parse(arguments)
        if args is None:
            return False, problem
        mismatch = schema.check(tool.parameters, args)
        if mismatch is not None:
            return False, mismatch
        return await _invoke(tool, args, tool.timeout_s or timeout_s)


async def _invoke(tool: Tool, args: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
    name = tool.name
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            result = await tool.handler(args)
    except ToolError as exc:
        return False, str(exc) or f"{name} failed"
    except TimeoutError:
        if deadline.expired():
            log.warning("tool %s took longer than %g s; abandoned", name, timeout_s)
            return False, f"{name} took longer than {timeout_s:g} s and was abandoned"
        log.warning("tool %s failed", name, exc_info=True)  # the handler's own timeout
        return False, f"{name} failed: TimeoutError"
    except Exception as exc:
        log.warning("tool %s failed", name, exc_info=True)
        return False, f"{name} failed: {type(exc).__name__}"
    try:
        return True, json.dumps(dict(result), ensure_ascii=False, allow_nan=False,
                                separators=(",", ":"))
    except (TypeError, ValueError):
        log.warning("tool %s answered something that is not JSON: %.200r", name, result)
        return False, f"{name} failed: its answer could not be encoded"


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _parse(arguments: str) -> tuple[dict[str, Any] | None, str]:
    """The arguments as a dict, or None and why not. Empty text counts as ``{}``."""
    if not arguments.strip():
        return {}, ""
    try:
        value = json.loads(arguments, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None, "the arguments are not valid JSON"
    if not isinstance(value, dict):
        return None, "the arguments must be a JSON object"
    return value, ""


def _shorten(text: str, limit: int = _MAX_SENTENCE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
