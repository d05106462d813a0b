"""scripts/install.sh run for real against a scratch root (``--root``), offline (``--no-deps``).

It builds a real venv with edged in it, writes passwd/group entries under the scratch
root instead of calling useradd, and skips apt-get and systemctl, as it does on any
machine without systemd as PID 1. The script runs from a copy of the checkout, so
other people editing the tree meanwhile cannot change what a second run sees.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-Q7w3ErT9yU1iO5pA8sD2fG6hJ4kL0zX"
GROUPS = "root:x:0:\naudio:x:29:\ngpio:x:997:pi\n"


def build_python() -> str | None:
    """A Python with pip, setuptools and wheel, which the installer builds edged's wheel
    with (python3-pip, python3-setuptools, python3-wheel on Debian)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run(
                [candidate, "-c", "import setuptools, wheel, venv, pip"],
                capture_output=True, check=False).returncode == 0:
            return candidate
    return None


PYTHON = build_python()
pytestmark = pytest.mark.skipif(
    PYTHON is None or shutil.which("bash") is None,
    reason="needs bash and a python3 with pip, setuptools and wheel (Debian: python3-pip, "
    "python3-setuptools, python3-wheel) to build edged's wheel offline")


def install(source: Path, root: Path, *args: str,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(source / "scripts" / "install.sh"), "--root", str(root), "--no-deps",
           "--python", str(PYTHON), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def first(source: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("scratch-root")
    (root / "etc").mkdir()
    (root / "etc" / "group").write_text(GROUPS)
    result = install(source, root, "--key-stdin", stdin=KEY + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result


@pytest.fixture
def scratch(first: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A private copy of the installed scratch root, for tests that change it."""
    copy = tmp_path / "root"
    shutil.copytree(first[0], copy, symlinks=True)
    return copy


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under root: mode, and content hash + mtime (files) or target (links)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_file():
                out[rel] = (oct(st.st_mode), hashlib.sha256(path.read_bytes()).hexdigest(),
                            st.st_mtime_ns)
            else:
                out[rel] = (oct(st.st_mode),)
    return out


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_lays_down_every_file_with_its_mode(
        first: tuple[Path, subprocess.CompletedProcess[str]], source: Path) -> None:
    root, result = first
    conf = root / "etc/edged/edged.yaml"
    key = root / "etc/edged/api-key"
    unit = root / "etc/systemd/system/edged.service"
    assert conf.read_bytes() == (source / "config/edged.yaml").read_bytes()
    assert mode(conf) == 0o644
    assert key.read_text() == KEY  # trimmed of the newline it arrived with
    assert mode(key) == 0o600
    assert unit.read_bytes() == (source / "systemd/edged.service").read_bytes()
    assert mode(unit) == 0o644
    assert os.readlink(root / "usr/local/bin/edged") == "/opt/edged/venv/bin/edged"
    passwd = (root / "etc/passwd").read_text().splitlines()
    [entry] = [line for line in passwd if line.startswith("edged:")]
    assert entry.split(":")[5:] == ["/var/lib/edged", "/usr/sbin/nologin"]
    groups = (root / "etc/group").read_text().splitlines()
    assert "audio:x:29:edged" in groups
    assert "gpio:x:997:pi,edged" in groups
    uid = entry.split(":")[2]
    assert f"edged:x:{uid}:" in groups
    assert "systemd is not running here (--root)" in result.stdout
    for check in ("systemctl status edged", "journalctl -u edged", "edged status",
                  "edged doctor"):
        assert check in result.stdout


# [text](target "title") and reference definitions [label]: target
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)


def relative_links(page: Path) -> list[str]:
    """The relative link targets of a Markdown page, without their #anchors; links
    inside code spans and fenced blocks are not links."""
    text = re.sub(r"(?ms)^(```|~~~).*?^\1", "", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)
    out = []
    for target in targets:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            continue  # a URL (https:, mailto:), an anchor on this page, an absolute path
        path = target.split("#", 1)[0]
        if path:
            out.append(path)
    return out


def test_the_docs_are_installed_next_to_the_readme(
        first: tuple[Path, subprocess.CompletedProcess[str]], source: Path) -> None:
    root, _ = first
    docs = root / "opt/edged/docs"
    shipped = sorted(p.relative_to(source / "docs") for p in (source / "docs").rglob("*")
                     if p.is_file())
    assert shipped, "the checkout has no docs/ to install"
    assert sorted(p.relative_to(docs) for p in docs.rglob("*") if p.is_file()) == shipped
    for rel in shipped:
        assert (docs / rel).read_bytes() == (source / "docs" / rel).read_bytes(), rel
        assert mode(docs / rel) == 0o644, rel
    assert (root / "opt/edged/README.md").read_bytes() == (source / "README.md").read_bytes()


def test_every_relative_link_of_the_installed_readme_resolves_inside_the_install(
        first: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """The README's links, and those of every page it leads to, as a reader of the
    installed copy (``Documentation=file:///opt/edged/README.md``) would follow them."""
    root, _ = first
    top = (root / "opt/edged").resolve()
    readme = top / "README.md"
    assert relative_links(readme), "the README links to nothing: the check would be empty"
    seen: set[Path] = set()
    todo = [readme]
    broken: list[str] = []
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for target in relative_links(page):
            where = (page.parent / target).resolve()
            name = f"{page.relative_to(top)} -> {target}"
            if not where.is_relative_to(top):
                broken.append(f"{name} (outside {top})")
            elif not where.exists():
                broken.append(f"{name} (missing)")
            elif where.suffix == ".md" and where.is_file():
                todo.append(where)
    assert not broken, broken
    assert top / "docs" / "configuration.md" in seen  # the walk reached the docs


def test_a_page_no_longer_shipped_is_removed_and_an_altered_one_put_back(
        scratch: Path, source: Path) -> None:
    docs = scratch / "opt/edged/docs"
    altered = sorted(docs.glob("*.md"))[0]
    altered.write_text("edited by hand\n")
    (docs / "retired.md").write_text("# a page an older version shipped\n")
    (docs / "old" / "deeper").mkdir(parents=True)
    (docs / "old" / "deeper" / "page.md").write_text("gone too\n")
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert not (docs / "retired.md").exists()
    assert not (docs / "old").exists()
    assert altered.read_bytes() == (source / "docs" / altered.name).read_bytes()
    assert f"docs in {docs}: 1 page(s) installed, 2 no longer shipped removed" in result.stdout
    again = install(source, scratch)
    assert f"unchanged {docs}" in again.stdout


def test_the_venv_holds_this_edged(first: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = first
    venv_python = root / "opt/edged/venv/bin/python"
    probe = subprocess.run([str(venv_python), "-c",
                            "import edged, edged.health.metrics as m; print(edged.__file__)"],
                           capture_output=True, text=True, cwd="/", timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(root / "opt/edged/venv/lib/"))
    assert os.access(root / "opt/edged/venv/bin/edged", os.X_OK)


def test_the_key_never_appears_in_the_output(
        first: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = first
    assert KEY not in result.stdout + result.stderr
    assert KEY[8:20] not in result.stdout + result.stderr


def test_a_second_run_changes_nothing(scratch: Path, source: Path) -> None:
    before = tree(scratch)
    result = install(source, scratch, "--key-stdin", stdin=KEY)
    assert result.returncode == 0, result.stderr
    assert tree(scratch) == before
    said = [line for line in result.stdout.splitlines() if line.startswith("install: ")]
    assert all("unchanged" in line or "systemd is not running" in line for line in said), said


def test_a_second_run_without_a_key_keeps_the_installed_one(scratch: Path, source: Path) -> None:
    before = tree(scratch)
    result = install(source, scratch)  # stdin is not a terminal: no prompt
    assert result.returncode == 0, result.stderr
    assert tree(scratch) == before
    assert f"unchanged {scratch}/etc/edged/api-key" in result.stdout


def test_an_edited_config_is_kept(scratch: Path, source: Path) -> None:
    conf = scratch / "etc/edged/edged.yaml"
    edited = conf.read_text().replace("voice: alloy", "voice: marin")
    conf.write_text(edited)
    result = install(source, scratch)
    assert result.returncode == 0, result.stderr
    assert conf.read_text() == edited
    new = scratch / "etc/edged/edged.yaml.new"
    assert new.read_bytes() == (source / "config/edged.yaml").read_bytes()
    assert f"kept your edited {conf}" in result.stdout
    before = tree(scratch)
    again = install(source, scratch)
    assert tree(scratch) == before  # and the next run leaves both alone
    assert f"kept your edited {conf}" in again.stdout


def test_key_from_a_file_replaces_the_old_one(scratch: Path, source: Path,
                                              tmp_path: Path) -> None:
    new_key = "sk-test-N3wK3yFr0mAF1l3_zzzzzzzzzzzz"
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"  {new_key}\r\n")
    result = install(source, scratch, "--key-file", str(key_file))
    assert result.returncode == 0, result.stderr
    installed = scratch / "etc/edged/api-key"
    assert installed.read_text() == new_key
    assert mode(installed) == 0o600
    assert new_key not in result.stdout + result.stderr
    assert "installed the API key" in result.stdout
    assert list(installed.parent.glob("api-key.tmp.*")) == []


def test_a_key_as_an_argument_is_refused_without_echoing_it(source: Path,
                                                            tmp_path: Path) -> None:
    result = install(source, tmp_path / "r", f"--key={KEY}")
    assert result.returncode == 1
    assert "never taken as an argument" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert not (tmp_path / "r" / "etc").exists()


def test_an_empty_key_is_refused(source: Path, tmp_path: Path) -> None:
    result = install(source, tmp_path / "r", "--key-stdin", stdin="\n")
    assert result.returncode == 1
    assert "the key given is empty" in result.stderr


def test_uninstall_keeps_etc_and_purge_removes_everything(scratch: Path, source: Path) -> None:
    result = install(source, scratch, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not (scratch / "etc/systemd/system/edged.service").exists()
    assert not (scratch / "opt/edged").exists()
    assert not (scratch / "usr/local/bin/edged").is_symlink()
    assert (scratch / "etc/edged/edged.yaml").exists()
    assert (scratch / "etc/edged/api-key").read_text() == KEY
    assert "kept" in result.stdout

    purge = install(source, scratch, "--uninstall", "--purge")
    assert purge.returncode == 0, purge.stderr
    assert not (scratch / "etc/edged").exists()
    assert "edged:" not in (scratch / "etc/passwd").read_text()
    assert (scratch / "etc/group").read_text() == GROUPS
