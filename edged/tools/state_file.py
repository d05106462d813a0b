"""Small JSON state files that survive a power cut: a file is either the old
version or the new one, never half of each (speakers get unplugged).

Reading never raises for what a person can cause (a hand-edited file, a full
disk's truncated write): the file is moved aside as ``<name>.bad`` for a look
later, a warning names it, and the caller starts from its defaults.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edged import files

log = logging.getLogger("edged.tools")

DEFAULT_DIR = Path("/var/lib/edged")


def state_dir(cfg_value: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``tools.state_dir`` if set, else systemd's ``$STATE_DIRECTORY`` (the first, if it
    lists several separated by ':'), else /var/lib/edged."""
    if cfg_value:
        return Path(cfg_value)
    env = os.environ if environ is None else environ
    first = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(first) if first else DEFAULT_DIR


def write(path: Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as JSON, atomically and durably (mode 0600).

    A temporary file in the same directory is written and fsync'd, renamed over
    the old file, and the directory fsync'd so the rename itself is on disk.
    Raises OSError (full disk, read-only file system) and leaves the old file.
    """
    data = (json.dumps(obj, ensure_ascii=False, allow_nan=False, sort_keys=True) + "\n")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.replace_atomically(path, data.encode("utf-8"), prefix=f".{path.name}.")


def read(path: Path) -> Any | None:
    """The JSON in ``path``; None if there is none, or if it is unreadable or corrupt
    (then it is set aside and a warning names it)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        set_aside(path, f"cannot be read ({exc.strerror or type(exc).__name__})")
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        set_aside(path, "is not valid JSON")
        return None


def set_aside(path: Path, why: str) -> None:
    """Move a state file that cannot be used to ``<name>.bad`` and say so; the caller
    starts afresh. Also for a file that is JSON but not what the caller expects."""
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
    except OSError as exc:
        log.warning("state file %s %s; ignoring it (could not move it aside: %s)",
                    path, why, exc.strerror or type(exc).__name__)
        return
    log.warning("state file %s %s; moved it to %s and starting afresh", path, why, bad)
