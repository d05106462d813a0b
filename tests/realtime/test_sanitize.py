"""Server text cleaned once, right after decoding: every string field of every event (pure)."""

from __future__ import annotations

import dataclasses
import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edged.realtime.codec import Decoder
from edged.realtime.events import (
    AudioDelta,
    ErrorEvent,
    InputTranscriptCompleted,
    RateLimit,
    RateLimits,
    ResponseDone,
    TranscriptDone,
)
from edged.realtime.sanitize import MESSAGE_CHARS, SHORT_CHARS, TRANSCRIPT_CHARS, sanitize_event
from edged.redact import MASK, RUN
from tests.leaks import redactor_with, secret_runs

KEY = "sk-proj-Zq9xT4vLm2Kp8Rw1Ys6Nb3Hd7Fg0Jc5A"
PLAIN_KEY = "Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"


def test_an_error_quoting_the_key_whole_or_cut_comes_out_masked() -> None:
    ev = ErrorEvent("invalid_request_error", "invalid_api_key",
                    f"Incorrect API key provided: {KEY} (read as {KEY[3:]}).", f"key {PLAIN_KEY}")
    out = sanitize_event(ev, redactor_with(KEY, PLAIN_KEY))
    assert out == ErrorEvent("invalid_request_error", "invalid_api_key",
                             f"Incorrect API key provided: {MASK} (read as {MASK}).", f"key {MASK}")


def test_a_decoded_lone_surrogate_and_control_characters_are_replaced() -> None:
    raw = '{"type":"error","error":{"code":"server_error","message":"bad \\ud800\\nline\\u001b"}}'
    ev = Decoder("ga").decode(raw)
    assert isinstance(ev, ErrorEvent) and "\ud800" in ev.message  # what json gives
    out = sanitize_event(ev, redactor_with())
    assert isinstance(out, ErrorEvent)
    assert out.message == "bad \ufffd line\ufffd"
    out.message.encode("utf-8")


def test_text_is_capped_by_kind() -> None:
    r = redactor_with()
    err = sanitize_event(ErrorEvent(message="m" * 10_000, code="c" * 1000), r)
    assert isinstance(err, ErrorEvent)
    assert len(err.message) == MESSAGE_CHARS and err.message.endswith("…")
    assert err.code is not None and len(err.code) == SHORT_CHARS
    done = sanitize_event(TranscriptDone("r", "i", "w " * 5000), r)
    assert isinstance(done, TranscriptDone) and len(done.transcript) == TRANSCRIPT_CHARS


def test_transcripts_reasons_and_nested_names_are_cleaned_too() -> None:
    r = redactor_with(PLAIN_KEY)
    heard = sanitize_event(InputTranscriptCompleted("item_1", f"my key is {PLAIN_KEY}"), r)
    assert heard == InputTranscriptCompleted("item_1", f"my key is {MASK}")
    done = sanitize_event(ResponseDone("resp_1", "failed", f"quota {PLAIN_KEY[2:]}"), r)
    assert done == ResponseDone("resp_1", "failed", f"quota {MASK}")
    limits = sanitize_event(RateLimits((RateLimit(f"n\ud800{PLAIN_KEY}", 1, 1, 1),)), r)
    assert limits == RateLimits((RateLimit(f"n\ufffd{MASK}", 1, 1, 1),))


def test_identifiers_lose_secrets_but_are_never_guessed_at() -> None:
    hex_id = "0123456789abcdef0123456789abcdef"  # looks like an Azure key; many servers' ids
    r = redactor_with(PLAIN_KEY)
    delta = AudioDelta(hex_id, f"item_{PLAIN_KEY}", b"\x00\x00")
    out = sanitize_event(delta, r)
    assert out == AudioDelta(hex_id, f"item_{MASK}", b"\x00\x00")


def test_a_clean_event_is_returned_as_it_is() -> None:
    ev = AudioDelta("resp_1", "item_1", b"\x00\x00")
    assert sanitize_event(ev, redactor_with(KEY)) is ev


SERVER_TEXT = st.text(st.characters(categories=["L", "N", "P", "S", "Z", "Cc", "Cf", "Cs"]),
                      max_size=60)


@settings(max_examples=300, deadline=None)
@given(secret=st.text(string.ascii_letters + string.digits, min_size=RUN, max_size=64),
       parts=st.lists(st.one_of(SERVER_TEXT, st.just("KEY"), st.just("CUT")), max_size=8),
       field=st.sampled_from(("type", "code", "message", "param", "event_id")))
def test_property_every_error_field_encodes_and_never_holds_a_run_of_the_key(
        secret: str, parts: list[str], field: str) -> None:
    assume(not secret_runs(secret, MASK + "…\ufffd"))
    text = "".join(secret if p == "KEY" else secret[3:] if p == "CUT" else p for p in parts)
    out = sanitize_event(ErrorEvent(**{field: text}), redactor_with(secret))
    for value in dataclasses.astuple(out):
        if isinstance(value, str):
            value.encode("utf-8")
            assert not secret_runs(secret, value)
