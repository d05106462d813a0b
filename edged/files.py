"""Files replaced whole, atomically and durably: speakers get unplugged mid-write.

A temporary file beside the target is written and fsync'd, renamed over it, and
the directory fsync'd so the rename itself is on disk: a reader (node_exporter, the
next start-up) sees the old file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_atomically(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600,
                       prefix: str = ".edged-") -> None:
    """Raises OSError (full disk, read-only file system) and leaves the old file. The
    temporary file's name starts with ``prefix`` and ends in ``.tmp``, so collectors
    that read ``*.prom`` or ``*.json`` skip it."""
    target = Path(path)
    directory = target.parent
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """The directory's entries on disk; some file systems refuse, and the data is written."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
