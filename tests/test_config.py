"""The config model: defaults, the shipped file, and every kind of bad input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edged import config
from edged.config import Config, ConfigError, load, parse

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "edged.yaml"
FAKE_KEY = "sk-proj-Abc123def456ghi789jkl012mno345"


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse(textwrap.dedent(text), "edged.yaml")
    return [(p.line, p.key, p.reason) for p in info.value.problems]


def test_shipped_file_loads_and_equals_defaults() -> None:
    cfg = load(SHIPPED)
    # The documented file states every default: loading it must give the built-in defaults.
    assert cfg == Config()
    assert cfg.source == str(SHIPPED)


def test_shipped_file_documents_every_key() -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    import dataclasses

    def walk(obj: object, section: dict[str, object], prefix: str) -> None:
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]
            if f.name == "source":
                continue
            assert f.name in section, f"{prefix}{f.name} is not in config/edged.yaml"
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                sub = section[f.name]
                assert isinstance(sub, dict)
                walk(value, sub, f"{prefix}{f.name}.")

    walk(Config(), data, "")


def test_minimal_file_is_valid() -> None:
    cfg = parse("realtime:\n  provider: openai\n  model: gpt-realtime-mini\n")
    assert cfg.realtime.model == "gpt-realtime-mini"
    assert cfg.audio.frame_ms == 50 and cfg.audio.output_period_ms == 20
    assert cfg.conversation.min_utterance_ms == 100


def test_values_are_typed_and_frozen() -> None:
    cfg = parse("audio:\n  volume: 2\n  input_rate: 48000\nrealtime:\n  max_output_tokens: 512\n")
    assert cfg.audio.volume == 2.0 and isinstance(cfg.audio.volume, float)
    assert cfg.audio.input_rate == 48000
    assert cfg.realtime.max_output_tokens == 512
    with pytest.raises(AttributeError):
        cfg.audio.volume = 1.0  # type: ignore[misc]


def test_azure_preview_api_version_keeps_text() -> None:
    cfg = parse(
        "realtime:\n  provider: azure\n  azure_resource: myres\n  deployment: rt\n"
        "  api_version: 2024-10-01-preview\n"
    )
    assert cfg.realtime.api_version == "2024-10-01-preview"


# (yaml text, expected line, expected dotted key, a fragment of the reason)
BAD: list[tuple[str, str, int, str, str]] = [
    ("syntax", "audio:\n  frame_ms: [20\n", 3, "", "YAML syntax error"),
    ("tab indent", "audio:\n\tframe_ms: 20\n", 2, "", "YAML syntax error"),
    ("unknown section", "audoi:\n  frame_ms: 20\n", 1, "audoi", "did you mean 'audio'"),
    ("unknown key", "audio:\n  frame_ms: 20\n  prerol_ms: 300\n", 3, "audio.prerol_ms",
     "did you mean 'preroll_ms'"),
    ("unknown key no match", "link:\n  zzz: 1\n", 2, "link.zzz", "known keys"),
    ("wrong type int", "audio:\n  frame_ms: twenty\n", 2, "audio.frame_ms", "expected an integer"),
    ("float for int", "audio:\n  frame_ms: 20.5\n", 2, "audio.frame_ms", "expected an integer"),
    ("bool for int", "audio:\n  preroll_ms: true\n", 2, "audio.preroll_ms", "expected an integer"),
    ("wrong type bool", "audio:\n  half_duplex: maybe\n", 2, "audio.half_duplex", "true or false"),
    ("wrong type str", "realtime:\n  voice: 7\n", 2, "realtime.voice", "expected a string"),
    ("list for scalar", "realtime:\n  model:\n    - a\n", 3, "realtime.model", "got a list"),
    ("mapping for scalar", "audio:\n  volume:\n    x: 1\n", 3, "audio.volume", "got a mapping"),
    ("scalar for section", "audio: loud\n", 1, "audio", "must be a mapping"),
    ("list for section", "link:\n  - 1\n", 2, "link", "must be a mapping"),
    ("out of range low", "audio:\n  frame_ms: 5\n", 2, "audio.frame_ms", "out of range"),
    ("out of range high", "audio:\n  volume: 9.5\n", 2, "audio.volume", "out of range"),
    ("negative", "link:\n  backoff_cap_s: -1\n", 2, "link.backoff_cap_s", "out of range"),
    ("nan", "audio:\n  volume: .nan\n", 2, "audio.volume", "finite"),
    ("below server minimum", "conversation:\n  min_utterance_ms: 50\n", 2,
     "conversation.min_utterance_ms", "out of range"),
    ("bad enum", "realtime:\n  provider: google\n", 2, "realtime.provider", "'openai'"),
    ("bad nested enum", "realtime:\n  turn_detection:\n    type: push\n", 3,
     "realtime.turn_detection.type", "'semantic_vad'"),
    ("bad rate word", "audio:\n  input_rate: fast\n", 2, "audio.input_rate", "'auto'"),
    ("null for bool", "controls:\n  enabled:\n", 2, "controls.enabled", "nothing (null)"),
    ("duplicate key", "realtime:\n  voice: alloy\n  voice: echo\n", 3, "realtime.voice",
     "duplicate key (first set on line 2)"),
    ("duplicate section", "audio:\n  volume: 1\naudio:\n  volume: 2\n", 3, "audio",
     "duplicate key"),
    ("literal api key", f"realtime:\n  api_key: {FAKE_KEY}\n", 2, "realtime.api_key",
     "credentials.credential"),
    ("key in a value", f"credentials:\n  env: {FAKE_KEY}\n", 2, "credentials.env",
     "looks like an API key"),
    ("azure without resource", "realtime:\n  provider: azure\n", 2, "realtime.azure_resource",
     "required when provider is 'azure'"),
    ("azure resource as url", "realtime:\n  provider: azure\n  azure_resource: https://x.y\n", 3,
     "realtime.azure_resource", "resource name only"),
    ("custom without url", "realtime:\n  provider: custom\n", 2, "realtime.url",
     "required when provider is 'custom'"),
    ("bad url scheme", "realtime:\n  provider: custom\n  url: http://x\n", 3, "realtime.url",
     "ws:// or wss://"),
    ("openai beta", "realtime:\n  dialect: beta\n", 2, "realtime.dialect", "retired"),
    ("warning above critical", "health:\n  memory_warning_mb: 120\n", 2,
     "health.memory_warning_mb", "must not be above memory_critical_mb"),
    ("uptime levels reversed", "health:\n  uptime_warning_pct: 90\n", 2,
     "health.uptime_warning_pct", "must not be below"),
    ("backoff base above cap", "link:\n  backoff_base_s: 10\n  backoff_cap_s: 5\n", 2,
     "link.backoff_base_s", "backoff_cap_s"),
    ("pin reused", "controls:\n  ptt_pin: 17\n  wake_pin: 17\n", 3, "controls.wake_pin",
     "already used by ptt_pin"),
    ("no credential source", "credentials:\n  credential: null\n  key_file: null\n  env: null\n",
     2, "credentials.credential", "at least one"),
    ("empty string", "realtime:\n  model: ''\n", 2, "realtime.model", "must not be empty"),
    ("non-string key", "audio:\n  20: x\n", 2, "audio.20", "keys must be names"),
    ("top-level list", "- a\n- b\n", 1, "", "must be a mapping"),
    ("empty file", "", 1, "", "the file is empty"),
    ("comments only", "# nothing here\n", 1, "", "the file is empty"),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"),
                         [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_names_line_and_key(text: str, line: int, key: str, reason: str) -> None:
    found = problems(text)
    assert any(ln == line and k == key and reason in r for ln, k, r in found), found


def test_all_problems_reported_at_once_in_line_order() -> None:
    found = problems("""\
        audio:
          frame_ms: 5
          volume: loud
        realtime:
          vocie: echo
        link:
          ping_timeout_s: 0
        """)
    assert [(ln, k) for ln, k, _ in found] == [
        (2, "audio.frame_ms"), (3, "audio.volume"), (5, "realtime.vocie"),
        (7, "link.ping_timeout_s"),
    ]


def test_secret_never_echoed() -> None:
    text = f"realtime:\n  voice: {FAKE_KEY}\n  model: {FAKE_KEY}\n  api_key: {FAKE_KEY}\n"
    with pytest.raises(ConfigError) as info:
        parse(text, "edged.yaml")
    assert len(info.value.problems) == 3
    assert FAKE_KEY not in str(info.value)
    assert FAKE_KEY[:12] not in str(info.value)


def test_error_format_is_path_line_key_reason() -> None:
    with pytest.raises(ConfigError) as info:
        parse("audio:\n  frame_ms: 5\n", "/etc/edged/edged.yaml")
    assert str(info.value).startswith("/etc/edged/edged.yaml:2: audio.frame_ms: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"audio:\n  input_device: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load(p)
    assert info.value.problems[0].line == 2 and "UTF-8" in info.value.problems[0].reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file, so no permission error")
def test_unreadable(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("audio: {}\n")
    p.chmod(0)
    with pytest.raises(ConfigError, match="permission denied"):
        load(p)


def test_unreadable_as_another_user(tmp_path: Path) -> None:
    """As root, reach the permission path by dropping to nobody in a forked child."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch user; test_unreadable covers non-root runs")
    p = tmp_path / "x.yaml"
    p.write_text("audio: {}\n")
    p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    tmp_path.chmod(0o755)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                load(p)
                msg = "loaded"
            except ConfigError as exc:
                msg = str(exc)
            os.write(w, msg.encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        out = f.read()
    assert out == f"{p}: permission denied (is it readable by the user edged runs as?)"


def test_default_path_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGED_CONFIG", "/tmp/elsewhere.yaml")
    assert config.default_path() == "/tmp/elsewhere.yaml"
    monkeypatch.delenv("EDGED_CONFIG")
    assert config.default_path() == "/etc/edged/edged.yaml"


# ----------------------------------------------------------------- property-based

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["auto", "inf", "openai", "azure", "none", FAKE_KEY]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)


