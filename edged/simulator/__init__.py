"""A loopback realtime server with fault injection, for tests, the demo and benchmarks.

It speaks both dialects of the realtime protocol well enough for the daemon
(sessions, buffered input, energy-based server VAD, paced PCM answers that can
be cancelled and truncated) and misbehaves on request, one connection at a
time::

    async with Simulator(answer="echo", pace=4.0) as sim:
        sim.inject(Fault.refuse(503, retry_after=2), times=3)
        sim.script(ScriptedResponse.of("set_timer", '{"seconds": 300}'))
        sim.script(ScriptedResponse(mcp=(ScriptedMcpCall("home", "lights", ask=True),),
                                    speak_ms=800))
        ...connect to sim.url...; then sim.tool_calls / sim.tool_outputs, sim.mcp_calls /
        sim.mcp_approvals

The protocol side (``protocol``, ``session``, ``audio``, ``faults``, ``script``) is
pure; only ``server`` and ``thread`` do I/O.
"""

from __future__ import annotations

from edged.simulator.audio import AnswerKind
from edged.simulator.faults import Fault, FaultSpecError, parse_spec
from edged.simulator.script import (
    McpApproval,
    McpCallSent,
    ScriptedCall,
    ScriptedMcpCall,
    ScriptedResponse,
    ToolCall,
    ToolOutput,
)
from edged.simulator.server import Handshake, Simulator
from edged.simulator.session import Answer
from edged.simulator.thread import SimulatorThread

__all__ = ["Answer", "AnswerKind", "Fault", "FaultSpecError", "Handshake", "McpApproval",
           "McpCallSent", "ScriptedCall", "ScriptedMcpCall", "ScriptedResponse", "Simulator",
           "SimulatorThread", "ToolCall", "ToolOutput", "parse_spec"]
