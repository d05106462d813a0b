"""How the tests look for a leaked secret: any run of it long enough to be masked."""

from __future__ import annotations

from edged.redact import RUN, Redactor


def secret_runs(secret: str, text: str) -> list[str]:
    """Every ``RUN``-character slice of ``secret`` that ``text`` still holds: [] unless
    some of it leaked."""
    return [secret[i:i + RUN] for i in range(len(secret) - RUN + 1)
            if secret[i:i + RUN] in text]


def redactor_with(*secrets: str) -> Redactor:
    """A private redactor that knows ``secrets`` (the process-wide one is left alone)."""
    r = Redactor()
    for s in secrets:
        r.register(s)
    return r
