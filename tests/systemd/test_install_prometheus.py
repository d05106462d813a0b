"""scripts/install.sh and the ReadWritePaths= drop-in for health.prometheus_textfile.

The installer runs for real against a scratch root (``--root``, offline with
``--no-deps``), as in test_install.py. It reads the key with edged's own loader in
the venv it built, so that venv needs edged's dependencies: ``--no-deps`` expects
them to be there already, and here a ``.pth`` line lends it the test venv's
site-packages (pyyaml among them) instead of a download. The unit with the drop-in
the installer wrote is then checked by the real ``systemd-analyze verify``.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.systemd.test_install import PYTHON, install
from tests.systemd.test_unit import analyze, needs_analyze, verifiable_copy

ROOT = Path(__file__).resolve().parents[2]
DIR = "/var/lib/prometheus/node-exporter"

pytestmark = pytest.mark.skipif(
    PYTHON is None or shutil.which("bash") is None,
    reason="needs bash and a python3 with pip, setuptools and wheel (Debian: python3-pip, "
    "python3-setuptools, python3-wheel) to build edged's wheel offline")


@pytest.fixture(scope="module")
def installed(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scratch-root")
    assert PYTHON is not None
    venv = root / "opt/edged/venv"
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, timeout=120)
    [site] = venv.glob("lib/python3*/site-packages")
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = install(source, root, "--key-stdin", stdin="sk-test-Q7w3ErT9yU1iO5pA8sD2fG6hJ4kL0zX\n")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture
def scratch(installed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "root"
    shutil.copytree(installed, copy, symlinks=True)
    return copy


def set_textfile(root: Path, path: str | None) -> None:
    conf = root / "etc/edged/edged.yaml"
    doc = yaml.safe_load(conf.read_text()) or {}
    doc.setdefault("health", {})["prometheus_textfile"] = path
    conf.write_text(yaml.safe_dump(doc))


def dropin(root: Path) -> Path:
    return root / "etc/systemd/system/edged.service.d/prometheus.conf"


def test_no_dropin_while_the_key_is_not_set(installed: Path) -> None:
    assert not dropin(installed).exists()
    assert not dropin(installed).parent.exists()


def test_the_key_opens_its_directory_and_a_rerun_changes_nothing(scratch: Path,
                                                                 source: Path) -> None:
    set_textfile(scratch, f"{DIR}/edged.prom")
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert f"installed {dropin(scratch)}" in result.stdout
    lines = dropin(scratch).read_text().splitlines()
    assert lines[1:] == ["[Service]", f"ReadWritePaths=-{DIR}"]
    assert lines[0].startswith("#")
    assert dropin(scratch).stat().st_mode & 0o777 == 0o644
    again = install(source, scratch)
    assert f"unchanged {dropin(scratch)}" in again.stdout


def test_moving_the_file_moves_the_dropin_and_unsetting_removes_it(scratch: Path,
                                                                   source: Path) -> None:
    set_textfile(scratch, f"{DIR}/edged.prom")
    install(source, scratch)
    set_textfile(scratch, "/srv/metrics/speaker.prom")
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert "ReadWritePaths=-/srv/metrics\n" in dropin(scratch).read_text()
    set_textfile(scratch, None)
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert f"removed {dropin(scratch)}" in result.stdout
    assert not dropin(scratch).parent.exists()


def test_a_bad_config_leaves_the_dropin_as_it_was(scratch: Path, source: Path) -> None:
    set_textfile(scratch, f"{DIR}/edged.prom")
    install(source, scratch)
    before = dropin(scratch).read_bytes()
    set_textfile(scratch, "relative/edged.prom")
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert dropin(scratch).read_bytes() == before
    said = [line for line in result.stdout.splitlines() if "prometheus.conf" in line]
    conf = scratch / "etc/edged/edged.yaml"
    assert len(said) == 1, result.stdout
    assert said[0].startswith(f"install: left {dropin(scratch)} unchanged: cannot read "
                              f"health.prometheus_textfile: {conf}:")
    assert said[0].endswith(": health.prometheus_textfile: must be an absolute path (e.g. "
                            "/var/lib/prometheus/node-exporter/edged.prom)")


def test_uninstall_removes_the_dropin(scratch: Path, source: Path) -> None:
    set_textfile(scratch, f"{DIR}/edged.prom")
    install(source, scratch)
    result = install(source, scratch, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert f"removed {dropin(scratch)}" in result.stdout
    assert not dropin(scratch).parent.exists()


@needs_analyze
def test_the_unit_with_the_dropin_verifies(scratch: Path, source: Path, tmp_path: Path) -> None:
    set_textfile(scratch, f"{DIR}/edged.prom")
    install(source, scratch)
    check = tmp_path / "verify"
    unit = verifiable_copy(check, (scratch / "etc/systemd/system/edged.service").read_text())
    (check / "edged.service.d").mkdir()
    installed = dropin(scratch).read_text()
    (check / "edged.service.d/prometheus.conf").write_text(installed)
    result = analyze("verify", str(unit))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    # and verify does read it: a misspelt key in the drop-in is reported
    (check / "edged.service.d/prometheus.conf").write_text(
        installed.replace("ReadWritePaths=", "ReadWritePath="))
    broken = analyze("verify", str(unit))
    assert "prometheus.conf:3: Unknown key 'ReadWritePath'" in broken.stderr, broken.stderr
