"""Test and benchmark rigs that stand in for hardware and systemd on any Linux machine.

A private PulseAudio server with paced virtual devices (``pulse``), a
NOTIFY_SOCKET listener (``notify``) and a self-signed loopback TLS endpoint
(``tls``). They ship in the package because ``scripts/bench`` runs the real
daemon on them too; the daemon itself never imports them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
