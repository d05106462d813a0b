"""The configuration model: one YAML file → frozen, typed dataclasses.

Every field has a default, so a file that names only the provider and model is
valid. Validation is written for people editing over SSH: every problem in the
file is reported at once as ``PATH:LINE: dotted.key: reason``, and no value that
looks like a secret is ever echoed back.

The schema is the dataclasses themselves: field types drive the checks, and a
field's ``metadata`` carries its range (``lo``/``hi``) and choices. Adding a key
means adding a field; the loader, the error messages and the tests follow.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

DEFAULT_PATH = "/etc/edged/edged.yaml"


def default_path() -> str:
    """``$EDGED_CONFIG`` if set, else the system path the unit uses."""
    return os.environ.get("EDGED_CONFIG") or DEFAULT_PATH


def _f(default: Any, lo: float | None = None, hi: float | None = None) -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi})


# --------------------------------------------------------------------------- model

Provider = Literal["openai", "azure", "custom"]
Dialect = Literal["ga", "beta", "auto"]
AuthHeader = Literal["auto", "bearer", "api-key"]
TurnDetectionType = Literal["server_vad", "semantic_vad", "none"]
Eagerness = Literal["low", "medium", "high", "auto"]
NoiseReduction = Literal["near_field", "far_field", "none"]
ToolChoice = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class AudioConfig:
    input_device: str | None = None
    output_device: str | None = None
    input_rate: int | Literal["auto"] = _f("auto", 8000, 192000)
    output_rate: int | Literal["auto"] = _f("auto", 8000, 192000)
    input_channels: int | Literal["auto"] = _f("auto", 1, 32)
    output_channels: int | Literal["auto"] = _f("auto", 1, 32)
    frame_ms: int = _f(50, 10, 100)  # the capture period
    output_period_ms: int = _f(20, 10, 100)
    alsa_config: str | None = None
    preroll_ms: int = _f(300, 0, 2000)
    uplink_batch_ms: int = _f(100, 10, 500)
    playback_prebuffer_ms: int = _f(60, 0, 1000)
    playback_max_s: float = _f(120.0, 1, 600)
    volume: float = _f(1.0, 0.0, 4.0)
    half_duplex: bool = False
    sounds: bool = True
    sounds_volume: float = _f(0.3, 0.0, 1.0)
    noise_suppression: int = _f(0, 0, 4)
    auto_gain_dbfs: int = _f(0, 0, 31)
    stall_timeout_s: float = _f(2.0, 0.2, 30)
    reopen_backoff_cap_s: float = _f(10.0, 0.5, 300)
    standby_after_s: float = _f(30.0, 0, 86400)


@dataclass(frozen=True, slots=True)
class ControlsConfig:
    enabled: bool = True
    required: bool = True
    ptt_pin: int | None = _f(17, 0, 53)
    wake_pin: int | None = _f(27, 0, 53)
    led_pin: int | None = _f(None, 0, 53)
    led_pwm: bool = True
    pull_up: bool = True
    bounce_ms: int = _f(30, 0, 1000)
    min_press_ms: int = _f(150, 0, 5000)
    mute_hold_s: float = _f(2.0, 0.5, 30)


@dataclass(frozen=True, slots=True)
class TurnDetectionConfig:
    type: TurnDetectionType = "semantic_vad"
    threshold: float = _f(0.5, 0.0, 1.0)
    prefix_padding_ms: int = _f(300, 0, 5000)
    silence_duration_ms: int = _f(500, 0, 10000)
    eagerness: Eagerness = "auto"


@dataclass(frozen=True, slots=True)
class TranscriptionConfig:
    enabled: bool = False
    model: str = "gpt-4o-mini-transcribe"


@dataclass(frozen=True, slots=True)
class RealtimeConfig:
    provider: Provider = "openai"
    model: str = "gpt-realtime"
    deployment: str | None = None
    azure_resource: str | None = None
    api_version: str | None = None
    url: str | None = None
    dialect: Dialect = "auto"
    auth_header: AuthHeader = "auto"
    voice: str = "alloy"
    instructions: str = (
        "You are a helpful voice assistant on a smart speaker. Answer briefly and clearly."
    )
    language: str | None = None
    speed: float = _f(1.0, 0.25, 1.5)
    turn_detection: TurnDetectionConfig = field(default_factory=TurnDetectionConfig)
    transcription: TranscriptionConfig = field(default_factory=TranscriptionConfig)
    noise_reduction: NoiseReduction = "far_field"
    max_output_tokens: int | Literal["inf"] = _f("inf", 1, 4096)
    tool_choice: ToolChoice = "auto"
    mcp_servers: tuple[McpServerConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkConfig:
    open_timeout_s: float = _f(10.0, 0.5, 120)
    ping_interval_s: float = _f(15.0, 1, 300)
    ping_timeout_s: float = _f(10.0, 1, 300)
    backoff_base_s: float = _f(0.5, 0.01, 60)
    backoff_cap_s: float = _f(30.0, 0.1, 3600)
    healthy_after_s: float = _f(30.0, 1, 3600)
    circuit_threshold: int = _f(8, 1, 1000)
    circuit_reset_s: float = _f(60.0, 1, 3600)
    auth_retry_s: float = _f(900.0, 10, 86400)
    session_renew_min: float = _f(55.0, 1, 59)
    max_message_mb: float = _f(10.0, 1, 64)


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    credential: str | None = "openai-api-key"
    key_file: str | None = "/etc/edged/api-key"
    env: str | None = "OPENAI_API_KEY"
    # set: no API key on the device; a short-lived client secret from this service instead
    token_url: str | None = None
    device_token_credential: str | None = "edged-device-token"
    device_token_file: str | None = "/etc/edged/device-token"
    token_timeout_s: float = _f(10.0, 0.5, 120)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    interval_s: float = _f(60.0, 1, 86400)
    memory_warning_mb: float = _f(80.0, 1, 4096)
    memory_critical_mb: float = _f(100.0, 1, 4096)
    cpu_warning_pct: float = _f(20.0, 0.1, 400)
    cpu_critical_pct: float = _f(30.0, 0.1, 400)
    latency_warning_ms: float = _f(300.0, 1, 60000)
    latency_critical_ms: float = _f(500.0, 1, 60000)
    uptime_warning_pct: float = _f(99.0, 0, 100)
    uptime_critical_pct: float = _f(95.0, 0, 100)
    # None: off; else the file node_exporter's textfile collector reads (*.prom)
    prometheus_textfile: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    follow_up_s: float = _f(8.0, 0, 600)
    max_utterance_s: float = _f(30.0, 1, 600)
    min_utterance_ms: int = _f(100, 100, 5000)
    hold_offline_s: float = _f(30.0, 0, 600)
    responses_per_minute: int = _f(10, 1, 600)
    log_transcripts: bool = False  # what is said in a home stays out of the journal


BUILTIN_TOOL_NAMES = frozenset({
    "get_time", "end_conversation", "set_timer", "set_alarm", "list_timers", "cancel_timer",
    "stop_ringing", "get_volume", "set_volume",
})
"""The speaker's own tools: a configured tool may not take one of these names."""
KILL_GRACE_S = 2.0
"""Beyond a configured tool's own timeout, what its runner is allowed to stop it."""
ParameterType = Literal["string", "integer", "number", "boolean"]
Confirm = Literal["none", "button", "voice"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class ParameterConfig:
    """One argument of a configured tool, as the model sees it (a JSON Schema property)."""

    type: ParameterType = "string"
    description: str | None = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class ToolConfig:
    """What every configured tool has: what the model sees, and who confirms a call."""

    name: str | None = None
    description: str | None = None
    parameters: dict[str, ParameterConfig] = field(default_factory=dict)
    confirm: Confirm = "none"


@dataclass(frozen=True, slots=True)
class CommandToolConfig(ToolConfig):
    """A program run without a shell: the arguments as JSON on stdin, stdout the answer."""

    argv: tuple[str, ...] = ()
    timeout_s: float = _f(10.0, 0.5, 300)
    max_output_kb: int = _f(4, 1, 64)
    memory_mb: int = _f(64, 16, 4096)  # the child's address space
    cpu_s: int = _f(10, 1, 600)  # the child's CPU time
    max_processes: int = _f(8, 1, 256)  # processes the child may start


@dataclass(frozen=True, slots=True)
class HttpToolConfig(ToolConfig):
    """One HTTP request per call: a URL template, headers, a JSON body template."""

    method: HttpMethod = "GET"
    url: str | None = None  # {name} placeholders are URL-encoded arguments
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON; a string "{name}" becomes the argument itself
    token_credential: str | None = None  # bearer token: a systemd credential's name ...
    token_file: str | None = None  # ... or a root-only file
    ca_file: str | None = None
    timeout_s: float = _f(5.0, 0.5, 120)
    max_response_kb: int = _f(16, 1, 1024)
    doctor_arguments: Any = None  # arguments for a request `edged doctor` may send


@dataclass(frozen=True, slots=True)
class McpServerConfig:
    """A remote MCP server the realtime API calls itself (GA dialect only)."""

    server_label: str | None = None
    server_url: str | None = None
    allowed_tools: tuple[str, ...] = ()  # empty: all the server offers
    require_approval: Literal["never", "always"] = "always"
    approve: tuple[str, ...] = ()  # asked to approve: these yes, the rest no
    authorization_credential: str | None = None
    authorization_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolsConfig:
    enabled: bool = True  # false: the model is offered no tools at all
    timeout_s: float = _f(5.0, 0.5, 120)
    state_dir: str | None = None  # None: $STATE_DIRECTORY (systemd), else /var/lib/edged
    timers: bool = True
    max_timers: int = _f(20, 1, 100)
    missed_grace_s: float = _f(600.0, 0, 86400)
    max_ring_s: float = _f(300.0, 5, 3600)
    volume: bool = True
    volume_step: int = _f(10, 1, 50)
    clock: bool = True
    end_conversation: bool = True
    command: tuple[CommandToolConfig, ...] = ()
    http: tuple[HttpToolConfig, ...] = ()
    max_running_commands: int = _f(2, 1, 16)
    confirm_timeout_s: float = _f(8.0, 2, 60)  # confirm: button waits this long for a press

    def call_limit_s(self, tool: CommandToolConfig | HttpToolConfig) -> float:
        """The longest one call of ``tool`` may take: its timeout, the time its runner
        gets to stop it, and a button confirmation's wait."""
        wait = self.confirm_timeout_s if tool.confirm == "button" else 0.0
        return tool.timeout_s + KILL_GRACE_S + wait

    def longest_call_s(self) -> float:
        """The longest any tool may take (the conversation waits that long for a result)."""
        tools: list[CommandToolConfig | HttpToolConfig] = [*self.command, *self.http]
        return max([self.timeout_s, *(self.call_limit_s(t) for t in tools)])


WAKE_WORD_MODELS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
"""The microWakeWord models pymicro-wakeword ships; anything else is a manifest path."""


@dataclass(frozen=True, slots=True)
class WakeWordConfig:
    enabled: bool = False
    model: str = "okay_nabu"  # a shipped model, or the path of a microWakeWord .json manifest
    threshold: float | None = _f(None, 0.01, 0.99)  # None: the model's own cutoff
    refractory_s: float = _f(2.0, 0.0, 60.0)
    # the model rests while the microphone's peaks stay below this; None: it never rests
    rest_below_dbfs: float | None = _f(-55.0, -90.0, -20.0)


@dataclass(frozen=True, slots=True)
class ControlConfig:
    enabled: bool = True
    socket: str = "/run/edged/control.sock"
    group: str | None = None  # None: the daemon's own primary group
    max_line_bytes: int = _f(65536, 1024, 1048576)
    max_clients: int = _f(32, 1, 1024)
    subscriber_queue: int = _f(256, 16, 65536)


@dataclass(frozen=True, slots=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    wake_word: WakeWordConfig = field(default_factory=WakeWordConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    source: str = field(default="<defaults>", compare=False)

    def summary(self) -> str:
        rt = self.realtime
        target = {
            "openai": rt.model,
            "azure": f"{rt.azure_resource or '?'}/{rt.deployment or rt.model}",
            "custom": rt.url or "?",
        }[rt.provider]
        gpio = "gpio on" if self.controls.enabled else "gpio off"
        wake = f", wake word {self.wake_word.model}" if self.wake_word.enabled else ""
        return (
            f"{self.source}: ok — {rt.provider} {target}, voice {rt.voice}, "
            f"turn detection {rt.turn_detection.type}, {gpio}{wake}"
        )


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two configs (or two sections of one),
    for the reload record and ``edged ctl reload``'s reply."""
    out: list[str] = []
    for f in dataclasses.fields(old):
        if not f.compare:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b:
            continue
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            out.extend(changed_keys(a, b, key + "."))
        else:
            out.append(key)
    return out


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int  # 1-based; 0 when the problem is not tied to a line
    key: str
    reason: str

    def __str__(self) -> str:
        loc = f"{self.path}:{self.line}" if self.line else self.path
        return f"{loc}: {self.key}: {self.reason}" if self.key else f"{loc}: {self.reason}"


class ConfigError(Exception):
    """All the problems of one file; ``str()`` is one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# --------------------------------------------------------------------------- loading

_SECRET_RE = re.compile(r"^(sk-[A-Za-z0-9_\-]{16,}|[A-Fa-f0-9]{32}|eyJ[A-Za-z0-9_\-]{20,}\..+)$")
_SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "api-key", "bearer"}
_SECRET_HINT = (
    "API keys do not belong in the config file; use a systemd credential "
    "(credentials.credential), a root-only key file (credentials.key_file) "
    "or an environment variable (credentials.env)"
)


def _looks_secret(value: object) -> bool:
    return isinstance(value, str) and bool(_SECRET_RE.match(value.strip()))


def _show(value: object) -> str:
    """A value as it may appear in a message: short, and never a secret."""
    if _looks_secret(value):
        return "<redacted>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


class _Loader:
    """Builds dataclasses from a composed YAML node tree, collecting problems."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.problems: list[Problem] = []
        self._yaml: yaml.SafeLoader | None = None

    def problem(self, node: yaml.Node | None, key: str, reason: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.path, line, key, reason))

    def load(self) -> Config:
        try:
            self._yaml = yaml.SafeLoader(self.text)
            root = self._yaml.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 0
            what = exc.problem or exc.context or "invalid YAML"
            problem = Problem(self.path, line, "", f"YAML syntax error: {what}")
            raise ConfigError([problem]) from None
        except yaml.reader.ReaderError as exc:  # a control character, for example
            line = self.text[: max(exc.position, 0)].count("\n") + 1
            problem = Problem(self.path, line, "", f"character {exc.character!r} is not "
                              "allowed in YAML (a control character?)")
            raise ConfigError([problem]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([Problem(self.path, 0, "", f"YAML error: {exc}")]) from None
        finally:
            if self._yaml is not None:
                self._yaml.dispose()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.value.strip() == ""):
            reason = "the file is empty; it needs at least a 'realtime:' section"
            raise ConfigError([Problem(self.path, 1, "", reason)])
        config: Config = self.build(Config, root, "")
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda p: p.line))
        return dataclasses.replace(config, source=self.path)

    # -- mapping → dataclass

    def build(self, cls: type[Any], node: yaml.Node, prefix: str) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
        if not isinstance(node, yaml.MappingNode):
            where = prefix or "the file"
            self.problem(node, prefix, f"{where} must be a mapping of keys to values, "
                         f"not {self._node_kind(node)}")
            return cls()
        values: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            key = self.scalar(knode)
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if not isinstance(key, str):
                self.problem(knode, dotted, "keys must be names (strings)")
                continue
            line = knode.start_mark.line + 1
            if key in seen:
                self.problem(knode, dotted, f"duplicate key (first set on line {seen[key]}); "
                             "YAML would silently keep only the last one")
                continue
            seen[key] = line
            if key not in fields:
                self.unknown(knode, vnode, dotted, key, list(fields))
                continue
            f = fields[key]
            values[key] = self.value(hints[key], f, vnode, dotted)
        try:
            obj = cls(**{k: v for k, v in values.items() if v is not _INVALID})
        except TypeError:  # pragma: no cover - guarded by field checks above
            return cls()
        self.cross_check(obj, node, prefix, seen)
        return obj

    def unknown(self, knode: yaml.Node, vnode: yaml.Node, dotted: str, key: str,
                known: list[str]) -> None:
        if key.lower() in _SECRET_KEYS:
            self.problem(knode, dotted, _SECRET_HINT)
            return
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{near[0]}'?" if near else f"; known keys: {', '.join(known)}"
        self.problem(knode, dotted, f"unknown key{hint}")

    # -- one value

    def value(self, tp: Any, f: dataclasses.Field[Any], node: yaml.Node, dotted: str) -> Any:
        if dataclasses.is_dataclass(tp) or get_origin(tp) in (tuple, dict) or tp is Any:
            return self.structured(tp, f, node, dotted)
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, dotted, f"expected {self.describe(tp)}, got "
                         f"{self._node_kind(node)}")
            return _INVALID
        raw = self.scalar(node)
        if _looks_secret(raw):
            self.problem(node, dotted, "this looks like an API key. " + _SECRET_HINT)
            return _INVALID
        ok, val = self.coerce(tp, raw)
        if not ok:
            got = f"{_kind(raw)} {_show(raw)}" if raw is not None else "nothing (null)"
            self.problem(node, dotted, f"expected {self.describe(tp)}, got {got}")
            return _INVALID
        wrong = _out_of_bounds(tp, f, raw, val)
        if wrong:
            self.problem(node, dotted, wrong)
            return _INVALID
        return val

    def structured(self, tp: Any, f: dataclasses.Field[Any], node: yaml.Node,
                   dotted: str) -> Any:
        """Sections (dataclasses), lists (``tuple[X, ...]``), named entries
        (``dict[str, X]``), plain data (Any)."""
        if dataclasses.is_dataclass(tp):
            return self.build(typing.cast(type[Any], tp), node, dotted)
        origin = get_origin(tp)
        if origin is tuple:
            return self.sequence(get_args(tp)[0], f, node, dotted)
        if origin is dict:
            return self.mapping(get_args(tp)[1], f, node, dotted)
        return self.anything(node, dotted)

    def sequence(self, item: Any, f: dataclasses.Field[Any], node: yaml.Node,
                 dotted: str) -> Any:
        """A YAML list → a tuple; each item checked as ``item`` (``key[0]`` in errors)."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, dotted, f"expected a list, got {self._node_kind(node)}")
            return _INVALID
        out = [self.value(item, f, sub, f"{dotted}[{i}]") for i, sub in enumerate(node.value)]
        return tuple(v for v in out if v is not _INVALID)

    def mapping(self, item: Any, f: dataclasses.Field[Any], node: yaml.Node,
                dotted: str) -> Any:
        """A YAML mapping of names → ``item`` values, as a dict."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, dotted, f"expected a mapping, got {self._node_kind(node)}")
            return _INVALID
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            key = self.scalar(knode)
            if not isinstance(key, str) or not key:
                self.problem(knode, dotted, "keys must be names (strings)")
                continue
            if key in out:
                self.problem(knode, f"{dotted}.{key}", "duplicate key")
                continue
            val = self.value(item, f, vnode, f"{dotted}.{key}")
            if val is not _INVALID:
                out[key] = val
        return out

    def anything(self, node: yaml.Node, dotted: str) -> Any:
        """Any YAML value (a JSON body template): plain data, with no secret in it."""
        assert self._yaml is not None
        try:
            value = self._yaml.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(node, dotted, f"cannot read it: {exc}")
            return _INVALID
        if any(_looks_secret(s) for s in _strings(value)):
            self.problem(node, dotted, "this looks like an API key. " + _SECRET_HINT)
            return _INVALID
        return value

    def coerce(self, tp: Any, raw: object) -> tuple[bool, Any]:  # noqa: PLR0911 - one return per schema type
        origin = get_origin(tp)
        if origin is Literal:
            return (raw in get_args(tp) and isinstance(raw, str)), raw
        if origin in (Union, types.UnionType):
            for arg in get_args(tp):
                ok, val = self.coerce(arg, raw)
                if ok:
                    return True, val
            return False, None
        if tp is type(None):
            return raw is None, None
        if tp is bool:
            return isinstance(raw, bool), raw
        if tp is int:
            return (isinstance(raw, int) and not isinstance(raw, bool)), raw
        if tp is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                return False, None
            return True, float(raw)
        if tp is str:
            # Numbers are accepted where text is expected (an api_version such as
            # 2024-10-01 is read by YAML as a date): keep what the person wrote.
            if isinstance(raw, str):
                return True, raw
            return False, None
        return False, None  # pragma: no cover - schema uses only the types above

    def describe(self, tp: Any) -> str:
        origin = get_origin(tp)
        if origin is Literal:
            return "one of " + ", ".join(repr(a) for a in get_args(tp))
        if origin in (Union, types.UnionType):
            parts = [self.describe(a) for a in get_args(tp)]
            return " or ".join(parts)
        return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))

    def scalar(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:timestamp":  # keep dates as written
                return node.value
            assert self._yaml is not None
            try:
                return self._yaml.construct_object(node, deep=True)
            except yaml.YAMLError:
                return node.value
        return _INVALID

    @staticmethod
    def _node_kind(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return "a single value"

    # -- rules across fields

    def cross_check(self, obj: Any, node: yaml.MappingNode, prefix: str,
                    seen: Mapping[str, int]) -> None:
        def line_of(key: str) -> int:
            return seen.get(key, node.start_mark.line + 1)

        def add(key: str, reason: str, at: str | None = None) -> None:
            """``at``: the key whose line to cite when ``key`` itself is missing."""
            dotted = f"{prefix}.{key}" if prefix else key
            line = line_of(key) if key in seen or at is None else line_of(at)
            self.problems.append(Problem(self.path, line, dotted, reason))

        check = _CHECKS.get(type(obj))
        if check is not None:
            check(obj, add)


def _check_link(obj: LinkConfig, add: _Add) -> None:
    if obj.backoff_base_s > obj.backoff_cap_s:
        add("backoff_base_s", f"must not be above backoff_cap_s ({obj.backoff_cap_s:g})")


def _check_audio(obj: AudioConfig, add: _Add) -> None:
    path = obj.alsa_config
    if path is None:
        return
    if not path.startswith("/"):
        add("alsa_config", "must be an absolute path (e.g. /etc/edged/asound.conf)")
    elif any(c == ":" or c.isspace() for c in path):
        add("alsa_config", "must not contain ':' or spaces (ALSA splits ALSA_CONFIG_PATH "
            "into several files at them)")


def _check_control(obj: ControlConfig, add: _Add) -> None:
    if not obj.socket.startswith("/"):
        add("socket", "must be an absolute path (e.g. /run/edged/control.sock)")
    elif len(obj.socket.encode()) > 107:
        add("socket", "is too long: Unix socket paths hold at most 107 bytes")


def _strings(value: Any) -> typing.Iterator[str]:
    """Every string inside plain YAML data (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _out_of_bounds(tp: Any, f: dataclasses.Field[Any], raw: object, val: Any) -> str | None:
    """Why a value of the right type is still refused (None: it is fine)."""
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if isinstance(val, int | float) and not isinstance(val, bool):
        if not math.isfinite(val):
            return f"must be a finite number, got {_show(raw)}"
        if (lo is not None and val < lo) or (hi is not None and val > hi):
            return (f"{_show(val)} is out of range ({lo:g} to {hi:g})"
                    if lo is not None and hi is not None else "out of range")
    if isinstance(val, str) and tp is str and not val.strip():
        return "must not be empty"
    return None


class _Add(typing.Protocol):
    """Report a cross-field problem on ``key`` (the line of ``at`` if ``key`` is absent)."""

    def __call__(self, key: str, reason: str, at: str | None = None) -> None: ...


def _check_realtime(obj: RealtimeConfig, add: _Add) -> None:
    if obj.provider == "azure":
        if not obj.azure_resource:
            add("azure_resource", "required when provider is 'azure' (the NAME in "
                "NAME.openai.azure.com)", at="provider")
        elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-]{0,62}", obj.azure_resource):
            add("azure_resource", "must be the resource name only (letters, digits, "
                "dashes), not a URL")
    if obj.provider == "custom" and not obj.url:
        add("url", "required when provider is 'custom' (a ws:// or wss:// URL)",
            at="provider")
    if obj.url is not None and not re.match(r"^wss?://[^/\s]+", obj.url):
        add("url", "must start with ws:// or wss:// and name a host")
    if obj.dialect == "beta" and obj.provider == "openai":
        add("dialect", "OpenAI has retired the beta dialect; use 'ga' or 'auto'")
    labels = [m.server_label for m in obj.mcp_servers if m.server_label]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        add("mcp_servers", f"the label {twice[0]!r} is used twice (approvals are matched by "
            "label)")


def _check_credentials(obj: CredentialsConfig, add: _Add) -> None:
    _check_credential_names(obj, add, "credential", "device_token_credential")
    if obj.token_url is None:
        if not (obj.credential or obj.key_file or obj.env):
            add("credential", "at least one of credential, key_file or env must be set")
        return
    if not (obj.device_token_credential or obj.device_token_file):
        add("device_token_file", "with token_url set, device_token_credential or "
            "device_token_file must name where this speaker's token is", at="token_url")
    wrong = token_url_problem(obj.token_url)
    if wrong:
        add("token_url", wrong)


def token_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a token service's address (None: it can)."""
    from urllib.parse import urlsplit

    from edged.realtime.endpoint import is_loopback  # here: endpoint imports this module

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises on a bad port
    except ValueError:
        return "is not a valid URL"
    problems = [
        (parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url),
         "must be an https:// URL with a host, e.g. https://tokens.example.org/realtime"),
        (parts.username is not None or parts.password is not None,
         "must not hold a user or password: the speaker proves who it is with its device "
         "token (device_token_credential or device_token_file)"),
        (bool(parts.fragment), "must not have a #fragment"),
        (not url.isascii(), "must be plain ASCII (percent-encode any other character)"),
        (parts.scheme == "http" and not is_loopback(host),
         "http:// is not encrypted and only allowed to this machine (127.0.0.1, ::1, "
         f"localhost); use https://{host}{parts.path or '/'}"),
    ]
    return next((why for wrong, why in problems if wrong), None)


def _check_health(obj: HealthConfig, add: _Add) -> None:
    for warn, crit in (("memory_warning_mb", "memory_critical_mb"),
                       ("cpu_warning_pct", "cpu_critical_pct"),
                       ("latency_warning_ms", "latency_critical_ms")):
        if getattr(obj, warn) > getattr(obj, crit):
            add(warn, f"must not be above {crit} ({getattr(obj, crit):g})")
    if obj.uptime_warning_pct < obj.uptime_critical_pct:
        add("uptime_warning_pct", "must not be below uptime_critical_pct (a lower "
            "up-time is worse)")
    textfile = obj.prometheus_textfile
    if textfile is not None:
        if not textfile.startswith("/"):
            add("prometheus_textfile", "must be an absolute path (e.g. "
                "/var/lib/prometheus/node-exporter/edged.prom)")
        elif not textfile.endswith(".prom") or textfile.endswith("/.prom"):
            add("prometheus_textfile", "must name a file ending in .prom (node_exporter's "
                "textfile collector reads no other)")
        elif any(c.isspace() or not c.isprintable() for c in textfile):
            add("prometheus_textfile", "must not contain spaces or control characters "
                "(the service's ReadWritePaths= drop-in names its directory)")


def _check_pins(obj: ControlsConfig, add: _Add) -> None:
    pins = [(n, getattr(obj, n)) for n in ("ptt_pin", "wake_pin", "led_pin")]
    used: dict[int, str] = {}
    for name, pin in pins:
        if pin is None:
            continue
        if pin in used:
            add(name, f"pin {pin} is already used by {used[pin]}")
        used[pin] = name


_TOOL_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z0-9_]+)\}")
"""``{name}`` in an HTTP tool's URL or body: the argument called name."""
_CREDENTIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
"""A systemd credential's name: a file name inside $CREDENTIALS_DIRECTORY, no path."""
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _check_credential_names(obj: Any, add: _Add, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and (not _CREDENTIAL_RE.fullmatch(value) or ".." in value):
            add(name, "a systemd credential's name: letters, digits, '.', '_' or '-' (no "
                "'/' and no '..': it names a file in $CREDENTIALS_DIRECTORY)")


def _check_headers(headers: Mapping[str, str], add: _Add) -> None:
    for name, value in headers.items():
        if not _HEADER_NAME_RE.fullmatch(name):
            add("headers", f"{name!r} is not a valid HTTP header name")
        elif not value.isascii() or any(c in value for c in "\r\n\0"):
            add("headers", f"the value of {name} must be plain ASCII on one line")


_NO_AUTH_HEADER = ("must not set Authorization: the token goes in a systemd credential or a "
                   "root-only file")


def _check_tool(obj: CommandToolConfig | HttpToolConfig, add: _Add) -> None:
    first = "argv" if isinstance(obj, CommandToolConfig) else "url"
    if not obj.name:
        add("name", "every tool needs a name (letters, digits, _ or -)", at=first)
    elif not _TOOL_NAME_RE.fullmatch(obj.name):
        add("name", "use 1-64 letters, digits, _ or - (the realtime APIs accept no other)")
    if not obj.description:
        add("description", "say what the tool does and when to use it: the model reads this "
            "to decide", at="name")
    if isinstance(obj, CommandToolConfig):
        if not obj.argv:
            add("argv", "the program and its fixed arguments, e.g. [/usr/local/bin/garage]",
                at="name")
        elif not obj.argv[0].startswith("/"):
            add("argv", "the program must be an absolute path (no shell, no $PATH search)")
    else:
        _check_http_tool(obj, add)


def _check_http_tool(obj: HttpToolConfig, add: _Add) -> None:
    if not obj.url:
        add("url", "the request's URL, e.g. http://homeassistant.local:8123/api/...", at="name")
    elif not re.match(r"^https?://[^/\s{}]+", obj.url):
        add("url", "must start with http:// or https:// and name a fixed host")
    elif "@" in obj.url.split("/", 3)[2]:
        add("url", "must not hold a user or password: put a token in token_credential or "
            "token_file")
    _check_headers(obj.headers, add)
    _check_credential_names(obj, add, "token_credential")
    if obj.doctor_arguments is not None and (
            not isinstance(obj.doctor_arguments, dict)
            or any(k not in obj.parameters for k in obj.doctor_arguments)):
        add("doctor_arguments", "a mapping of this tool's parameters to the values doctor "
            f"may send (parameters: {', '.join(obj.parameters) or 'none'})")
    used = set(PLACEHOLDER_RE.findall(obj.url or "")) | {
        m for text in _strings(obj.body) for m in PLACEHOLDER_RE.findall(text)}
    unknown = sorted(used - set(obj.parameters))
    if unknown:
        add("url" if set(unknown) & set(PLACEHOLDER_RE.findall(obj.url or "")) else "body",
            f"{{{unknown[0]}}} names no parameter (parameters: "
            f"{', '.join(obj.parameters) or 'none'})")
    if any(h.lower() == "authorization" for h in obj.headers):
        add("headers", _NO_AUTH_HEADER)
    for path in ("ca_file", "token_file"):
        value = getattr(obj, path)
        if value is not None and not value.startswith("/"):
            add(path, "must be an absolute path")


def _check_parameter(obj: ParameterConfig, add: _Add) -> None:
    if obj.enum and obj.type != "string":
        add("enum", "only a string parameter can have a list of values")
    numeric = obj.type in ("integer", "number")
    for bound in ("minimum", "maximum"):
        if getattr(obj, bound) is not None and not numeric:
            add(bound, "only an integer or number parameter can have one")
    if numeric and None not in (obj.minimum, obj.maximum) \
            and typing.cast(float, obj.minimum) > typing.cast(float, obj.maximum):
        add("minimum", "must not be above maximum")


def _check_tool_names(obj: ToolsConfig, add: _Add) -> None:
    seen: set[str] = set()
    for section, tools in (("command", obj.command), ("http", obj.http)):
        for tool in tools:
            if not tool.name:
                continue
            if tool.name in BUILTIN_TOOL_NAMES:
                add(section, f"{tool.name!r} is one of the speaker's own tools; choose "
                    "another name")
            elif tool.name in seen:
                add(section, f"the tool name {tool.name!r} is used twice")
            seen.add(tool.name)


def _check_mcp_server(obj: McpServerConfig, add: _Add) -> None:
    if not obj.server_label:
        add("server_label", "every MCP server needs a label (letters, digits, _ or -)",
            at="server_url")
    elif not _TOOL_NAME_RE.fullmatch(obj.server_label):
        add("server_label", "use 1-64 letters, digits, _ or -")
    if not obj.server_url:
        add("server_url", "the server's https:// URL (the API connects to it, not the "
            "speaker)", at="server_label")
    elif not re.match(r"^https://[^/\s]+", obj.server_url):
        add("server_url", "must be an https:// URL the API can reach from the internet")
    if obj.allowed_tools:
        extra = [t for t in obj.approve if t not in obj.allowed_tools]
        if extra:
            add("approve", f"{extra[0]!r} is not in allowed_tools")
    if any(h.lower() == "authorization" for h in obj.headers):
        add("headers", _NO_AUTH_HEADER + " (authorization_credential, authorization_file)")
    _check_headers(obj.headers, add)
    _check_credential_names(obj, add, "authorization_credential")
    if obj.authorization_file is not None and not obj.authorization_file.startswith("/"):
        add("authorization_file", "must be an absolute path")


def _check_wake_word(obj: WakeWordConfig, add: _Add) -> None:
    model = obj.model
    if model in WAKE_WORD_MODELS:
        return
    if "/" not in model:
        add("model", f"{model!r} is not a shipped model ({', '.join(WAKE_WORD_MODELS)}); "
            "a custom word is the absolute path of its microWakeWord .json manifest")
    elif not model.startswith("/") or not model.endswith(".json"):
        add("model", "a custom model is the absolute path of its microWakeWord .json "
            "manifest (e.g. /etc/edged/wakeword/hey_edge.json)")


_CHECKS: dict[type[Any], Callable[[Any, _Add], None]] = {
    AudioConfig: _check_audio,
    RealtimeConfig: _check_realtime,
    HealthConfig: _check_health,
    LinkConfig: _check_link,
    ControlsConfig: _check_pins,
    WakeWordConfig: _check_wake_word,
    CommandToolConfig: _check_tool,
    HttpToolConfig: _check_tool,
    ParameterConfig: _check_parameter,
    ToolsConfig: _check_tool_names,
    McpServerConfig: _check_mcp_server,
    ControlConfig: _check_control,
    CredentialsConfig: _check_credentials,
}
"""Rules across the fields of one section (or list item), by its dataclass."""


class _Invalid:
    """Marks a value that failed validation (the field keeps its default)."""


_INVALID: Any = _Invalid()


def line_of(text: str, dotted: str) -> int:
    """The line that sets ``dotted`` in valid YAML text (its section's line if the key
    is absent, 0 if neither is there), for problems found after loading."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 0
    line = 0
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        for knode, vnode in node.value:
            if isinstance(knode, yaml.ScalarNode) and knode.value == part:
                line, node = knode.start_mark.line + 1, vnode
                break
        else:
            break
    return line


def parse(text: str, path: str = "<string>") -> Config:
    """Validate YAML text; raise ConfigError listing every problem."""
    return _Loader(path, text).load()


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; raise ConfigError (never OSError)."""
    p = Path(path) if path is not None else Path(default_path())
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), 0, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(str(p), 0, "", "is a directory, not a file")]) from None
    except PermissionError:
        raise ConfigError([Problem(str(p), 0, "", "permission denied (is it readable by "
                                   "the user edged runs as?)")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(p), 0, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(p), line, "", "not valid UTF-8 text")]) from None
    return parse(text, str(p))
