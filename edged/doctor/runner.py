"""Runs the checks in ``plan`` order, each once, and hands each result over as it lands.

A check that raises something unexpected becomes a ✗ line naming the exception
(never a traceback), so one broken check cannot hide the ones after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edged.doctor import plan
from edged.doctor.context import Context, Options
from edged.doctor.result import CheckResult, fail

Check = Callable[[Context], CheckResult]


def checks() -> Mapping[str, Check]:
    """Every check function by id (imported here, so ``--help`` stays cheap)."""
    from edged.doctor import audio, gpio, journal, network, systemd, wakeword
    from edged.doctor.config_check import check_config
    from edged.doctor.credentials import check_credentials, check_token_service
    from edged.doctor.http_tools import check_http_tools

    return {
        "config": check_config,
        "input_device": audio.check_input_device,
        "output_device": audio.check_output_device,
        "wake_word": wakeword.check_wake_word,
        "mic_level": audio.check_mic_level,
        "speaker_tone": audio.check_tone,
        "gpio": gpio.check_gpio,
        "groups": gpio.check_groups,
        "credentials": check_credentials,
        "token_service": check_token_service,
        "dns": network.check_dns,
        "tls": network.check_tls,
        "handshake": network.check_handshake,
        "http_tools": check_http_tools,
        "journald": journal.check_journald,
        "systemd": systemd.check_systemd,
    }


def run(options: Options, on_result: Callable[[CheckResult], None] = lambda _r: None,
        only: set[str] | None = None) -> list[CheckResult]:
    """Run every check (or those in ``only``, with what they need first)."""
    table = checks()
    ctx = Context(options)
    wanted = _with_needs(only) if only is not None else None
    done: dict[str, CheckResult] = {}
    results: list[CheckResult] = []
    try:
        for spec in plan.CHECKS:
            if wanted is not None and spec.id not in wanted:
                continue
            stop = plan.blocker(spec, done)
            if stop is not None:
                result = plan.blocked(spec, stop)
            else:
                try:
                    result = table[spec.id](ctx)
                except Exception as exc:
                    from edged.redact import redact

                    result = fail(spec.id, spec.title, "the check itself failed: "
                                  f"{type(exc).__name__}: {redact(str(exc))}",
                                  "please report this (edged doctor --json shows the details)")
            done[spec.id] = result
            results.append(result)
            on_result(result)
    finally:
        ctx.close()
    return results


def _with_needs(only: set[str]) -> set[str]:
    needs = {spec.id: spec.needs for spec in plan.CHECKS}
    wanted: set[str] = set()
    todo = list(only)
    while todo:
        item = todo.pop()
        if item in wanted:
            continue
        wanted.add(item)
        todo.extend(needs.get(item, ()))
    return wanted
