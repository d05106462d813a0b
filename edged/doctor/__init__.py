"""``edged doctor``: one command an owner runs over SSH to find what stops the speaker.

Each check is a small function that returns a typed :class:`~edged.doctor.result.CheckResult`
(``result``); ``plan`` (the order and what each check needs first), ``report`` (✓/✗
lines and JSON), ``levels`` (the microphone meter's arithmetic) and ``tone`` are pure.
The checks themselves (``config_check``, ``audio``, ``gpio``, ``credentials``,
``network``, ``journal``, ``systemd``) are thin shells over the daemon's own code and
the real libraries, run in order by ``runner``. Nothing is imported here, so the CLI
pays only for the checks it runs.
"""