def _schema_paths() -> list[tuple[str, ...]]:
    import dataclasses

    out: list[tuple[str, ...]] = []

    def walk(obj: object, prefix: tuple[str, ...]) -> None:
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]
            if f.name == "source":
                continue
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, (*prefix, f.name))
            else:
                out.append((*prefix, f.name))

    walk(Config(), ())
    return out


PATHS = _schema_paths()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), _values), max_size=6))
def test_any_value_at_any_key_gives_config_or_error(
    assignments: list[tuple[tuple[str, ...], object]],
) -> None:
    doc: dict[str, object] = {}
    for path, value in assignments:
        node = doc
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                break
            node = nxt
        else:
            node[path[-1]] = value
    text = yaml.safe_dump(doc)
    try:
        cfg = parse(text, "p.yaml")
    except ConfigError as exc:
        assert exc.problems
        assert FAKE_KEY not in str(exc)
        for p in exc.problems:
            assert p.path == "p.yaml"
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_gives_config_or_error(text: str) -> None:
    try:
        parse(text, "p.yaml")
    except ConfigError as exc:
        assert exc.problems


@settings(max_examples=200, deadline=None)
@given(_values)
def test_arbitrary_yaml_documents(value: object) -> None:
    text = yaml.safe_dump(value)
    try:
        parse(text, "p.yaml")
    except ConfigError as exc:
        assert exc.problems


