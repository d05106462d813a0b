"""Check 8: an API key is present and readable, from the source the daemon would use.

The key is read through ``edged.realtime.credentials.load_key`` and never shown:
the result names only where it came from. A failure lists every source tried.
"""

from __future__ import annotations

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok

ID, TITLE = "credentials", "API key"


def credential_fix(message: str, tried: tuple[str, ...], key_file: str | None) -> str:
    """Pure: the one thing to do, from what ``load_key`` said about each source."""
    text = " ".join((message, *tried)).lower()
    if "refusing" in text and "chmod" in text:
        return message[message.index("run:") + 5:] if "run:" in message else \
            f"chmod 600 {key_file}"
    if "permission denied" in text:
        return ("the key file is readable by root only, as it should be: run sudo edged "
                "doctor (or sudo -u edged edged doctor)")
    for source in tried:  # name the source whose content is wrong, not always "the file"
        said = source.lower()
        if any(w in said for w in ("empty", "more than one line", "not text", "too large")):
            where = source.split(" (")[0]
            return f"the {where} must hold the key alone, on one line, without spaces"
    where = key_file or "/etc/edged/api-key"
    return (f"put the key in {where} (one line; sudo chmod 600 {where}), or set the "
            "environment variable named in credentials.env")


def check_credentials(ctx: Context) -> CheckResult:
    from edged.realtime.credentials import CredentialsError, load_key
    from edged.redact import register_secret

    assert ctx.config is not None
    creds = ctx.config.credentials
    try:
        secret = load_key(creds, ctx.environ)
    except CredentialsError as exc:
        return fail(ID, TITLE, str(exc).split("; tried ")[0],
                    credential_fix(str(exc), exc.tried, creds.key_file),
                    notes=tuple(f"tried {t}" for t in exc.tried), tried=list(exc.tried))
    register_secret(secret.reveal())  # whatever the checks print next, the key is masked
    note = ""
    if (creds.credential and "CREDENTIALS_DIRECTORY" not in ctx.environ
            and not secret.source.startswith("systemd")):
        note = f" (under systemd, credential '{creds.credential}' is tried first)"
    return ok(ID, TITLE, f"found in {secret.source}, not shown{note}", source=secret.source)
