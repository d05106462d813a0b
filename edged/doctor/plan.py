"""The order the checks run in and what each needs first (pure).

The order follows the path a person's voice takes, so the first ✗ is usually the
cause of the rest: a check whose prerequisite failed is skipped and says which one
to fix first, instead of adding a second, misleading failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edged.doctor.result import CheckResult


@dataclass(frozen=True, slots=True)
class Spec:
    id: str
    title: str
    needs: tuple[str, ...] = ()


CHECKS: tuple[Spec, ...] = (
    Spec("config", "config"),
    Spec("input_device", "microphone", ("config",)),
    Spec("output_device", "speaker", ("config",)),
    Spec("wake_word", "wake word", ("config",)),
    Spec("mic_level", "mic level", ("input_device",)),
    Spec("speaker_tone", "test tone", ("output_device",)),
    Spec("gpio", "GPIO", ("config",)),
    Spec("groups", "groups", ("config",)),
    Spec("credentials", "API key", ("config",)),
    Spec("token_service", "token service", ("credentials",)),
    Spec("dns", "DNS", ("config",)),
    Spec("tls", "TLS", ("dns",)),
    Spec("handshake", "WebSocket", ("credentials", "token_service", "dns", "tls")),
    Spec("http_tools", "HTTP tools", ("config",)),
    Spec("journald", "journald"),
    Spec("systemd", "systemd unit"),
)
"""Every check, in the order it runs and is shown."""

TITLES: Mapping[str, str] = {spec.id: spec.title for spec in CHECKS}


def blocker(spec: Spec, done: Mapping[str, CheckResult]) -> CheckResult | None:
    """The earlier result that stops ``spec`` from running, or None to run it.

    A prerequisite blocks when it failed or was itself blocked; one skipped because
    it does not apply (no TLS on a loopback ``ws://`` URL) does not.
    """
    for need in spec.needs:
        prior = done.get(need)
        if prior is None:
            continue
        if prior.status == "fail" or prior.blocked_by is not None:
            return prior
    return None


def blocked(spec: Spec, by: CheckResult) -> CheckResult:
    """The skip recorded for ``spec`` when ``by`` stops it."""
    root = by.blocked_by or by.id
    return CheckResult(spec.id, spec.title, "skip",
                       f"skipped: fix the {TITLES.get(root, root)} check first",
                       blocked_by=root)
