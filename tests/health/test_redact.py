"""Masking credentials in text and in log records (pure; the journal test is separate)."""

from __future__ import annotations

import logging

import pytest

from edged.health.redact import MASK, RedactFilter, redact, redact_value

OPENAI_KEY = "sk-proj-Zq9xT4vLm2Kp8Rw1Ys6Nb3Hd7Fg0Jc5A"
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AZURE_LONG = "8kQ2vN7xP4mR9tW1yB6cF3hJ5lS0dG8aZ2eU4iO7pK1nM3qX6rT9vY2bC5fH8jL0wE3sA6dG"
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize("text, secret", [
    (f"connect failed: headers={{'Authorization': 'Bearer {OPENAI_KEY}'}}", OPENAI_KEY),
    (f"key {OPENAI_KEY} rejected", OPENAI_KEY),
    (f'{{"api-key": "{AZURE_KEY}"}}', AZURE_KEY),
    (f"wss://r.openai.azure.com/openai/realtime?api-key={AZURE_KEY}&deployment=x", AZURE_KEY),
    (f"api_key={AZURE_LONG}", AZURE_LONG),
    (f"token {AZURE_LONG} expired", AZURE_LONG),
    (f"Authorization: Bearer {JWT}", JWT),
    (f"saw {JWT}", JWT),
    (f"hex {AZURE_KEY.upper()}", AZURE_KEY.upper()),
])
def test_credential_shapes_are_masked(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize("text", [
    "state: listening, link up for 2h13m",
    "opened /opt/edged/venv/lib/python3.11/site-packages/pyaudio/__init__.py",
    "item 123e4567-e89b-12d3-a456-426614174000 truncated at 1520 ms",
    "input device 'USB PnP Sound Device: Audio (hw:1,0)' at 48000 Hz",
    "response resp_CAbc123 done",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_registered_secret_of_any_shape_is_masked() -> None:
    odd = "correct-horse-battery-staple"
    assert redact(f"key is {odd}!", [odd]) == f"key is {MASK}!"


def test_short_registered_strings_are_ignored() -> None:
    assert redact("a b c", ["a"]) == "a b c"


def test_nested_values() -> None:
    out = redact_value({"h": {"auth": f"Bearer {OPENAI_KEY}"}, "l": [OPENAI_KEY], "n": 3})
    assert out == {"h": {"auth": f"Bearer {MASK}"}, "l": [MASK], "n": 3}


def _record(msg: str, *args: object, exc: BaseException | None = None,
            fields: dict[str, object] | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("edged.test", logging.ERROR, __file__, 1, msg, args, exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_filter_masks_arguments_fields_and_exceptions() -> None:
    f = RedactFilter()
    f.add_secret("my-own-secret-value")
    try:
        raise RuntimeError(f"server said: invalid key {OPENAI_KEY}")
    except RuntimeError as exc:
        record = _record("sending %s with %s", OPENAI_KEY, "my-own-secret-value", exc=exc,
                         fields={"header": f"Bearer {OPENAI_KEY}"})
    assert f.filter(record) is True
    text = logging.Formatter().format(record)
    assert OPENAI_KEY not in text
    assert "my-own-secret-value" not in text
    assert record.getMessage() == f"sending {MASK} with {MASK}"
    assert record.fields == {"header": f"Bearer {MASK}"}
    assert "RuntimeError: server said: invalid key [redacted]" in text
