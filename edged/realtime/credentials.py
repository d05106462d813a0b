"""Where the API key (or the device token) comes from, and a wrapper that keeps it
out of every log.

Sources are tried in the order an administrator would expect on a Pi: the
systemd credential (readable by the unit only), then a root-only key file, then
an environment variable. Errors name the sources and why each failed, never
the key, and a key file that others can read is refused rather than used. The
device token a speaker shows its fleet's token service (``credentials.token_url``)
is read by the same rules, so both secrets are kept and refused alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from edged.config import CredentialsConfig

_MAX_KEY_BYTES = 16384  # an Entra ID token is a few KiB; a bigger file is not a key


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source  # where it came from, safe to show

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<redacted>, source={self.source!r})"

    def __str__(self) -> str:
        return "<redacted>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


class CredentialsError(Exception):
    """No usable key. ``tried`` lists each source with the reason it failed."""

    def __init__(self, message: str, tried: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tried = tried


def _check_key(text: str) -> str:
    """The key without surrounding whitespace; ValueError says what is wrong with it."""
    key = text.strip()
    if not key:
        raise ValueError("empty")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ValueError("more than one line, or spaces inside the key")
    return key


def _read_key(path: Path, what: str) -> str:
    with path.open("rb") as f:
        data = f.read(_MAX_KEY_BYTES + 1)
    if len(data) > _MAX_KEY_BYTES:
        raise ValueError(f"too large to be {what}")
    try:
        return _check_key(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not text") from None


def load_key(cfg: CredentialsConfig, environ: Mapping[str, str] | None = None) -> Secret:
    """The API key from the first source that has one; raises CredentialsError."""
    return load_secret("API key", "key file", (cfg.credential, cfg.key_file, cfg.env), environ)


def load_device_token(cfg: CredentialsConfig,
                      environ: Mapping[str, str] | None = None) -> Secret:
    """This speaker's token for the fleet's token service; raises CredentialsError.

    No environment variable here: a process's environment is passed on to every child
    it starts, and the device token can mint secrets for the fleet's account."""
    return load_secret("device token", "device token file",
                       (cfg.device_token_credential, cfg.device_token_file, None), environ)


def load_secret(what: str, file_label: str,
                sources: tuple[str | None, str | None, str | None],
                environ: Mapping[str, str] | None = None) -> Secret:
    """A secret by the API key's rules, from the first of (systemd credential name,
    root-only file, environment variable) that holds one; raises CredentialsError naming
    ``what`` and every source tried (never the value). Tools' and MCP servers' tokens
    use it too."""
    credential, key_file, env_name = sources
    env = os.environ if environ is None else environ
    named = f"{'an' if what[0] in 'AEIOU' else 'a'} {what}"  # "too large to be an API key"
    tried: list[str] = []  # each source that failed, and why
    if credential and (key := _from_credential(credential, env, tried, named)) is not None:
        return key
    if key_file and (key := _from_key_file(key_file, tried, file_label, named)) is not None:
        return key
    if env_name and (key := _from_env(env_name, env, tried)) is not None:
        return key
    raise CredentialsError(f"no {what} found; tried " + "; ".join(tried), tuple(tried))


def _from_credential(name: str, env: Mapping[str, str], tried: list[str],
                     named: str) -> Secret | None:
    where = f"systemd credential '{name}'"
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if not cred_dir:
        tried.append(f"{where} ($CREDENTIALS_DIRECTORY is not set)")
        return None
    try:
        return Secret(_read_key(Path(cred_dir) / name, named), where)
    except FileNotFoundError:
        tried.append(f"{where} (not in {cred_dir})")
    except (OSError, ValueError) as exc:
        tried.append(f"{where} ({_reason(exc)})")
    return None


def _from_key_file(key_file: str, tried: list[str], label: str, named: str) -> Secret | None:
    """Raises CredentialsError for a file others can read: the key may have leaked, so
    it is refused outright rather than skipped."""
    where = f"{label} {key_file}"
    path = Path(key_file)
    try:
        st = path.stat()
    except FileNotFoundError:
        tried.append(f"{where} (no such file)")
        return None
    except OSError as exc:
        tried.append(f"{where} ({_reason(exc)})")
        return None
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode):
        tried.append(f"{where} (not a regular file)")
        return None
    if mode & 0o044:
        raise CredentialsError(
            f"refusing {where}: it is readable by its group or others "
            f"(mode {mode:04o}); run: chmod 600 {key_file}",
            (*tried, f"{where} (mode {mode:04o}: readable by others)"),
        )
    try:
        return Secret(_read_key(path, named), where)
    except (OSError, ValueError) as exc:
        tried.append(f"{where} ({_reason(exc)})")
    return None


def _from_env(name: str, env: Mapping[str, str], tried: list[str]) -> Secret | None:
    where = f"environment variable {name}"
    value = env.get(name)
    if value is None:
        tried.append(f"{where} (not set)")
        return None
    try:
        return Secret(_check_key(value), where)
    except ValueError as exc:
        tried.append(f"{where} ({_reason(exc)})")
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)
