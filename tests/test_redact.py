"""The one redactor: registered secrets by any 8-character run, credential shapes by
their look, ordinary words never; and what it does to log records (pure)."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import edged.redact as redact_module
from edged.redact import MASK, RUN, RedactFilter, Redactor, printable, without_surrogates
from tests.leaks import redactor_with, secret_runs

OPENAI_KEY = "sk-proj-Zq9xT4vLm2Kp8Rw1Ys6Nb3Hd7Fg0Jc5A"
PLAIN_KEY = "Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"  # no prefix, too short for any shape rule
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AZURE_LONG = "8kQ2vN7xP4mR9tW1yB6cF3hJ5lS0dG8aZ2eU4iO7pK1nM3qX6rT9vY2bC5fH8jL0wE3sA6dG"
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZSJ9.c2lnbmF0dXJl"


# --------------------------------------------------------------------------- registered secrets


@pytest.mark.parametrize("shown", [
    OPENAI_KEY,  # whole
    OPENAI_KEY[3:],  # without its sk- prefix
    OPENAI_KEY[12:22],  # a 10-character middle slice
    OPENAI_KEY[-RUN:],  # the shortest run that counts
    PLAIN_KEY,  # a key with no known shape at all
    PLAIN_KEY[3:],
])
def test_any_run_of_eight_or_more_characters_of_a_registered_secret_is_masked(shown: str) -> None:
    r = redactor_with(OPENAI_KEY, PLAIN_KEY)
    out = r.redact_secrets(f"Incorrect API key provided: {shown}. Check it.")
    assert out == f"Incorrect API key provided: {MASK}. Check it."


def test_the_whole_run_is_masked_once_even_when_pieces_touch_or_overlap() -> None:
    r = redactor_with(PLAIN_KEY)
    assert r.redact_secrets(f"<{PLAIN_KEY[:12]}{PLAIN_KEY[12:]}>") == f"<{MASK}>"
    assert r.redact_secrets(f"<{PLAIN_KEY[:14]}{PLAIN_KEY[6:20]}>") == f"<{MASK}>"  # overlap
    assert r.redact_secrets(f"{PLAIN_KEY[:10]} and {PLAIN_KEY[-10:]}") == f"{MASK} and {MASK}"


def test_a_fragment_shorter_than_the_run_is_left() -> None:
    r = redactor_with(PLAIN_KEY)
    fragment = PLAIN_KEY[4:4 + RUN - 1]
    assert r.redact_secrets(f"x {fragment} y") == f"x {fragment} y"


def test_secrets_too_short_to_tell_from_words_are_not_registered() -> None:
    r = redactor_with("a", "1234567", "  padded  ")
    assert r.secrets == ()
    assert r.redact("a 1234567 padded") == "a 1234567 padded"


def test_each_name_keeps_its_last_values_and_names_are_independent() -> None:
    r = Redactor(keep=2)
    r.register("Aa1Bb2Cc3Dd4")
    r.register("Ee5Ff6Gg7Hh8", name="client_secret")
    r.register("Ii9Jj0Kk1Ll2")
    r.register("Ii9Jj0Kk1Ll2")  # again: no duplicate
    r.register("Mm3Nn4Oo5Pp6")
    assert r.secrets == ("Ii9Jj0Kk1Ll2", "Mm3Nn4Oo5Pp6", "Ee5Ff6Gg7Hh8")
    assert r.redact_secrets("Aa1Bb2Cc3Dd4") == "Aa1Bb2Cc3Dd4"  # the oldest api_key: gone
    assert r.redact_secrets("Ee5Ff6Gg7Hh8 Ii9Jj0Kk1Ll2") == f"{MASK} {MASK}"


def test_the_process_wide_functions_share_one_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = Redactor()
    monkeypatch.setattr(redact_module, "REDACTOR", fresh)
    redact_module.register_secret("Tool-Token-0123456789")
    assert fresh.secrets == ("Tool-Token-0123456789",)
    assert redact_module.redact("token Token-0123") == f"token {MASK}"
    assert redact_module.redact_value({"k": ["Tool-Token-01"]}) == {"k": [MASK]}


@settings(max_examples=300, deadline=None)
@given(secret=st.text(string.ascii_letters + string.digits + "-_", min_size=RUN, max_size=96),
       data=st.data(), before=st.text(max_size=40), after=st.text(max_size=40))
def test_property_any_slice_of_a_registered_secret_is_masked_wherever_it_is(
        secret: str, data: st.DataObject, before: str, after: str) -> None:
    assume(not secret_runs(secret, MASK))  # a secret made of the mask's own letters
    start = data.draw(st.integers(0, len(secret) - RUN))
    end = data.draw(st.integers(start + RUN, len(secret)))
    r = redactor_with(secret)
    out = r.redact(before + secret[start:end] + after)
    assert secret[start:end] not in out
    assert not secret_runs(secret, out)


# --------------------------------------------------------------------------- shapes


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
    ("Bearer Zq7Wm2Xr9Lp4Tn6Vb", "Zq7Wm2Xr9Lp4Tn6Vb"),
    ("Incorrect API key provided: sk-abc12***************************wxyz.",
     "sk-abc12***************************wxyz"),
])
def test_unregistered_credential_shapes_are_masked(text: str, secret: str) -> None:
    out = Redactor().redact(text)
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize("text", [
    "realtime.api_key: literal keys do not belong in the config file",
    "a bearer token read from a file",
    "Bearer tokens expire; api key: missing",
    "api key: missing",
    "api_key = none; api-key: 'changeme'",
    "the sk-learn-compatible exporter",
    "state: listening, link up for 2h13m",
    "opened /opt/edged/venv/lib/python3.11/site-packages/pyaudio/__init__.py",
    "item 123e4567-e89b-12d3-a456-426614174000 truncated at 1520 ms",
    "input device 'USB PnP Sound Device: Audio (hw:1,0)' at 48000 Hz",
    "response resp_CAbc123 done",
    "a" * 40,
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redactor_with(OPENAI_KEY, PLAIN_KEY).redact(text) == text


WORDS = ("api", "API", "key", "keys", "api_key", "api-key", "Key:", "key=", "bearer", "Bearer",
         "token", "tokens", "literal", "secret", "missing", "realtime.api_key:", "the", "a",
         "config", "file", "server", "error", "401", "2", "expired", "session", "sk-", "read",
         "from", "do", "not", "belong", "in", "Authorization:", "provided:", "Incorrect", "is",
         "value", "credential", "credentials", "changeme", "deadbeef", "12345678")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=20),
       st.sampled_from((" ", ": ", " = ", ", ")))
def test_property_plain_sentences_pass_unchanged(words: list[str], glue: str) -> None:
    sentence = glue.join(words) + "."
    assert redactor_with(OPENAI_KEY, PLAIN_KEY, AZURE_KEY).redact(sentence) == sentence


# --------------------------------------------------------------------------- encodable text


def test_lone_surrogates_are_replaced_so_text_encodes() -> None:
    assert without_surrogates("bad \ud800 char \udfff") == "bad \ufffd char \ufffd"
    assert Redactor().redact("x\ud800").encode("utf-8") == "x\ufffd".encode()
    assert without_surrogates("héllo 😀") == "héllo 😀"  # real characters stay


def test_printable_turns_controls_into_spaces_or_replacement_characters() -> None:
    assert printable("a\nb\tc\rd") == "a b c d"
    assert printable("bell\x07 esc\x1b[31m del\x7f c1\x85") == (
        "bell\ufffd esc\ufffd[31m del\ufffd c1\ufffd")
    assert printable("rlo\u202eevil") == "rlo\ufffdevil"
    assert printable("plain text, é, 😀") == "plain text, é, 😀"


def test_redact_value_masks_nested_strings_and_makes_keys_encodable() -> None:
    r = redactor_with(PLAIN_KEY)
    out = r.redact_value({"h": {"auth": f"Bearer {OPENAI_KEY}"}, "l": [PLAIN_KEY], "n": 3,
                          "k\ud800": "v\udc00"})
    assert out == {"h": {"auth": f"Bearer {MASK}"}, "l": [MASK], "n": 3, "k\ufffd": "v\ufffd"}


# --------------------------------------------------------------------------- text from outside


def test_clean_makes_one_printable_capped_redacted_line() -> None:
    r = redactor_with(PLAIN_KEY)
    assert r.clean(f"bad key\n{PLAIN_KEY[2:]}\ud800", 500) == f"bad key {MASK}\ufffd"
    long = r.clean("word " * 1000, 500)
    assert len(long) == 500 and long.endswith("…")


def test_clean_without_guessing_keeps_hex_identifiers_apart() -> None:
    r = redactor_with(PLAIN_KEY)
    a, b = "0" * 31 + "a", "0" * 31 + "b"
    assert (r.clean(a, 200, guess=False), r.clean(b, 200, guess=False)) == (a, b)
    assert r.clean(f"id_{PLAIN_KEY}", 200, guess=False) == f"id_{MASK}"


@settings(max_examples=300, deadline=None)
@given(secret=st.text(string.ascii_letters + string.digits, min_size=RUN, max_size=64),
       pieces=st.lists(st.one_of(st.text(), st.just("\ud800"), st.just("SECRET"),
                                 st.just("\x00\n\x1b")), max_size=12),
       limit=st.integers(1, 600))
def test_property_cleaned_text_encodes_fits_and_never_holds_a_secret_run(
        secret: str, pieces: list[str], limit: int) -> None:
    assume(not secret_runs(secret, MASK + "…\ufffd"))
    text = "".join(secret if p == "SECRET" else p for p in pieces)
    out = redactor_with(secret).clean(text, limit)
    out.encode("utf-8")  # strict: raises on a surrogate
    assert len(out) <= limit
    assert not any(c in out for c in "\x00\n\x1b\ud800")
    assert not secret_runs(secret, out)


# --------------------------------------------------------------------------- the logging filter


def _record(msg: str, *args: object, exc: BaseException | None = None,
            fields: dict[str, object] | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("edged.test", logging.ERROR, __file__, 1, msg, args, exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_filter_masks_arguments_fields_and_exceptions() -> None:
    f = RedactFilter(redactor_with("my-own-secret-value"))
    try:
        raise RuntimeError(f"server said: invalid key {OPENAI_KEY}")
    except RuntimeError as exc:
        record = _record("sending %s with %s", OPENAI_KEY, "own-secret-val", exc=exc,
                         fields={"header": f"Bearer {OPENAI_KEY}"})
    assert f.filter(record) is True
    text = logging.Formatter().format(record)
    assert OPENAI_KEY not in text
    assert "own-secret-val" not in text
    assert record.getMessage() == f"sending {MASK} with {MASK}"
    assert record.fields == {"header": f"Bearer {MASK}"}
    assert f"RuntimeError: server said: invalid key {MASK}" in text


def test_filter_replaces_lone_surrogates_in_the_message_and_fields() -> None:
    record = _record("server said %s", "bad \ud800", fields={"message": "x\udfff",
                                                              "nested": {"k\ud800": ["\ud801"]}})
    RedactFilter(Redactor()).filter(record)
    assert record.getMessage() == "server said bad \ufffd"
    assert record.fields == {"message": "x\ufffd", "nested": {"k\ufffd": ["\ufffd"]}}


def test_an_object_whose_text_holds_the_key_is_masked_in_log_fields() -> None:
    import logging

    from edged.redact import RedactFilter, Redactor

    redactor = Redactor()
    key = "sk-obj-Rt5Yq8Wz2Xc7Vb4Nm1Lk"
    redactor.register(key)

    class Holder:
        def __str__(self) -> str:
            return f"header Authorization {key[3:]}"

    record = logging.LogRecord("edged", logging.INFO, __file__, 1, "msg", None, None)
    record.fields = {"detail": Holder(), "count": 3, "ok": True}
    RedactFilter(redactor).filter(record)
    assert record.fields["detail"] == "header Authorization [redacted]"
    assert record.fields["count"] == 3 and record.fields["ok"] is True


def test_a_public_value_that_looks_like_a_key_is_left_alone_exactly() -> None:
    from edged.redact import MASK, Redactor

    r = Redactor()
    digest = "3f" * 32  # a SHA-256: 64 hex digits, which the Azure-key guess would mask
    other = "4e" * 32
    assert r.redact(f"config {digest}") == f"config {MASK}"
    r.allow(digest)
    assert r.redact(f"config {digest}, key {other}") == f"config {digest}, key {MASK}"
    r.register(digest[10:40], "api_key")  # a registered secret inside it is still masked
    assert digest not in r.redact(f"config {digest}")
