"""What the installer tests share: a copy of the checkout to install from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout, so edits elsewhere in the tree cannot change a run."""
    src = tmp_path_factory.mktemp("checkout")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("edged", "config", "systemd"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    if (ROOT / "docs").is_dir():  # checked by the docs tests, not required to install
        shutil.copytree(ROOT / "docs", src / "docs", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "scripts/install.sh"):
        if (ROOT / name).exists():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    return src
