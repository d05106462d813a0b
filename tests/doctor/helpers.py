"""Small builders shared by the doctor's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edged.doctor.context import Context, Options
from edged.doctor.result import CheckResult

KEY = "sk-doctor-Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"  # never a real key


def write_config(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def context(tmp_path: Path, doc: dict[str, Any], **options: Any) -> Context:
    """A context whose config check has run (and passed) on ``doc``."""
    from edged.doctor.config_check import check_config

    ctx = Context(Options(config_path=str(write_config(tmp_path, doc)), **options))
    result = check_config(ctx)
    assert result.status == "ok", result
    return ctx


def custom(url: str, *, env: str = "EDGED_DOCTOR_KEY", **more: Any) -> dict[str, Any]:
    """A config for a loopback server, the key from an environment variable."""
    return {
        "controls": {"enabled": False},
        "realtime": {"provider": "custom", "url": url},
        "credentials": {"credential": None, "key_file": None, "env": env},
        **more,
    }


def shown(result: CheckResult) -> str:
    """Everything a person or a script sees of a result."""
    return " ".join([result.summary, result.fix or "", *result.notes, str(dict(result.details))])
