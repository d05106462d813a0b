"""Local control: a Unix socket to press the buttons, mute, say text, set the volume
and timers, read status and watch events without GPIO (``edged ctl``).

``protocol`` (the line-delimited JSON), ``plan`` (commands → conversation events),
``access`` (who may connect), ``outbox`` (a slow subscriber's bounded queue) and
``render`` (text for people) are pure; ``server`` (asyncio, on the daemon's loop)
and ``client`` (blocking, for the CLI) are the shell around them. Nothing is
imported here, so the CLI's client does not pay for the server's imports.
"""
