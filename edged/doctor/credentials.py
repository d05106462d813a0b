"""Check 8: an API key is present and readable, from the source the daemon would use;
with ``credentials.token_url``, the device token instead, and then the token service
itself: it answers, accepts the device token, and sends a well-formed secret with a
sane expiry.

Keys, tokens and secrets are read through the daemon's own code
(``edged.realtime.credentials``, ``edged.realtime.token_service``) and never shown:
a result names only where a key came from. A failure lists every source tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, skip, warn

if TYPE_CHECKING:
    from edged.config import CredentialsConfig
    from edged.realtime.client_secret import Minted
    from edged.realtime.endpoint import Endpoint
    from edged.realtime.policy import Failure
    from edged.realtime.token_service import TokenService

ID, TITLE = "credentials", "API key"
TOKEN_ID, TOKEN_TITLE = "token_service", "token service"
SHORT_LIFE_S = 60.0  # a secret shorter-lived than this sends every reconnect to the service
SKEW_WARN_S = 60.0


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


def device_token_fix(message: str, tried: tuple[str, ...], creds: CredentialsConfig) -> str:
    """Pure: the one thing to do when the device token cannot be read."""
    text = " ".join((message, *tried)).lower()
    if "refusing" in text or "permission denied" in text or any(
            w in text for w in ("empty", "more than one line", "not text", "too large")):
        return credential_fix(message, tried, creds.device_token_file)
    where = creds.device_token_file or "/etc/edged/device-token"
    also = f" or the systemd credential '{creds.device_token_credential}'" \
        if creds.device_token_credential else ""
    return (f"put this speaker's device token (from your token service) in {where} (one "
            f"line; sudo chmod 600 {where}){also}")


def check_credentials(ctx: Context) -> CheckResult:
    from edged.realtime.credentials import CredentialsError, load_key
    from edged.redact import register_secret

    assert ctx.config is not None
    creds = ctx.config.credentials
    if creds.token_url:
        return _check_device_token(ctx, creds)
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


def _check_device_token(ctx: Context, creds: CredentialsConfig) -> CheckResult:
    from edged.realtime.credentials import CredentialsError, load_device_token
    from edged.redact import register_secret

    title = "device token"
    try:
        token = load_device_token(creds, ctx.environ)
    except CredentialsError as exc:
        return fail(ID, title, str(exc).split("; tried ")[0],
                    device_token_fix(str(exc), exc.tried, creds),
                    notes=tuple(f"tried {t}" for t in exc.tried), tried=list(exc.tried))
    register_secret(token.reveal(), "device_token")
    return ok(ID, title, f"found in {token.source}, not shown (credentials.token_url is set: "
              "no API key on this speaker)", source=token.source)


def token_problem(failure: Failure, creds: CredentialsConfig) -> str:
    """Pure: the fix for a token service that gave no secret."""
    from edged.realtime.policy import Cause

    detail = failure.detail
    if failure.cause is Cause.CREDENTIALS:
        return ("the service does not accept this speaker's device token: check that the "
                "service knows it, or issue a new one into "
                f"{creds.device_token_file or creds.device_token_credential}")
    if failure.cause is Cause.RATE_LIMITED:
        return "the service is rate limiting this speaker: try again later"
    if failure.cause is Cause.CONFIGURATION:
        return "check credentials.token_url: it must be the service's final URL"
    if "malformed" in detail:
        return ('the service must answer {"value": "<client secret>", "expires_at": <unix '
                'seconds>} (docs/fleet.md)')
    if "TLS" in detail:
        return ("the service's certificate is not trusted: for your own CA, point "
                "SSL_CERT_FILE at it (sudo systemctl edit edged), or check this clock")
    return ("is the token service up and reachable from here? check credentials.token_url "
            "and the network (edged retries by itself)")


def token_verdict(minted: Minted, took_ms: float) -> tuple[str, str, str | None]:
    """Pure: (status, summary, fix) for a secret the service did send."""
    basis = {"service clock": "timed by the service's Date header",
             "expires_in": "from its expires_in", "this clock": "timed by this clock (no "
             "Date header)", "unknown": "no usable expiry"}[minted.basis]
    summary = (f"minted a client secret (not shown) in {took_ms:.0f} ms, valid "
               f"{minted.lifetime_s:.0f} s, {basis}")
    if minted.lifetime_s <= 0:
        return ("warn", summary, "the secret's expiry cannot be trusted, so each connect "
                "asks the service again: send a Date header and expires_at, and set this "
                "clock (sudo timedatectl set-ntp true)")
    if minted.lifetime_s < SHORT_LIFE_S:
        return ("warn", summary, f"secrets living under {SHORT_LIFE_S:.0f} s send nearly "
                "every reconnect to the service: mint them for 10 minutes or more")
    if minted.skew_s is not None and abs(minted.skew_s) > SKEW_WARN_S:
        way = "ahead of" if minted.skew_s > 0 else "behind"
        off = f"{abs(minted.skew_s) / 60:.0f} min" if abs(minted.skew_s) >= 120 \
            else f"{abs(minted.skew_s):.0f} s"
        return ("warn", summary + f"; this clock is {off} {way} the service's",
                "edged copes (it times secrets by the service's clock), but TLS and "
                "alarms need the right time: sudo timedatectl set-ntp true")
    return "ok", summary, None


def _token_service(ctx: Context) -> TokenService:
    """The daemon's own fetch, with the doctor's --timeout if one was given."""
    from edged.realtime.token_service import TokenService

    assert ctx.config is not None
    creds = ctx.config.credentials
    if ctx.options.timeout_s is not None:
        import dataclasses

        creds = dataclasses.replace(creds, token_timeout_s=ctx.options.timeout_s)
    return TokenService(creds, ctx.config.realtime, handshake_s=ctx.config.link.open_timeout_s,
                        environ=ctx.environ)


def check_token_service(ctx: Context) -> CheckResult:
    import asyncio
    import time

    from edged.realtime.client_secret import TokenFailure

    assert ctx.config is not None
    creds = ctx.config.credentials
    if not creds.token_url:
        return skip(TOKEN_ID, TOKEN_TITLE, "skipped: credentials.token_url is not set (the "
                    "API key is on this speaker)")
    service = _token_service(ctx)
    facts: dict[str, Any] = {"url": creds.token_url}
    started = time.monotonic()
    try:
        minted = asyncio.run(service.fetch())
    except TokenFailure as exc:
        f = exc.failure
        return fail(TOKEN_ID, TOKEN_TITLE, f.detail, token_problem(f, creds),
                    cause=f.cause.value, **facts)
    took = (time.monotonic() - started) * 1000
    status, summary, fix = token_verdict(minted, took)
    details = {**facts, "lifetime_s": round(minted.lifetime_s, 1), "basis": minted.basis,
               "clock_skew_s": None if minted.skew_s is None else round(minted.skew_s, 1),
               "ms": round(took, 1)}
    if status == "ok" or fix is None:
        return ok(TOKEN_ID, TOKEN_TITLE, summary, **details)
    return warn(TOKEN_ID, TOKEN_TITLE, summary, fix, **details)


def handshake_endpoint(ctx: Context) -> Endpoint:
    """Where the WebSocket check connects, with the key the daemon would use: the API
    key, or with token_url a client secret from the service (sent as a bearer)."""
    import asyncio
    import dataclasses

    from edged.realtime.credentials import load_key
    from edged.realtime.endpoint import build_endpoint
    from edged.redact import register_secret

    assert ctx.config is not None
    rt = ctx.config.realtime
    if not ctx.config.credentials.token_url:
        secret = load_key(ctx.config.credentials, ctx.environ)
        register_secret(secret.reveal())
        return build_endpoint(rt, secret)
    secret, _ = asyncio.run(_token_service(ctx).secret())
    endpoint = build_endpoint(rt, secret)
    return dataclasses.replace(endpoint, auth="bearer") if rt.auth_header == "auto" \
        else endpoint


def refused_secret(status: int) -> tuple[str, str] | None:
    """Pure: (summary, fix) when the server refuses a client secret from the token
    service (401/403); None for other statuses."""
    if status not in (401, 403):
        return None
    return (f"the server refused the client secret the token service minted (HTTP {status})",
            "the token service's own API key or its session settings are wrong (the "
            "device token was accepted): check the service")
