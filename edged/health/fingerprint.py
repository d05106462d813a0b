"""Which edged a speaker runs and which config file it applied, for checking a rollout.

The config is identified by the SHA-256 of the file's bytes, so it can be compared
with ``sha256sum`` of the file a fleet tool deployed; comments and key order count,
as they do for that tool. The digest is taken of the very bytes that were parsed:
read twice, an edit landing in between would make it name a file never applied.

``digest``, ``short`` and ``is_digest`` are pure; ``load`` and ``applied_digest`` read
the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from edged import __version__

if TYPE_CHECKING:
    from edged.config import Config

VERSION = __version__
SHORT = 12
"""Hex digits shown where space is short; 48 bits tell a fleet's configs apart."""
DIGEST = re.compile(r"[0-9a-f]{64}")


def digest(data: bytes) -> str:
    """The SHA-256 of a config file's bytes; public, so the redactor's guess that a long
    hex run is a key leaves exactly this one alone (``edged ctl status`` shows it)."""
    from edged.redact import REDACTOR

    value = hashlib.sha256(data).hexdigest()
    REDACTOR.allow(value)
    return value


def short(value: str | None) -> str:
    """The first :data:`SHORT` digits of a digest; ``-`` when there is none."""
    return value[:SHORT] if value else "-"


def is_digest(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


def load(path: str | os.PathLike[str]) -> tuple[Config, str | None]:
    """The config at ``path`` and the digest of the bytes it was parsed from.

    Raises :class:`~edged.config.ConfigError` as ``config.load`` does: a file that
    cannot be read or decoded is handed to it for its wording of the problem.
    """
    from edged import config as config_mod

    p = Path(path)
    try:
        data = p.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        config = config_mod.load(p)  # raises, saying why in the loader's words
        return config, applied_digest(p, config)  # it became readable meanwhile
    return config_mod.parse(text, str(p)), digest(data)


def applied_digest(path: str | os.PathLike[str], config: Config) -> str | None:
    """The digest of ``path`` if its bytes now give ``config`` (which someone else
    loaded from it); None when the file cannot be read or has changed since."""
    from edged import config as config_mod

    try:
        data = Path(path).read_bytes()
        parsed = config_mod.parse(data.decode("utf-8"), str(path))
    except (OSError, UnicodeDecodeError, config_mod.ConfigError):
        return None
    return digest(data) if parsed == config else None  # (``source`` is not compared)
