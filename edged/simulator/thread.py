"""Run a Simulator on its own event loop in a background thread.

For synchronous callers (the demo, end-to-end tests that drive the daemon as
another process or loop). Everything that touches the simulator goes through
``call``, which runs on the simulator's loop, so no state is shared unguarded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from edged.simulator.faults import Fault
from edged.simulator.script import McpApproval, McpCallSent, ScriptedResponse, ToolCall, ToolOutput
from edged.simulator.server import Simulator

T = TypeVar("T")


class SimulatorThread:
    """``with SimulatorThread(answer="tone") as sim: ... sim.url ...``; kwargs go to Simulator."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sim: Simulator | None = None

    @property
    def sim(self) -> Simulator:
        """The simulator; while running, read its records through ``read`` or the helpers."""
        if self._sim is None:
            raise RuntimeError("the simulator thread is not running")
        return self._sim

    @property
    def url(self) -> str:
        return self.sim.url

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="edged-simulator",
                                        daemon=True)
        self._thread.start()

        async def boot() -> Simulator:
            sim = Simulator(**self._kwargs)
            await sim.start()
            return sim

        try:
            self._sim = asyncio.run_coroutine_threadsafe(boot(), loop).result(timeout)
        except BaseException:
            self._shutdown_loop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None:
            return
        try:
            if self._sim is not None:
                asyncio.run_coroutine_threadsafe(self._sim.stop(), self._loop).result(timeout)
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10.0)
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 30.0,
             **kwargs: Any) -> T:
        """Run ``await fn(*args, **kwargs)`` on the simulator's loop and return the result."""
        if self._loop is None:
            raise RuntimeError("the simulator thread is not running")

        async def run() -> T:
            return await fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def read(self, fn: Callable[[Simulator], T], timeout: float = 10.0) -> T:
        """Evaluate ``fn(sim)`` on the simulator's loop (a consistent snapshot).

        After ``stop`` the records stay readable: ``fn`` then runs right here.
        """
        sim = self.sim
        if self._loop is None:
            return fn(sim)

        async def run() -> T:
            return fn(sim)

        return self.call(run, timeout=timeout)

    def inject(self, fault: Fault, times: int = 1) -> None:
        self.read(lambda sim: sim.inject(fault, times))

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue scripted responses for the next responses created (see Simulator.script)."""
        self.read(lambda sim: sim.script(*responses))

    def tool_calls(self) -> list[ToolCall]:
        return self.read(lambda sim: list(sim.tool_calls))

    def tool_outputs(self) -> list[ToolOutput]:
        return self.read(lambda sim: list(sim.tool_outputs))

    def mcp_calls(self) -> list[McpCallSent]:
        return self.read(lambda sim: list(sim.mcp_calls))

    def mcp_approvals(self) -> list[McpApproval]:
        return self.read(lambda sim: list(sim.mcp_approvals))

    def wait_for_mcp_approvals(self, count: int, timeout: float = 10.0) -> list[McpApproval]:
        return self.call(self.sim.wait_for_mcp_approvals, count, timeout, timeout=timeout + 5)

    def wait_for_tool_outputs(self, count: int, timeout: float = 10.0) -> list[ToolOutput]:
        return self.call(self.sim.wait_for_tool_outputs, count, timeout, timeout=timeout + 5)

    def wait_for_event(self, type: str, timeout: float = 10.0, **kwargs: Any) -> dict[str, Any]:
        return self.call(self.sim.wait_for_event, type, timeout, timeout=timeout + 5, **kwargs)

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        return self.read(lambda sim: list(sim.events))

    def handshakes(self) -> list[tuple[float, int]]:
        return self.read(lambda sim: list(sim.handshakes))

    def connections(self) -> int:
        return self.read(lambda sim: sim.connections)

    def answer_audio(self, connection: int) -> list[bytes]:
        return self.read(lambda sim: sim.answer_audio(connection))

    def drop_all(self) -> None:
        self.call(self.sim.drop_all)
