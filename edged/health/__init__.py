"""Health: what the daemon counts, how it judges it, and how it tells systemd and journald.

Pure core: ``metrics`` (counters, latency windows, snapshot, budgets), ``records``
(health record ↔ journal fields, the status table), ``fingerprint`` (version and config
digest; its ``load`` reads the file) and ``prometheus.exposition`` (the record as
Prometheus text); masking secrets is ``edged.redact``.
Thin shell: ``proc`` (/proc sampling), ``journal`` (logging to journald or stderr),
``notify`` (sd_notify and the watchdog), ``prometheus.Textfile`` (the atomic file) and
``reporter`` (the periodic asyncio task).
Nothing is imported here, so importing one part never pulls in another.
"""
