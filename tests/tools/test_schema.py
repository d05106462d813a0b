"""The hand-written argument checker: each keyword of the subset, and the sentences it says."""

from __future__ import annotations

from typing import Any

import pytest

from edged.tools.schema import check, unsupported

TIMER = {
    "type": "object",
    "properties": {
        "seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
        "label": {"type": "string", "maxLength": 40},
    },
    "required": ["seconds"],
    "additionalProperties": False,
}
EMPTY = {"type": "object", "properties": {}, "additionalProperties": False}


def test_valid_arguments_pass() -> None:
    assert check(TIMER, {"seconds": 600}) is None
    assert check(TIMER, {"seconds": 600, "label": "pasta"}) is None
    assert check(EMPTY, {}) is None


@pytest.mark.parametrize(("value", "sentence"), [
    ({}, "'seconds' is required"),
    ({"seconds": 0}, "'seconds' must be at least 1"),
    ({"seconds": 86401}, "'seconds' must be at most 86400"),
    ({"seconds": "600"}, "'seconds' must be a whole number"),
    ({"seconds": True}, "'seconds' must be a whole number"),
    ({"seconds": 1.5}, "'seconds' must be a whole number"),
    ({"seconds": None}, "'seconds' must be a whole number"),
    ({"seconds": 5, "label": 7}, "'label' must be a string"),
    ({"seconds": 5, "label": "x" * 41}, "'label' must be at most 40 characters long"),
    ({"seconds": 5, "lable": "x"}, "'lable' is not a known argument (known: seconds, label)"),
    ([600], "the arguments must be an object"),
    ("600", "the arguments must be an object"),
])
def test_each_mismatch_is_one_sentence_naming_the_argument(value: Any, sentence: str) -> None:
    assert check(TIMER, value) == sentence


def test_a_tool_without_arguments_says_so() -> None:
    assert check(EMPTY, {"level": 3}) == "'level' is not expected: this tool takes no arguments"


def test_extra_properties_are_allowed_unless_forbidden() -> None:
    assert check({"type": "object"}, {"anything": 1}) is None
    assert check({"type": "object", "properties": {"a": {"type": "string"}}}, {"b": 1}) is None


def test_integers_follow_json_not_python() -> None:
    schema = {"type": "integer"}
    assert check(schema, 600.0) is None  # JSON does not tell 600 from 600.0
    assert check(schema, False) == "the arguments must be a whole number"
    assert check(schema, float("inf")) is not None
    assert check(schema, float("nan")) is not None


def test_numbers_accept_ints_and_floats_but_not_booleans_or_non_finite() -> None:
    schema = {"type": "number", "minimum": 0.5, "maximum": 2}
    assert check(schema, 1) is None
    assert check(schema, 1.25) is None
    assert check(schema, 0.25) == "the arguments must be at least 0.5"
    assert check(schema, 2.5) == "the arguments must be at most 2"
    assert check(schema, True) == "the arguments must be a number"
    assert check(schema, float("nan")) == "the arguments must be a number"


def test_booleans_are_only_true_and_false() -> None:
    schema = {"type": "boolean"}
    assert check(schema, True) is None
    assert check(schema, 1) == "the arguments must be true or false"


def test_enum_uses_json_equality() -> None:
    change = {"type": "object", "properties": {"change": {"enum": ["up", "down"]}}}
    assert check(change, {"change": "up"}) is None
    assert check(change, {"change": "louder"}) == "'change' must be one of 'up', 'down'"
    numbers = {"enum": [1, 2.5, True, None]}
    assert check(numbers, 1.0) is None
    assert check(numbers, True) is None
    assert check(numbers, None) is None
    assert check({"enum": [1]}, True) == "the arguments must be one of 1"
    assert check({"enum": [True]}, 1) == "the arguments must be one of true"


def test_string_lengths() -> None:
    schema = {"type": "object", "properties": {"which": {"type": "string", "minLength": 1}}}
    assert check(schema, {"which": ""}) == "'which' must not be empty"
    assert check({"type": "string", "minLength": 3}, "ab") == (
        "the arguments must be at least 3 characters long")
    assert check({"type": "string", "maxLength": 1}, "ab") == (
        "the arguments must be at most 1 character long")
    assert check({"type": "string", "maxLength": 2}, "éé") is None  # characters, not bytes


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


@pytest.mark.parametrize(("text", "ok"), [
    ("07:30", True), ("00:00", True), ("23:59", True), ("19:05", True),
    ("7:30", False), ("24:00", False), ("12:60", False), ("07:30 ", False),
    ("07:30\n", False),  # Python's $ would match before the newline; JSON Schema's does not
    ("", False),
])
def test_pattern_with_json_schema_anchors(text: str, ok: bool) -> None:
    schema = {"type": "object", "properties": {"time": {"type": "string", "pattern": HHMM}}}
    problem = check(schema, {"time": text})
    assert (problem is None) == ok
    if not ok:
        assert problem == f"'time' must match the pattern {HHMM}"


def test_pattern_is_a_search_not_a_full_match_and_digits_are_ascii() -> None:
    assert check({"type": "string", "pattern": "ab"}, "xxabxx") is None
    assert check({"type": "string", "pattern": r"^\d$"}, "٣") is not None  # an Arabic-Indic 3
    assert check({"type": "string", "pattern": r"^a[$]\$$"}, "a$$") is None


def test_nested_objects_name_the_path() -> None:
    schema = {
        "type": "object",
        "properties": {"when": {
            "type": "object",
            "properties": {"hour": {"type": "integer", "maximum": 23}},
            "required": ["hour"],
            "additionalProperties": False,
        }},
    }
    assert check(schema, {"when": {"hour": 24}}) == "'when.hour' must be at most 23"
    assert check(schema, {"when": {}}) == "'when.hour' is required"
    assert check(schema, {"when": {"hour": 1, "x": 1}}) == "'when.x' is not expected"


def test_required_is_reported_before_other_problems() -> None:
    assert check(TIMER, {"label": 5}) == "'seconds' is required"


def test_unsupported_finds_what_would_not_be_enforced() -> None:
    assert unsupported(TIMER) == []
    assert unsupported({"type": "object", "properties": {}, "description": "x"}) == []
    problems = unsupported({
        "type": "object",
        "properties": {"a": {"type": "array"}, "b": {"type": "string", "maxLenght": 3},
                       "c": {"type": "string", "pattern": "("}},
        "additionalProperties": {"type": "string"},
        "oneOf": [],
    })
    assert "the schema: unsupported keyword 'oneOf'" in problems
    assert "the schema: additionalProperties may only be false" in problems
    assert "a: unsupported type 'array'" in problems
    assert "b: unsupported keyword 'maxLenght'" in problems
    assert "c: pattern '(' is not a regular expression" in problems
    assert unsupported({"properties": {"a": 1}, "required": "a"}) == [
        "the schema: property 'a' must be a schema",
        "the schema: required must be a list of names",
    ]
