"""Key sources in order, key-file permissions, and keys never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edged.config import CredentialsConfig
from edged.realtime.credentials import CredentialsError, Secret, load_key

KEY_A = "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "sk-proj-BBBBBBBBBBBBBBBBBBBBBBBB"
KEY_C = "sk-proj-CCCCCCCCCCCCCCCCCCCCCCCC"


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def sources(tmp_path: Path) -> tuple[CredentialsConfig, dict[str, str]]:
    creds = tmp_path / "creds"
    creds.mkdir()
    _write(creds / "openai-api-key", KEY_A + "\n")
    key_file = _write(tmp_path / "api-key", KEY_B + "\n")
    cfg = CredentialsConfig(credential="openai-api-key", key_file=str(key_file), env="MY_KEY")
    return cfg, {"CREDENTIALS_DIRECTORY": str(creds), "MY_KEY": KEY_C}


def test_the_systemd_credential_comes_first(sources: tuple[CredentialsConfig,
                                                          dict[str, str]]) -> None:
    cfg, env = sources
    key = load_key(cfg, env)
    assert key.reveal() == KEY_A
    assert key.source == "systemd credential 'openai-api-key'"


def test_then_the_key_file(sources: tuple[CredentialsConfig, dict[str, str]]) -> None:
    cfg, env = sources
    del env["CREDENTIALS_DIRECTORY"]
    assert load_key(cfg, env).reveal() == KEY_B


def test_then_the_environment(sources: tuple[CredentialsConfig, dict[str, str]],
                              tmp_path: Path) -> None:
    cfg, env = sources
    del env["CREDENTIALS_DIRECTORY"]
    (tmp_path / "api-key").unlink()
    key = load_key(cfg, env)
    assert key.reveal() == KEY_C
    assert key.source == "environment variable MY_KEY"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666])
def test_a_group_or_world_readable_key_file_is_refused_and_says_how_to_fix(
        sources: tuple[CredentialsConfig, dict[str, str]], tmp_path: Path, mode: int) -> None:
    cfg, env = sources
    del env["CREDENTIALS_DIRECTORY"]
    (tmp_path / "api-key").chmod(mode)
    with pytest.raises(CredentialsError) as info:
        load_key(cfg, env)
    message = str(info.value)
    assert f"mode {mode:04o}" in message
    assert f"chmod 600 {tmp_path / 'api-key'}" in message
    assert KEY_B not in message and KEY_C not in message


def test_owner_only_modes_are_accepted(sources: tuple[CredentialsConfig, dict[str, str]],
                                       tmp_path: Path) -> None:
    cfg, env = sources
    del env["CREDENTIALS_DIRECTORY"]
    for mode in (0o400, 0o600):
        (tmp_path / "api-key").chmod(mode)
        assert load_key(cfg, env).reveal() == KEY_B


def test_nothing_found_lists_every_source_and_why_but_no_key(tmp_path: Path) -> None:
    _write(tmp_path / "empty", "  \n")
    cfg = CredentialsConfig(credential="k", key_file=str(tmp_path / "missing"), env="NOPE")
    with pytest.raises(CredentialsError) as info:
        load_key(cfg, {})
    msg = str(info.value)
    assert "systemd credential 'k' ($CREDENTIALS_DIRECTORY is not set)" in msg
    assert f"key file {tmp_path / 'missing'} (no such file)" in msg
    assert "environment variable NOPE (not set)" in msg
    assert len(info.value.tried) == 3


def test_empty_and_multi_word_keys_are_skipped_with_a_reason(tmp_path: Path) -> None:
    creds = tmp_path / "c"
    creds.mkdir()
    _write(creds / "k", "\n")
    _write(tmp_path / "f", f"{KEY_A} {KEY_B}\n")
    cfg = CredentialsConfig(credential="k", key_file=str(tmp_path / "f"), env="E")
    with pytest.raises(CredentialsError) as info:
        load_key(cfg, {"CREDENTIALS_DIRECTORY": str(creds), "E": ""})
    msg = str(info.value)
    assert "'k' (empty)" in msg
    assert "spaces inside the key" in msg
    assert "environment variable E (empty)" in msg
    assert KEY_A not in msg and KEY_B not in msg


def test_a_directory_as_key_file_is_not_used(tmp_path: Path) -> None:
    cfg = CredentialsConfig(credential=None, key_file=str(tmp_path), env=None)
    with pytest.raises(CredentialsError, match="not a regular file"):
        load_key(cfg, {})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permission denied "
                    "cannot be produced")
def test_unreadable_key_file_is_reported_as_permission_denied(tmp_path: Path) -> None:
    path = _write(tmp_path / "k", KEY_A, 0o000)
    with pytest.raises(CredentialsError, match="permission denied"):
        load_key(CredentialsConfig(credential=None, key_file=str(path), env=None), {})


def test_secret_never_prints_itself() -> None:
    s = Secret(KEY_A, "somewhere")
    assert KEY_A not in repr(s) and KEY_A not in str(s) and KEY_A not in f"{s}"
    assert s.reveal() == KEY_A
    assert s == Secret(KEY_A)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(s)
