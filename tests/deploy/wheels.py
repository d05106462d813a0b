"""Wheels of edged's dependencies, repacked from this test environment's own installs.

The tests may not reach a package index, yet scripts/wheelhouse and the role need
wheels of every dependency. Each distribution installed in the running venv (the
PyAudio and systemd-python built by scripts/setup among them) is zipped back into a
wheel: its files under site-packages, its dist-info with a RECORD made anew. This
stands in for PyPI and nothing else; the wheels are the real installed code.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def normalise(name: str) -> str:
    """A project name as pip compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(root: str) -> list[metadata.Distribution]:
    """The installed distributions ``root`` needs (itself excluded), on this platform."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = normalise(name)
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [d for k, d in sorted(seen.items()) if k != normalise(root)]


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _tags(wheel_meta: str) -> str:
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines()
            if line.startswith("Tag:")]
    parts = [t.split("-") for t in tags]
    return "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """Zip one installed distribution into ``out`` as a wheel pip accepts."""
    wheel_meta = dist.read_text("WHEEL")
    if not wheel_meta:
        raise ValueError(f"{dist.metadata['Name']} has no WHEEL file (not installed from a wheel)")
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    info = f"{name}-{dist.version}.dist-info"
    files = [f for f in dist.files or []
             if not str(f).startswith("..") and "__pycache__" not in f.parts
             and not f.parts[0].endswith(".dist-info")]
    target = out / f"{name}-{dist.version}-{_tags(wheel_meta)}.whl"
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            data = Path(str(f.locate())).read_bytes()
            zf.writestr(str(f), data)
            record.append(f"{f},{_digest(data)},{len(data)}")
        for meta in ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt"):
            text = dist.read_text(meta)
            if text is not None:
                data = text.encode()
                zf.writestr(f"{info}/{meta}", data)
                record.append(f"{info}/{meta},{_digest(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target
