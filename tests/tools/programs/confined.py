"""Runs command tools the way the unit would, in a process of its own, and prints one
JSON line with what each call came to.

Usage: ``python confined.py CALLS_JSON [ALLOWED_SYSCALLS_JSON]``. ``CALLS_JSON`` is a
list of ``{"config": {...CommandToolConfig fields...}, "arguments": {...}}``. With the
second argument it first installs the unit's system call filter and its
MemoryDenyWriteExecute rules (tests/systemd/sandboxed.py), so the runner, its
limits and the programs it starts all meet the seccomp rules edged.service applies.
The test starts it as an unprivileged user when it runs as root: root ignores
RLIMIT_NPROC, the unit's user does not.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from edged.config import CommandToolConfig
from edged.tools.command import run_command
from edged.tools.registry import ToolError


async def run(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    slots = asyncio.Semaphore(4)
    out: list[dict[str, Any]] = []
    for call in calls:
        fields = dict(call["config"])
        fields["argv"] = tuple(fields["argv"])
        try:
            result = await run_command(CommandToolConfig(**fields), call["arguments"],
                                       slots=slots)
            out.append({"result": result})
        except ToolError as exc:
            out.append({"error": str(exc)})
    return out


def main() -> None:
    filters: dict[str, bool] = {}
    if len(sys.argv) > 2:
        from tests.systemd.sandboxed import filters_are_active, install_filters

        install_filters(json.loads(sys.argv[2]))
        filters = filters_are_active()
    calls = asyncio.run(run(json.loads(sys.argv[1])))
    print(json.dumps({"filters": filters, "calls": calls}))


if __name__ == "__main__":
    main()
