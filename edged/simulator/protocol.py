"""The server's view of the two realtime dialects: names, sessions, errors.

Written from the protocol as documented (docs/realtime.md), independently of the
daemon's own codec, so that testing one against the other checks both. Pure: dicts in,
dicts out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Dialect = Literal["ga", "beta"]
Event = dict[str, Any]

RATE = 24000


class ClientError(Exception):
    """A client mistake the server reports with an ``error`` event (session stays open)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def detect_dialect(path: str, headers: Mapping[str, str]) -> Dialect:
    """Beta for ``OpenAI-Beta: realtime=v1`` or Azure's preview ``/openai/realtime?api-version``."""
    beta_header = headers.get("OpenAI-Beta") or ""
    if "realtime=v1" in beta_header.replace(" ", "").lower():
        return "beta"
    url = urlsplit(path)
    if url.path.rstrip("/") == "/openai/realtime" and "api-version" in parse_qs(url.query):
        return "beta"
    return "ga"


def model_from_path(path: str, default: str = "gpt-realtime") -> str:
    query = parse_qs(urlsplit(path).query)
    for key in ("model", "deployment"):
        if query.get(key):
            return query[key][0]
    return default


@dataclass(frozen=True, slots=True)
class Names:
    """Server event names and part types that differ between the dialects.

    ``item_part_type`` is the type of the audio in an item's ``content``; the
    ``part`` of response.content_part.added/done is typed ``audio`` in both
    dialects (the official SDK's models accept only ``text`` or ``audio`` there).
    Function call events have the same names in both; only GA's
    response.function_call_arguments.done also names the function (``args_done_name``).
    """

    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    item_added: str
    item_part_type: str
    part_type: str = "audio"
    args_done_name: bool = True


NAMES: dict[Dialect, Names] = {
    "ga": Names("response.output_audio.delta", "response.output_audio.done",
                "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
                "conversation.item.added", "output_audio"),
    "beta": Names("response.audio.delta", "response.audio.done",
                  "response.audio_transcript.delta", "response.audio_transcript.done",
                  "conversation.item.created", "audio", args_done_name=False),
}

CLIENT_EVENTS = frozenset({
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "response.create", "response.cancel",
    "conversation.item.truncate",
})
# Real client events the simulator does not act on (text chat, tools, history).
UNSUPPORTED_EVENTS = frozenset({
    "conversation.item.delete", "conversation.item.retrieve",
    "output_audio_buffer.clear", "transcription_session.update",
})

_VAD_DEFAULTS: dict[str, Event] = {
    "server_vad": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                   "silence_duration_ms": 500, "create_response": True,
                   "interrupt_response": True},
    "semantic_vad": {"type": "semantic_vad", "eagerness": "auto", "create_response": True,
                     "interrupt_response": True},
}
_VAD_KEYS: dict[str, frozenset[str]] = {
    "server_vad": frozenset({"type", "threshold", "prefix_padding_ms", "silence_duration_ms",
                             "create_response", "interrupt_response", "idle_timeout_ms"}),
    "semantic_vad": frozenset({"type", "eagerness", "create_response", "interrupt_response"}),
}
_EAGERNESS_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}

_GA_KEYS = frozenset({"type", "model", "output_modalities", "instructions", "audio", "include",
                      "tracing", "tools", "tool_choice", "max_output_tokens", "truncation",
                      "prompt"})
_GA_INPUT_KEYS = frozenset({"format", "noise_reduction", "transcription", "turn_detection"})
_GA_OUTPUT_KEYS = frozenset({"format", "voice", "speed"})
_BETA_KEYS = frozenset({"model", "modalities", "instructions", "voice", "input_audio_format",
                        "output_audio_format", "input_audio_transcription",
                        "input_audio_noise_reduction", "turn_detection", "tools", "tool_choice",
                        "temperature", "max_response_output_tokens", "speed", "tracing",
                        "include"})


