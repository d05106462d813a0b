"""The speaker's local tools: what the model may call (timers, volume, the clock).

A functional core — ``schema`` (argument checks), ``timers`` (the timer model),
``volume`` (the level curve) — and thin shells: ``registry`` runs one call and
never raises, ``timer_service`` keeps timers on the event loop and on disk,
``state_file`` writes JSON atomically, ``clock`` asks the system about time, and
``builtins`` turns them into tools for a daemon that implements ``ToolHost``.
No protocol and no conversation logic live here.
"""

from __future__ import annotations

from edged.tools.builtins import ToolHost, builtin_tools
from edged.tools.registry import Outcome, Registry, Tool, ToolError, sync_handler
from edged.tools.state_file import state_dir
from edged.tools.timer_service import TimerService, system_now
from edged.tools.timers import Now, Restored, Timer, TimerBook
from edged.tools.volume import VolumeStore

__all__ = [
    "Now",
    "Outcome",
    "Registry",
    "Restored",
    "Timer",
    "TimerBook",
    "TimerService",
    "Tool",
    "ToolError",
    "ToolHost",
    "VolumeStore",
    "builtin_tools",
    "state_dir",
    "sync_handler",
    "system_now",
]
