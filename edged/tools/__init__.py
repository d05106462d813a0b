"""The speaker's local tools: what the model may call (timers, volume, the clock).

A functional core — ``schema`` (argument checks), ``timers`` (the timer model),
``volume`` (the level curve) — and thin shells: ``registry`` runs one call and
never raises, ``timer_service`` keeps timers on the event loop and on disk,
``state_file`` writes JSON atomically, ``clock`` asks the system about time, and
``builtins`` turns them into tools for a daemon that implements ``ToolHost``.
No protocol and no conversation logic live here. Nothing is imported here:
a daemon with ``tools.enabled: false`` loads none of it.
"""

