"""Check 8 with real files and environments: each source named, the key never shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edged.doctor import report
from edged.doctor.credentials import check_credentials, credential_fix
from edged.doctor.result import CheckResult
from tests.doctor.helpers import KEY, context, shown


def creds(tmp_path: Path, environ: dict[str, str], **sources: Any) -> CheckResult:
    doc = {"controls": {"enabled": False},
           "credentials": {"credential": None, "key_file": None, "env": None, **sources}}
    result = check_credentials(context(tmp_path, doc, environ=environ))
    everything = shown(result) + report.render([result]) + json.dumps(report.to_json([result]))
    assert KEY not in everything
    assert KEY[3:15] not in everything
    return result


def test_key_from_the_environment(tmp_path: Path) -> None:
    result = creds(tmp_path, {"MY_KEY": KEY}, env="MY_KEY")
    assert result.status == "ok"
    assert result.details["source"] == "environment variable MY_KEY"


def test_key_from_a_root_only_file(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    result = creds(tmp_path, {}, key_file=str(key_file))
    assert result.status == "ok"
    assert result.details["source"] == f"key file {key_file}"


def test_key_from_the_systemd_credentials_directory(tmp_path: Path) -> None:
    cred_dir = tmp_path / "creds"
    cred_dir.mkdir()
    (cred_dir / "openai-api-key").write_text(KEY)
    result = creds(tmp_path, {"CREDENTIALS_DIRECTORY": str(cred_dir), "OPENAI_API_KEY": "x"},
                   credential="openai-api-key", env="OPENAI_API_KEY")
    assert result.status == "ok"
    assert result.details["source"] == "systemd credential 'openai-api-key'"


def test_no_key_anywhere_lists_every_source_tried(tmp_path: Path) -> None:
    missing = tmp_path / "api-key"
    result = creds(tmp_path, {}, credential="openai-api-key", key_file=str(missing),
                   env="OPENAI_API_KEY")
    assert result.status == "fail"
    assert result.summary == "no API key found"
    assert len(result.notes) == 3
    assert any(str(missing) in n for n in result.notes)
    assert result.fix is not None and str(missing) in result.fix


def test_a_key_file_others_can_read_is_refused_with_chmod(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    result = creds(tmp_path, {}, key_file=str(key_file))
    assert result.status == "fail"
    assert result.fix == f"chmod 600 {key_file}"


def test_fix_for_an_unreadable_file_suggests_sudo() -> None:
    fix = credential_fix("no API key found; tried key file /etc/edged/api-key (permission "
                         "denied)", ("key file /etc/edged/api-key (permission denied)",),
                         "/etc/edged/api-key")
    assert "sudo edged doctor" in fix


def test_a_bad_environment_variable_is_named_as_such_not_as_a_key_file(tmp_path: Path) -> None:
    result = creds(tmp_path, {"MY_KEY": "two words"}, env="MY_KEY")
    assert result.status == "fail"
    assert result.fix == ("the environment variable MY_KEY must hold the key alone, on one "
                          "line, without spaces")


def test_a_bad_key_file_is_named_with_its_path(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("")
    key_file.chmod(0o600)
    result = creds(tmp_path, {}, key_file=str(key_file))
    assert result.fix is not None and result.fix.startswith(f"the key file {key_file} must")
