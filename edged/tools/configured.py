"""The owner's own tools, declared in the YAML: programs and HTTP requests.

Each ``tools.command`` and ``tools.http`` entry becomes a registry :class:`Tool`:
its parameters as a JSON Schema the model fills in, its own timeout, and the
confirmation it asks for. ``confirm: button`` is enforced here, by the device: the
call waits for a press (the daemon shows it on the LED and plays the confirm
sound) and is refused without one, whatever the model says. ``confirm: voice``
relies on the model: the description tells it to ask first, and a call without
``"confirmed": true`` is sent back with that instruction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from edged.config import CommandToolConfig, HttpToolConfig, ParameterConfig, ToolsConfig
from edged.tools.registry import Handler, Tool, ToolError

CONFIRMED = "confirmed"
VOICE_NOTE = (" Before calling this, ask the person to confirm and wait for their yes; then "
              "call it with confirmed set to true. Never set confirmed unless they said yes.")

Confirm = Callable[[str], Awaitable[bool]]
"""``confirm(tool_name)``: True once the owner pressed a button for it in time."""


def parameters_schema(params: Mapping[str, ParameterConfig], *,
                      voice: bool = False) -> dict[str, Any]:
    """The JSON Schema (the subset edged.tools.schema checks) of a tool's arguments."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, p in params.items():
        prop: dict[str, Any] = {"type": p.type}
        if p.description:
            prop["description"] = p.description
        if p.enum:
            prop["enum"] = list(p.enum)
        if p.minimum is not None:
            prop["minimum"] = p.minimum
        if p.maximum is not None:
            prop["maximum"] = p.maximum
        properties[name] = prop
        if p.required:
            required.append(name)
    if voice:
        properties[CONFIRMED] = {"type": "boolean", "description": "true only after the "
                                 "person said yes to doing this"}
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def configured_tools(cfg: ToolsConfig, *, confirm: Confirm,
                     slots: asyncio.Semaphore) -> list[Tool]:
    """The registry Tools for ``tools.command`` and ``tools.http``."""
    out: list[Tool] = []
    for command in cfg.command:
        out.append(_tool(command, _command_runner(command, slots), confirm, cfg))
    for http in cfg.http:
        out.append(_tool(http, _http_runner(http), confirm, cfg))
    return out


def _tool(entry: CommandToolConfig | HttpToolConfig, run: Handler, confirm: Confirm,
          cfg: ToolsConfig) -> Tool:
    assert entry.name and entry.description  # the config's checks make sure of both
    name = entry.name
    voice = entry.confirm == "voice"
    wait_s = cfg.confirm_timeout_s

    async def handler(arguments: dict[str, Any]) -> Mapping[str, Any]:
        if voice:
            if arguments.pop(CONFIRMED, None) is not True:
                raise ToolError("not done: ask the person to confirm first, then call again "
                                "with confirmed set to true once they said yes")
        elif entry.confirm == "button" and not await confirm(name):
            raise ToolError(f"not done: the owner did not press a button to confirm within "
                            f"{wait_s:g} s")
        return await run(arguments)

    description = entry.description + (VOICE_NOTE if voice else "")
    return Tool(name, description, parameters_schema(entry.parameters, voice=voice), handler,
                timeout_s=cfg.call_limit_s(entry))


def _command_runner(entry: CommandToolConfig, slots: asyncio.Semaphore) -> Handler:
    async def run(arguments: dict[str, Any]) -> Mapping[str, Any]:
        from edged.tools.command import run_command

        return await run_command(entry, arguments, slots=slots)

    return run


def _http_runner(entry: HttpToolConfig) -> Handler:
    async def run(arguments: dict[str, Any]) -> Mapping[str, Any]:
        from edged.tools.http import call_http, load_token

        return await call_http(entry, arguments, token=load_token(entry))

    return run
