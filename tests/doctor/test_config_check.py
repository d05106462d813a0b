"""Check 1 on real files: valid, invalid (file:line problems), missing."""

from __future__ import annotations

from pathlib import Path

from edged.doctor.config_check import check_config
from edged.doctor.context import Context, Options


def test_a_valid_file_passes_and_is_kept_for_the_other_checks(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("realtime:\n  voice: echo\n")
    ctx = Context(Options(config_path=str(path)))
    result = check_config(ctx)
    assert result.status == "ok"
    assert str(path) in result.summary and "voice echo" in result.summary
    assert ctx.config is not None and ctx.config.realtime.voice == "echo"


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("realtime:\n  voice: echo\n  vocie: x\naudio:\n  frame_ms: 3\n")
    ctx = Context(Options(config_path=str(path)))
    result = check_config(ctx)
    assert result.status == "fail"
    assert ctx.config is None
    assert any(n.startswith(f"{path}:3: realtime.vocie") for n in result.notes)
    assert any(n.startswith(f"{path}:5: audio.frame_ms") for n in result.notes)
    assert result.fix is not None and "edged check-config" in result.fix


def test_one_problem_is_the_summary_itself(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("audio:\n  frame_ms: 3\n")
    result = check_config(Context(Options(config_path=str(path))))
    assert result.status == "fail"
    assert result.summary.startswith(f"{path}:2: audio.frame_ms")


def test_a_missing_file_says_how_to_install_one(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    result = check_config(Context(Options(config_path=str(path))))
    assert result.status == "fail"
    assert "no such file" in result.summary
    assert result.fix is not None and "install.sh" in result.fix
