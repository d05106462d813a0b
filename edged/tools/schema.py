"""Checking a tool call's arguments against the small JSON Schema subset our tools use.

Supported: ``type`` (object, string, integer, number, boolean), ``properties``,
``required``, ``additionalProperties: false``, ``enum``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``pattern``, and the annotations ``description``,
``title`` and ``default``. The answer is one plain sentence naming the argument,
because it goes back to the model, which then corrects its call.

Hand-written on purpose: the schemas are ours, and the ``jsonschema`` package is
heavy for a Pi. Measured 2026-12-07 on an x86_64 AMD EPYC VM, CPython 3.11.7,
jsonschema 4.26.0 (in a throwaway venv: it is not installed in the project's):
``import jsonschema`` took VmRSS from about 19.6 MiB to 26.0 MiB: +6.4 MiB
(6,516–6,636 KiB over five runs, with or without one validator built and used),
for checks this short module does for our schemas.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

_TYPES = ("object", "string", "integer", "number", "boolean")
_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "enum",
    "minimum", "maximum", "minLength", "maxLength", "pattern",
    "description", "title", "default",
})
_KIND = {
    "object": "an object",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def check(schema: Mapping[str, Any], value: Any) -> str | None:
    """None when ``value`` satisfies ``schema``, else one sentence saying what is wrong."""
    return _check(schema, value, "")


def unsupported(schema: Mapping[str, Any], where: str = "") -> list[str]:
    """What in ``schema`` this checker would not enforce (empty when all is understood).

    The registry refuses such a schema at start-up rather than letting a typo
    (``maxLenght``) silently accept anything.
    """
    out: list[str] = []
    at = where or "the schema"
    for key in schema:
        if key not in _KEYWORDS:
            out.append(f"{at}: unsupported keyword {key!r}")
    kind = schema.get("type")
    if kind is not None and kind not in _TYPES:
        out.append(f"{at}: unsupported type {kind!r}")
    if schema.get("additionalProperties", False) is not False:
        out.append(f"{at}: additionalProperties may only be false")
    if "pattern" in schema:
        try:
            _compiled(schema["pattern"])
        except (re.error, TypeError):
            out.append(f"{at}: pattern {schema['pattern']!r} is not a regular expression")
    props = schema.get("properties", {})
    if not isinstance(props, Mapping):
        out.append(f"{at}: properties must be a mapping")
        props = {}
    for name, sub in props.items():
        if isinstance(sub, Mapping):
            out.extend(unsupported(sub, f"{where}.{name}" if where else str(name)))
        else:
            out.append(f"{at}: property {name!r} must be a schema")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        out.append(f"{at}: required must be a list of names")
    return out


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` with JSON Schema's (ECMA-262) meaning where Python's differs in ways
    that matter here: ``$`` is the very end (Python's also matches before a final
    newline) and ``\\d``/``\\w`` are ASCII only."""
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
            continue
        out.append(ch)
    return re.compile("".join(out), re.ASCII)


def _who(path: str) -> str:
    return f"'{path}'" if path else "the arguments"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return _number(value) if isinstance(value, int | float) else repr(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _has_type(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    # JSON Schema counts 600.0 as an integer: JSON does not tell the two apart.
    return kind == "number" or isinstance(value, int) or value.is_integer()


def _check(schema: Mapping[str, Any], value: Any, path: str) -> str | None:
    who = _who(path)
    problem = _check_kind(schema, value, who)
    if problem is not None:
        return problem
    if isinstance(value, Mapping):
        return _check_object(schema, value, path)
    if isinstance(value, str):
        return _check_string(schema, value, who)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _check_number(schema, value, who)
    return None


def _check_kind(schema: Mapping[str, Any], value: Any, who: str) -> str | None:
    kind = schema.get("type")
    if kind is not None and not _has_type(kind, value):
        return f"{who} must be {_KIND.get(kind, kind)}"
    if "enum" in schema and not any(_equal(value, v) for v in schema["enum"]):
        choices = ", ".join(_show(v) for v in schema["enum"])
        return f"{who} must be one of {choices}"
    return None


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, but 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _check_number(schema: Mapping[str, Any], value: float, who: str) -> str | None:
    if "minimum" in schema and value < schema["minimum"]:
        return f"{who} must be at least {_number(schema['minimum'])}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{who} must be at most {_number(schema['maximum'])}"
    return None


def _check_string(schema: Mapping[str, Any], value: str, who: str) -> str | None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        n = schema["minLength"]
        if n == 1:
            return f"{who} must not be empty"
        return f"{who} must be at least {n} characters long"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        n = schema["maxLength"]
        return f"{who} must be at most {n} character{'s' if n != 1 else ''} long"
    if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
        return f"{who} must match the pattern {schema['pattern']}"
    return None


def _check_object(schema: Mapping[str, Any], value: Mapping[str, Any], path: str) -> str | None:
    props: Mapping[str, Any] = schema.get("properties", {})
    prefix = f"{path}." if path else ""
    for name in schema.get("required", []):
        if name not in value:
            return f"'{prefix}{name}' is required"
    if schema.get("additionalProperties", True) is False:
        for name in value:
            if name not in props:
                if not path:
                    if not props:
                        return f"'{name}' is not expected: this tool takes no arguments"
                    return f"'{name}' is not a known argument (known: {', '.join(props)})"
                return f"'{prefix}{name}' is not expected"
    for name, sub in props.items():
        if name in value:
            problem = _check(sub, value[name], f"{prefix}{name}")
            if problem is not None:
                return problem
    return None
