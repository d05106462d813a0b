"""The daemon: config, audio, buttons, link and conversation under one asyncio loop.

``daemon`` runs the lifecycle (start, reload, stop) and the event queue;
``translate`` (pure) maps server events to machine events and actions to client
events; ``observe`` turns what happens into journal records, health figures,
the timeline and ``edged ctl watch`` events; ``ports`` holds the protocols the
daemon needs from its audio engine and buttons.
"""

from edged.daemon.daemon import EXIT_CONFIG, EXIT_OK, Daemon, ReloadResult
from edged.daemon.observe import Timeline
from edged.daemon.ports import AudioFactory, AudioPort

__all__ = ["EXIT_CONFIG", "EXIT_OK", "AudioFactory", "AudioPort", "Daemon", "ReloadResult",
           "Timeline"]