# ----------------------------------------------------------------- CLI


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO, check=False)


def test_cli_check_config_ok() -> None:
    r = run_cli("check-config", str(SHIPPED))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{SHIPPED}: ok")


def test_cli_check_config_errors_exit_2_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "edged.yaml"
    p.write_text(f"audio:\n  frame_ms: 5\nrealtime:\n  api_key: {FAKE_KEY}\n")
    r = run_cli("check-config", str(p))
    assert r.returncode == 2
    assert f"{p}:2: audio.frame_ms:" in r.stderr
    assert f"{p}:4: realtime.api_key:" in r.stderr
    assert "Traceback" not in r.stderr and FAKE_KEY not in r.stderr + r.stdout


def test_cli_check_config_env_default(tmp_path: Path) -> None:
    r = run_cli("check-config", env={"EDGED_CONFIG": str(tmp_path / "missing.yaml")})
    assert r.returncode == 2 and "missing.yaml: no such file" in r.stderr


def test_cli_version_and_help() -> None:
    from edged import __version__

    assert run_cli("--version").stdout.strip() == f"edged {__version__}"
    r = run_cli("--help")
    assert r.returncode == 0 and "check-config" in r.stdout
    assert run_cli().returncode == 2


def test_changed_keys_names_each_dotted_key_that_differs() -> None:
    from edged.config import changed_keys

    old = config.parse("audio:\n  volume: 1.0\nrealtime:\n  voice: alloy\n")
    new = config.parse("audio:\n  volume: 0.5\n  half_duplex: true\nrealtime:\n  voice: echo\n"
                       "  turn_detection:\n    eagerness: low\n")
    assert changed_keys(old, new) == ["audio.volume", "audio.half_duplex", "realtime.voice",
                                      "realtime.turn_detection.eagerness"]
    assert changed_keys(old, old) == []