def default_session(dialect: Dialect, session_id: str, model: str) -> Event:
    """What a fresh session looks like (server VAD on, as the real services start)."""
    vad = dict(_VAD_DEFAULTS["server_vad"])
    if dialect == "ga":
        pcm = {"type": "audio/pcm", "rate": RATE}
        return {
            "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
            "output_modalities": ["audio"], "instructions": "",
            "audio": {
                "input": {"format": dict(pcm), "noise_reduction": None, "transcription": None,
                          "turn_detection": {**vad, "idle_timeout_ms": None}},
                "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
            },
            "tools": [], "tool_choice": "auto", "max_output_tokens": "inf",
        }
    return {
        "object": "realtime.session", "id": session_id, "model": model,
        "modalities": ["audio", "text"], "instructions": "", "voice": "alloy",
        "input_audio_format": "pcm16", "output_audio_format": "pcm16",
        "input_audio_transcription": None, "input_audio_noise_reduction": None,
        "turn_detection": vad, "tools": [], "tool_choice": "auto", "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def _unknown(keys: Any, known: frozenset[str], prefix: str) -> None:
    for key in keys:
        if key not in known:
            raise ClientError("unknown_parameter", f"Unknown parameter: '{prefix}.{key}'.",
                              f"{prefix}.{key}")


def _mapping(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ClientError("invalid_type", f"Invalid type for '{param}': expected an object.",
                          param)
    return value


def _turn_detection(value: Any, param: str, ga: bool) -> Event | None:
    if value is None:
        return None
    td = _mapping(value, param)
    kind = td.get("type", "server_vad")
    if not isinstance(kind, str) or kind not in _VAD_KEYS:
        raise ClientError("invalid_value", f"Invalid value: '{kind}'. Supported values are: "
                          "'server_vad' and 'semantic_vad'.", f"{param}.type")
    known = _VAD_KEYS[kind] if ga else _VAD_KEYS[kind] - {"idle_timeout_ms"}
    _unknown(td, known, param)
    merged = {**_VAD_DEFAULTS[kind], **td}
    if kind == "server_vad":
        threshold = merged["threshold"]
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise ClientError("invalid_value", f"'{param}.threshold' must be between 0 and 1.",
                              f"{param}.threshold")
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if not isinstance(merged[key], int) or merged[key] < 0:
                raise ClientError("invalid_value", f"'{param}.{key}' must be an integer ≥ 0.",
                                  f"{param}.{key}")
    elif not isinstance(merged["eagerness"], str) or (
            merged["eagerness"] not in _EAGERNESS_SILENCE_MS):
        raise ClientError("invalid_value", "eagerness must be low, medium, high or auto.",
                          f"{param}.eagerness")
    return merged


def _check_format(value: Any, param: str, ga: bool) -> None:
    if ga:
        fmt = _mapping(value, param)
        kind = fmt.get("type")
        if kind in ("audio/pcmu", "audio/pcma"):
            raise ClientError("invalid_value", f"'{param}': the simulator streams only "
                              "audio/pcm at 24000 Hz.", param)
        if kind != "audio/pcm":
            raise ClientError("invalid_value", f"Invalid value for '{param}.type': {kind!r}.",
                              f"{param}.type")
        if fmt.get("rate", RATE) != RATE:
            raise ClientError("invalid_value", f"'{param}.rate' must be 24000.", f"{param}.rate")
    elif value != "pcm16":
        if value in ("g711_ulaw", "g711_alaw"):
            raise ClientError("invalid_value", f"'{param}': the simulator streams only pcm16.",
                              param)
        raise ClientError("invalid_value", f"Invalid value for '{param}': {value!r}.", param)


_TOOL_KEYS = frozenset({"type", "name", "description", "parameters"})
_MCP_KEYS = frozenset({"type", "server_label", "server_url", "allowed_tools",
                       "require_approval", "headers", "authorization", "server_description"})
_TOOL_CHOICES = ("auto", "none", "required")
_JSON_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               list: "an array", dict: "an object", type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "an object")


def _check_mcp(entry: Mapping[str, Any], where: str) -> None:
    """A remote MCP server as a GA session names it (the simulator serves no connectors:
    it needs ``server_url``)."""
    _unknown(entry, _MCP_KEYS, where)
    for key in ("server_label", "server_url"):
        if key not in entry:
            raise ClientError("missing_required_parameter",
                              f"Missing required parameter: '{where}.{key}'.", f"{where}.{key}")
    for key, ok in (("server_label", isinstance(entry["server_label"], str)),
                    ("server_url", isinstance(entry["server_url"], str)),
                    ("authorization", isinstance(entry.get("authorization", ""), str)),
                    ("headers", isinstance(entry.get("headers", {}), Mapping)),
                    ("allowed_tools", isinstance(entry.get("allowed_tools", []), list))):
        if not ok:
            raise ClientError("invalid_type", f"Invalid type for '{where}.{key}'.",
                              f"{where}.{key}")
    if not str(entry["server_url"]).startswith("https://"):
        raise ClientError("invalid_value", f"'{where}.server_url' must be an https:// URL.",
                          f"{where}.server_url")
    approval = entry.get("require_approval", "always")
    if approval not in ("always", "never") and not isinstance(approval, Mapping):
        raise ClientError("invalid_value", f"Invalid value: {json.dumps(approval)}. Supported "
                          "values are: 'always', 'never' and a filter object.",
                          f"{where}.require_approval")


def _check_tools(sent: Mapping[str, Any], ga: bool) -> None:
    """Function tools (and, GA only, remote MCP servers), each with a string name; and a
    tool_choice a real server would take."""
    if "tools" in sent:
        tools = sent["tools"]
        if not isinstance(tools, list):
            raise ClientError("invalid_type", "Invalid type for 'session.tools': expected an "
                              f"array, but got {_json_type(tools)} instead.", "session.tools")
        for i, tool in enumerate(tools):
            where = f"session.tools[{i}]"
            entry = _mapping(tool, where)
            kind = entry.get("type")
            if kind == "mcp" and ga:
                _check_mcp(entry, where)
                continue
            if kind != "function":
                supported = "'function' and 'mcp'" if ga else "'function'"
                raise ClientError("invalid_value", f"Invalid value: {json.dumps(kind)}. "
                                  f"Supported values are: {supported}.", f"{where}.type")
            _unknown(entry, _TOOL_KEYS, where)
            if "name" not in entry:
                raise ClientError("missing_required_parameter",
                                  f"Missing required parameter: '{where}.name'.",
                                  f"{where}.name")
            for key, expected, ok in (("name", "a string", isinstance(entry["name"], str)),
                                      ("description", "a string",
                                       isinstance(entry.get("description", ""), str)),
                                      ("parameters", "an object",
                                       isinstance(entry.get("parameters", {}), Mapping))):
                if not ok:
                    raise ClientError("invalid_type", f"Invalid type for '{where}.{key}': "
                                      f"expected {expected}, but got "
                                      f"{_json_type(entry[key])} instead.", f"{where}.{key}")
    if "tool_choice" in sent:
        choice = sent["tool_choice"]
        if isinstance(choice, Mapping):
            if choice.get("type") != "function" or not isinstance(choice.get("name"), str):
                raise ClientError("invalid_value", "'session.tool_choice' names a function as "
                                  "{\"type\": \"function\", \"name\": ...}.",
                                  "session.tool_choice")
        elif choice not in _TOOL_CHOICES:
            raise ClientError("invalid_value", f"Invalid value: {json.dumps(choice)}. Supported "
                              "values are: 'auto', 'none' and 'required'.",
                              "session.tool_choice")


def merge_session(dialect: Dialect, current: Event, update: Any, voice_locked: bool) -> Event:
    """The effective session after ``session.update``; raise ClientError to refuse it.

    Only the fields sent change (nested objects merge), except turn detection,
    which is replaced: a new type starts from that type's defaults.
    """
    sent = _mapping(update, "session")
    if dialect == "ga":
        return _merge_ga(sent, current, voice_locked)
    return _merge_beta(sent, current, voice_locked)


def _merge_ga(sent: Mapping[str, Any], current: Event, voice_locked: bool) -> Event:
    new = copy.deepcopy(current)
    if "type" not in sent:
        raise ClientError("missing_required_parameter",
                          "Missing required parameter: 'session.type'.", "session.type")
    if sent["type"] != "realtime":
        raise ClientError("invalid_value", "This endpoint serves 'realtime' sessions.",
                          "session.type")
    _unknown(sent, _GA_KEYS, "session")
    _check_tools(sent, ga=True)
    audio = _mapping(sent.get("audio", {}), "session.audio")
    _unknown(audio, frozenset({"input", "output"}), "session.audio")
    inp = _mapping(audio.get("input", {}), "session.audio.input")
    out = _mapping(audio.get("output", {}), "session.audio.output")
    _unknown(inp, _GA_INPUT_KEYS, "session.audio.input")
    _unknown(out, _GA_OUTPUT_KEYS, "session.audio.output")
    for side, part in (("input", inp), ("output", out)):
        if "format" in part:
            _check_format(part["format"], f"session.audio.{side}.format", ga=True)
    if "voice" in out and voice_locked and out["voice"] != voice_of("ga", current):
        raise _voice_locked()
    for key, value in sent.items():
        if key != "audio":
            new[key] = copy.deepcopy(value)
    new_audio = new.setdefault("audio", {})
    for side, part in (("input", inp), ("output", out)):
        target = new_audio.setdefault(side, {})
        for key, value in part.items():
            if key == "turn_detection":
                target[key] = _turn_detection(value, f"session.audio.{side}.turn_detection",
                                              ga=True)
            else:
                target[key] = copy.deepcopy(value)
    return new


def _merge_beta(sent: Mapping[str, Any], current: Event, voice_locked: bool) -> Event:
    new = copy.deepcopy(current)
    _unknown(sent, _BETA_KEYS, "session")
    _check_tools(sent, ga=False)
    for key in ("input_audio_format", "output_audio_format"):
        if key in sent:
            _check_format(sent[key], f"session.{key}", ga=False)
    if "temperature" in sent:
        temp = sent["temperature"]
        if not isinstance(temp, int | float) or not 0.6 <= temp <= 1.2:
            raise ClientError("decimal_below_min_value" if isinstance(temp, int | float)
                              and temp < 0.6 else "invalid_value",
                              "'session.temperature' must be between 0.6 and 1.2.",
                              "session.temperature")
    if "voice" in sent and voice_locked and sent["voice"] != voice_of("beta", current):
        raise _voice_locked()
    for key, value in sent.items():
        if key == "turn_detection":
            new[key] = _turn_detection(value, "session.turn_detection", ga=False)
        else:
            new[key] = copy.deepcopy(value)
    return new


def _voice_locked() -> ClientError:
    """The real servers' refusal, word for word (their ``param`` is null): the whole
    update is refused, none of its other fields applied."""
    return ClientError("cannot_update_voice", "Cannot update a conversation's voice if "
                       "assistant audio is present.")


def voice_of(dialect: Dialect, session: Mapping[str, Any]) -> Any:
    if dialect == "ga":
        return session.get("audio", {}).get("output", {}).get("voice")
    return session.get("voice")


def turn_detection_of(dialect: Dialect, session: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if dialect == "ga":
        td = session.get("audio", {}).get("input", {}).get("turn_detection")
    else:
        td = session.get("turn_detection")
    return td if isinstance(td, Mapping) else None


def transcription_on(dialect: Dialect, session: Mapping[str, Any]) -> bool:
    if dialect == "ga":
        return bool(session.get("audio", {}).get("input", {}).get("transcription"))
    return bool(session.get("input_audio_transcription"))


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Turn detection reduced to what the energy detector needs."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool


def vad_settings(td: Mapping[str, Any] | None) -> VadSettings | None:
    """semantic_vad is approximated by silence: eagerness picks the pause length."""
    if td is None:
        return None
    if td.get("type") == "semantic_vad":
        silence = _EAGERNESS_SILENCE_MS.get(str(td.get("eagerness", "auto")), 800)
        return VadSettings(0.5, 300, silence, bool(td.get("create_response", True)),
                           bool(td.get("interrupt_response", True)))
    return VadSettings(float(td.get("threshold", 0.5)), int(td.get("prefix_padding_ms", 300)),
                       int(td.get("silence_duration_ms", 500)),
                       bool(td.get("create_response", True)),
                       bool(td.get("interrupt_response", True)))
