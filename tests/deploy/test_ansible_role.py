"""The Ansible role in deploy/ansible, run for real with ansible-playbook against this
machine (``-c local``) into a scratch root, and scripts/wheelhouse, which builds what
it installs.

The wheelhouse is built by the real script from a copy of the checkout; the wheels of
edged's dependencies come from this test environment's own installs (tests/deploy/
wheels.py), since the tests may not reach PyPI. The role runs with
``edged_service_manager: marker``: there is no systemd as PID 1 here, so its handlers
append "reload" or "restart" to a file instead of calling systemctl, and the tests
read that file. Everything else (the venv per version, pip --no-index, the template
validated by ``edged check-config``, the root-only key, the unit, the links) is what
a speaker gets. The steps run once, in order, as a rollout would; each test checks
one of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import wheels

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "sk-test-Q7w3ErT9yU1iO5pA8sD2fG6hJ4kL0zX"
NEW_KEY = "sk-test-N3wK3yR0t4t3dZ9xC8vB7nM6aS5dF4g"
BAD_KEY = "sk-test-Sp4ced Out9Key7Zq2Wx5Ec8Rv"  # two tokens: a paste gone wrong
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE = TEXTFILE_DIR + "/edged.prom"
NEXT = "0.1.0+next"  # the second build in the wheelhouse: an upgrade, then rolled back


def build_python() -> str | None:
    """/usr/bin/python3 with what scripts/wheelhouse builds edged's wheel with and
    the role makes venvs with (Debian: python3-pip, python3-setuptools, python3-wheel,
    python3-venv)."""
    ok = Path("/usr/bin/python3").exists() and subprocess.run(
        ["/usr/bin/python3", "-c", "import setuptools, wheel, venv, ensurepip, pip"],
        capture_output=True, check=False).returncode == 0
    return "/usr/bin/python3" if ok else None


PYTHON = build_python()
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the role writes files owned by root "
                       "(owner: root, as on a speaker), which needs root"),
    pytest.mark.skipif(PYTHON is None, reason="needs /usr/bin/python3 with pip, setuptools, "
                       "wheel and venv (Debian: python3-pip python3-setuptools python3-wheel "
                       "python3-venv)"),
    pytest.mark.skipif(not (BIN / "ansible-playbook").exists(),
                       reason="needs ansible-core in the test venv (pyproject's test extra)"),
    # The module's fixtures run eleven playbooks (about 2 minutes on 2 busy cores), all
    # counted in the first test's time.
    pytest.mark.timeout(900),
]


def clean_env(home: Path) -> dict[str, str]:
    """No pip configuration, PYTHON* or ANSIBLE_* variable of this machine leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "ANSIBLE_"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}", HOME=str(home),
        PIP_CONFIG_FILE=os.devnull, PYTHONWARNINGS="ignore",
        ANSIBLE_HOME=str(home / "ansible"), ANSIBLE_LOCAL_TEMP=str(home / "ansible-local"),
        ANSIBLE_REMOTE_TMP=str(home / "ansible-remote"), ANSIBLE_NOCOLOR="1",
    )
    return env


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the role and the script read, copied: others editing the tree meanwhile
    cannot change what a later step sees."""
    src = tmp_path_factory.mktemp("checkout")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ansible")
    for name in ("edged", "systemd", "deploy"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "scripts/wheelhouse"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    return src


def wheelhouse_script(checkout: Path, out: Path, deps: Path, home: Path,
                      *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(checkout / "scripts" / "wheelhouse"), "--out", str(out),
           "--python", str(PYTHON), *args, "--", "--no-index", "--find-links", str(deps)]
    return subprocess.run(cmd, capture_output=True, text=True, env=clean_env(home),
                          timeout=300, check=False)


@dataclass
class Wheelhouse:
    out: Path            # --out
    tag: Path            # the one subdirectory: this machine and Python
    deps: Path           # the dependency wheels it was built from


@pytest.fixture(scope="module")
def wheelhouse(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    deps = tmp_path_factory.mktemp("deps")
    for dist in wheels.dependency_closure("edged"):
        wheels.repack(dist, deps)
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("wheelhouse")
    first = wheelhouse_script(checkout, out, deps, home)
    assert first.returncode == 0, first.stdout + first.stderr
    nxt = wheelhouse_script(checkout, out, deps, home, "--local-version", "next")
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    [tag] = out.iterdir()
    return Wheelhouse(out, tag, deps)


@dataclass
class Step:
    """One ansible-playbook run and what it left."""
    result: subprocess.CompletedProcess[str]
    marker: list[str]
    config: bytes
    key: bytes
    dropin: str | None = None  # the unit's prometheus.conf drop-in, if there is one

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    @property
    def changed(self) -> int:
        m = re.search(r"^localhost\s*:.*\bchanged=(\d+)", self.result.stdout, re.MULTILINE)
        assert m, self.output
        return int(m.group(1))

    def task(self, name: str) -> str:
        """The first line of a task's result: ok, changed, skipping or fatal."""
        m = re.search(r"^TASK \[edged : " + re.escape(name) + r"\].*\n(\w+)",
                      self.result.stdout, re.MULTILINE)
        assert m, f"no task {name!r} in:\n{self.output}"
        return m.group(1)

    def items(self, name: str) -> list[str]:
        """The loop items a task ran for."""
        m = re.search(r"^TASK \[edged : " + re.escape(name) + r"\][^\n]*\n(.*?)^(?:TASK|PLAY) ",
                      self.result.stdout, re.MULTILINE | re.DOTALL)
        assert m, f"no task {name!r} in:\n{self.output}"
        return re.findall(r"^\w+: \[localhost\] => \(item=(.+)\)$", m.group(1), re.MULTILINE)


