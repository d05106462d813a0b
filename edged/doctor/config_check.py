"""Check 1: the config file loads and validates (the same code ``edged run`` uses)."""

from __future__ import annotations

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok

ID, TITLE = "config", "config"


def check_config(ctx: Context) -> CheckResult:
    from edged import config as config_mod

    path = ctx.options.config_path or config_mod.default_path()
    try:
        cfg = config_mod.load(path)
    except config_mod.ConfigError as exc:
        problems = tuple(str(p) for p in exc.problems)
        missing = len(exc.problems) == 1 and exc.problems[0].reason == "no such file"
        if missing:
            return fail(ID, TITLE, f"{path}: no such file",
                        "run sudo scripts/install.sh from the edged checkout (it installs the "
                        "commented example there), or pass --config PATH",
                        path=path, problems=list(problems))
        if len(problems) == 1:
            return fail(ID, TITLE, problems[0],
                        f"edit {path} at the line shown, then run: edged check-config",
                        path=path, problems=list(problems))
        return fail(ID, TITLE, f"{len(problems)} problems in {path}:",
                    f"edit {path} at the lines shown, then run: edged check-config",
                    notes=problems, path=path, problems=list(problems))
    ctx.config = cfg
    return ok(ID, TITLE, cfg.summary(), path=path)