@dataclass
class Rollout:
    root: Path
    steps: dict[str, Step]


def playbook(checkout: Path, root: Path, home: Path, **overrides: Any) -> Step:
    """site.yml, as shipped, on an inventory of this machine."""
    inventory = home / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"speakers": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    extra: dict[str, Any] = {
        "edged_root": str(root), "edged_service_manager": "marker",
        "edged_python": PYTHON, "edged_version": "0.1.0", "edged_api_key": KEY,
        "edged_config": {}, **overrides}
    (home / "vars.json").write_text(json.dumps(extra))
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "--diff",
         "-e", f"@{home / 'vars.json'}", str(checkout / "deploy/ansible/site.yml")],
        capture_output=True, text=True, env=clean_env(home), cwd=home, timeout=600,
        check=False)
    marker = root / "edged-service-actions"
    dropin = root / "etc/systemd/system/edged.service.d/prometheus.conf"
    return Step(result, marker.read_text().split() if marker.exists() else [],
                (root / "etc/edged/edged.yaml").read_bytes()
                if (root / "etc/edged/edged.yaml").exists() else b"",
                (root / "etc/edged/api-key").read_bytes()
                if (root / "etc/edged/api-key").exists() else b"",
                dropin.read_text() if dropin.exists() else None)


@pytest.fixture(scope="module")
def rollout(checkout: Path, wheelhouse: Wheelhouse,
            tmp_path_factory: pytest.TempPathFactory) -> Rollout:
    """Every step, in the order an admin would take them, each run once."""
    root = tmp_path_factory.mktemp("speaker")
    for system_dir in ("etc/systemd/system", "usr/local/bin"):  # there on any Debian
        (root / system_dir).mkdir(parents=True)
    home = tmp_path_factory.mktemp("controller")
    common = {"edged_wheelhouse": str(wheelhouse.out)}
    steps: dict[str, Step] = {}
    steps["first"] = playbook(checkout, root, home, **common)
    steps["second"] = playbook(checkout, root, home, **common)
    steps["bad"] = playbook(checkout, root, home, **common,
                            edged_config={"realtime": {"vocie": "coral", "speed": 9}})
    steps["bad_key"] = playbook(checkout, root, home, **common, edged_api_key=BAD_KEY)
    steps["config"] = playbook(checkout, root, home, **common,
                               edged_config={"realtime": {"voice": "coral"}})

    steps["key"] = playbook(checkout, root, home, **common, edged_api_key=NEW_KEY,
                            edged_config={"realtime": {"voice": "verse"}})
    steps["upgrade"] = playbook(checkout, root, home, **common, edged_api_key=NEW_KEY,
                                edged_version=NEXT, edged_config={"realtime": {"voice": "verse"}})
    steps["rollback"] = playbook(checkout, root, home, **common, edged_api_key=NEW_KEY,
                                 edged_config={"realtime": {"voice": "verse"}})
    steps["textfile"] = playbook(checkout, root, home, **common, edged_api_key=NEW_KEY,
                                 edged_config={"realtime": {"voice": "verse"},
                                               "health": {"prometheus_textfile": TEXTFILE}})
    steps["no_textfile"] = playbook(checkout, root, home, **common, edged_api_key=NEW_KEY,
                                    edged_config={"realtime": {"voice": "verse"}})
    return Rollout(root, steps)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def edged_version(root: Path) -> str:
    """What the edged on the speaker's PATH says it is."""
    out = subprocess.run([str(root / "usr/local/bin/edged"), "--version"],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


# ----------------------------------------------------------------------------- the wheelhouse


def test_the_wheelhouse_locks_edged_and_every_dependency(wheelhouse: Wheelhouse) -> None:
    python = subprocess.run([str(PYTHON), "-c", "import sys; print(*sys.version_info[:2])"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert wheelhouse.tag.name == f"{os.uname().machine}-cp{''.join(python)}"
    lock = (wheelhouse.tag / "requirements-0.1.0.txt").read_text().splitlines()
    pins = [line for line in lock if line and not line.startswith("#")]
    assert pins[0] == "edged===0.1.0"  # not ==, which 0.1.0+next would also satisfy
    wanted = {wheels.normalise(d.metadata["Name"]): d.version
              for d in wheels.dependency_closure("edged")}
    locked = dict(pin.split("===") for pin in pins[1:])
    assert {wheels.normalise(k): v for k, v in locked.items()} == wanted
    for name, version in locked.items():  # each pin has its wheel beside it
        stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}-".lower()
        assert any(w.name.lower().startswith(stem) for w in wheelhouse.tag.glob("*.whl")), name
    assert (wheelhouse.tag / f"edged-{NEXT}-py3-none-any.whl").is_file()
    assert (wheelhouse.tag / f"requirements-{NEXT}.txt").read_text().count(f"edged==={NEXT}") == 1


def test_the_same_sources_rebuild_to_the_same_wheel(
        checkout: Path, wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    wheel = wheelhouse.tag / "edged-0.1.0-py3-none-any.whl"
    lock = wheelhouse.tag / "requirements-0.1.0.txt"
    before = wheel.read_bytes(), lock.read_text()
    again = wheelhouse_script(checkout, wheelhouse.out, wheelhouse.deps, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    # 0.1.0+next is in the wheelhouse by now, and it too is "==0.1.0": still locked out
    assert (wheel.read_bytes(), lock.read_text()) == before


def test_a_version_rebuilt_from_other_sources_is_refused(
        checkout: Path, wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(checkout, changed)
    with (changed / "edged/__init__.py").open("a") as f:
        f.write("# a change that keeps the version number\n")
    wheel = wheelhouse.tag / "edged-0.1.0-py3-none-any.whl"
    before = wheel.read_bytes()
    result = wheelhouse_script(changed, wheelhouse.out, wheelhouse.deps, tmp_path)
    assert result.returncode == 1
    assert "edged 0.1.0 is already in" in result.stderr
    assert "--local-version" in result.stderr
    assert "Traceback" not in result.stderr
    assert wheel.read_bytes() == before


# ----------------------------------------------------------------------------- the role


def test_the_first_run_installs_everything(rollout: Rollout, checkout: Path) -> None:
    first = rollout.steps["first"]
    assert first.result.returncode == 0, first.output
    root = rollout.root
    conf = root / "etc/edged/edged.yaml"
    key = root / "etc/edged/api-key"
    unit = root / "etc/systemd/system/edged.service"
    base = yaml.safe_load((checkout / "deploy/ansible/roles/edged/defaults/main.yml")
                          .read_text())["edged_config_base"]
    assert yaml.safe_load(first.config) == base
    assert first.key == KEY.encode()
    assert (mode(key), key.stat().st_uid, key.stat().st_gid) == (0o600, 0, 0)
    assert mode(conf) == 0o644
    assert mode(root / "etc/edged") == mode(root / "opt/edged") == 0o755
    assert unit.read_bytes() == (checkout / "systemd/edged.service").read_bytes()
    assert mode(unit) == 0o644
    assert os.readlink(root / "opt/edged/venv") == str(root / "opt/edged/venvs/0.1.0")
    assert os.readlink(root / "usr/local/bin/edged") == str(root / "opt/edged/venv/bin/edged")
    lock = (rollout.root / "opt/edged/wheelhouse/requirements-0.1.0.txt").read_text()
    assert len(first.items("Copy the lock and the missing wheels, edged 0.1.0")) == (
        1 + lock.count("# wheel: "))
    assert first.marker == ["restart"]  # a new install restarts; the reload it also asked
                                        # for is covered by the restart


def test_the_installed_config_passes_the_installed_check(rollout: Rollout) -> None:
    root = rollout.root
    check = subprocess.run([str(root / "usr/local/bin/edged"), "check-config",
                            str(root / "etc/edged/edged.yaml")],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    assert "ok" in check.stdout


def test_the_key_never_appears_in_the_output(rollout: Rollout) -> None:
    for name, step in rollout.steps.items():
        for key in (KEY, NEW_KEY, *BAD_KEY.split()):
            assert key not in step.output, name
            assert key.removeprefix("sk-") not in step.output, name


def test_a_second_run_changes_nothing(rollout: Rollout) -> None:
    second = rollout.steps["second"]
    assert second.result.returncode == 0, second.output
    assert second.changed == 0, second.output
    assert second.marker == ["restart"]


def test_a_bad_override_is_refused_by_edged_and_the_old_file_stays(rollout: Rollout) -> None:
    bad = rollout.steps["bad"]
    assert bad.result.returncode != 0
    # edged's own PATH:LINE: key: reason lines, for the rendered file
    assert re.search(r"\.yaml:\d+: realtime\.vocie: unknown key; did you mean 'voice'\?",
                     bad.output), bad.output
    assert re.search(r"\.yaml:\d+: realtime\.speed: 9\.0 is out of range \(0\.25 to 1\.5\)",
                     bad.output), bad.output
    assert bad.config == rollout.steps["second"].config
    assert bad.marker == ["restart"]


def test_a_key_with_a_space_is_refused_before_anything_changes(rollout: Rollout) -> None:
    step = rollout.steps["bad_key"]
    assert step.result.returncode != 0
    assert "edged_api_key contains spaces" in step.output
    assert step.key == KEY.encode()
    assert step.marker == ["restart"]


def test_a_config_change_reloads_once_and_does_not_restart(rollout: Rollout) -> None:
    step = rollout.steps["config"]
    assert step.result.returncode == 0, step.output
    assert yaml.safe_load(step.config)["realtime"]["voice"] == "coral"
    assert step.marker == ["restart", "reload"]


def test_a_prometheus_textfile_opens_its_directory_with_a_drop_in(rollout: Rollout) -> None:
    """ProtectSystem=strict: the sandbox changes, so edged restarts; the key's removal
    takes the drop-in away again."""
    before, step, gone = (rollout.steps[k] for k in ("rollback", "textfile", "no_textfile"))
    assert step.result.returncode == 0, step.output
    assert yaml.safe_load(step.config)["health"]["prometheus_textfile"] == TEXTFILE
    assert step.dropin == "# Written by Ansible (role edged) from " \
        "health.prometheus_textfile.\n[Service]\nReadWritePaths=-" + TEXTFILE_DIR + "\n"
    assert step.marker[len(before.marker):] == ["restart"]  # the restart covers the reload
    assert gone.result.returncode == 0, gone.output
    assert gone.dropin is None and gone.marker[len(step.marker):] == ["restart"]


def test_a_new_key_restarts_and_the_restart_covers_the_reload(rollout: Rollout) -> None:
    """LoadCredential= copies the key at start only: a new one needs a restart. The
    config changed in the same run, and its reload is not done on top."""
    step = rollout.steps["key"]
    assert step.result.returncode == 0, step.output
    assert step.key == NEW_KEY.encode()
    assert mode(rollout.root / "etc/edged/api-key") == 0o600
    assert yaml.safe_load(step.config)["realtime"]["voice"] == "verse"
    assert step.marker == ["restart", "reload", "restart"]


def test_an_upgrade_gets_its_own_venv_and_restarts(rollout: Rollout) -> None:
    step = rollout.steps["upgrade"]
    assert step.result.returncode == 0, step.output
    assert step.marker == ["restart", "reload", "restart", "restart"]
    assert step.task(f"Install into its own venv, edged {NEXT}") == "changed"
    # the speaker has every dependency already: only the new lock and edged travel
    assert sorted(step.items(f"Copy the lock and the missing wheels, edged {NEXT}")) == [
        f"edged-{NEXT}-py3-none-any.whl", f"requirements-{NEXT}.txt"]
    assert (rollout.root / f"opt/edged/venvs/{NEXT}/bin/edged").exists()


def test_a_rollback_switches_back_without_installing(rollout: Rollout) -> None:
    step = rollout.steps["rollback"]
    assert step.result.returncode == 0, step.output
    assert step.marker == ["restart", "reload", "restart", "restart", "restart"]
    assert step.task("Install into its own venv, edged 0.1.0") == "skipping"
    root = rollout.root
    assert os.readlink(root / "opt/edged/venv") == str(root / "opt/edged/venvs/0.1.0")
    assert edged_version(root) == "edged 0.1.0"
    # the version rolled back from stays, for the next attempt
    nxt = subprocess.run([str(root / f"opt/edged/venvs/{NEXT}/bin/edged"), "--version"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert nxt.stdout.strip() == f"edged {NEXT}"


# ----------------------------------------------------------------------------- the role's code


def test_the_role_uses_ansible_builtin_modules_only(checkout: Path) -> None:
    keywords = {"name", "when", "loop", "register", "notify", "listen", "no_log", "diff",
                "changed_when", "check_mode", "block", "vars", "tags", "become"}
    role = checkout / "deploy/ansible/roles/edged"

    def modules(tasks: list[dict[str, Any]]) -> Iterator[str]:
        for task in tasks:
            if "block" in task:
                yield from modules(task["block"])
            yield from (k for k in task if k not in keywords)

    used = {m for f in [*role.glob("tasks/*.yml"), role / "handlers/main.yml"]
            for m in modules(yaml.safe_load(f.read_text()))}
    assert used, "no tasks found"
    assert all(m.startswith("ansible.builtin.") for m in used), used


def test_ansible_lint_passes_with_the_production_profile(checkout: Path, tmp_path: Path) -> None:
    project = checkout / "deploy/ansible"
    lint = tmp_path / "ansible"
    shutil.copytree(project, lint)  # ansible-lint leaves its cache in the project
    result = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--profile", "production"],
                            capture_output=True, text=True, cwd=lint, env=clean_env(tmp_path),
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr
