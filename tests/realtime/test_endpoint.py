"""URLs, headers and dialects per provider; plain ws:// only to loopback."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from edged.config import RealtimeConfig
from edged.realtime.credentials import Secret
from edged.realtime.endpoint import (
    EndpointError,
    build_endpoint,
    check_url,
    is_loopback,
    resolve_dialect,
)

KEY = Secret("sk-test-0123456789abcdefghij")


def _rt(**kw: Any) -> RealtimeConfig:
    return dataclasses.replace(RealtimeConfig(), **kw)


def test_openai_uses_the_model_query_and_bearer() -> None:
    ep = build_endpoint(_rt(model="gpt-realtime-mini"), KEY)
    assert ep.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-mini"
    assert ep.dialect == "ga"
    assert ep.headers() == [("Authorization", f"Bearer {KEY.reveal()}")]


def test_azure_ga_uses_v1_path_with_the_deployment_and_api_key_header() -> None:
    ep = build_endpoint(_rt(provider="azure", azure_resource="myres", deployment="rt-prod"), KEY)
    assert ep.url == "wss://myres.openai.azure.com/openai/v1/realtime?model=rt-prod"
    assert ep.dialect == "ga"
    assert ep.headers() == [("api-key", KEY.reveal())]


def test_azure_ga_falls_back_to_the_model_as_deployment() -> None:
    ep = build_endpoint(_rt(provider="azure", azure_resource="r", model="gpt-realtime"), KEY)
    assert ep.url.endswith("/openai/v1/realtime?model=gpt-realtime")


def test_azure_preview_uses_api_version_and_deployment_and_auto_selects_beta() -> None:
    ep = build_endpoint(_rt(provider="azure", azure_resource="myres", deployment="gpt-4o-rt",
                            api_version="2024-10-01-preview"), KEY)
    assert ep.url == ("wss://myres.openai.azure.com/openai/realtime?"
                      "api-version=2024-10-01-preview&deployment=gpt-4o-rt")
    assert ep.dialect == "beta"
    assert ("OpenAI-Beta", "realtime=v1") in ep.headers()
    assert ("api-key", KEY.reveal()) in ep.headers()


def test_azure_with_bearer_token_when_configured() -> None:
    ep = build_endpoint(_rt(provider="azure", azure_resource="r", auth_header="bearer"), KEY)
    assert ep.headers()[0] == ("Authorization", f"Bearer {KEY.reveal()}")


def test_dialect_auto_is_beta_exactly_for_azure_preview() -> None:
    assert resolve_dialect(_rt()) == "ga"
    assert resolve_dialect(_rt(provider="azure", azure_resource="r")) == "ga"
    assert resolve_dialect(_rt(provider="azure", azure_resource="r", api_version="x")) == "beta"
    assert resolve_dialect(_rt(provider="custom", url="wss://h/")) == "ga"
    assert resolve_dialect(_rt(provider="custom", url="wss://h/", dialect="beta")) == "beta"
    assert resolve_dialect(_rt(provider="azure", azure_resource="r", api_version="x",
                               dialect="ga")) == "ga"


def test_custom_url_is_used_as_given_with_bearer() -> None:
    ep = build_endpoint(_rt(provider="custom", url="wss://rt.example.org/v1/realtime?m=x"), KEY)
    assert ep.url == "wss://rt.example.org/v1/realtime?m=x"
    assert ep.headers() == [("Authorization", f"Bearer {KEY.reveal()}")]


@pytest.mark.parametrize("url", ["ws://127.0.0.1:8765", "ws://127.5.6.7/x", "ws://[::1]:9/",
                                 "ws://localhost:1234/realtime", "ws://[::ffff:127.0.0.1]:80"])
def test_plain_ws_is_allowed_to_loopback(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["ws://192.168.1.10:8765", "ws://example.org/",
                                 "ws://10.0.0.1", "ws://[2001:db8::1]/", "ws://0.0.0.0:80"])
def test_plain_ws_is_refused_elsewhere_with_a_clear_message(url: str) -> None:
    with pytest.raises(EndpointError, match=r"ws:// is not encrypted.*use wss://"):
        build_endpoint(_rt(provider="custom", url=url), KEY)


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "wss://", "ws://127.0.0.1:notaport/",
                                 "ftp://x"])
def test_non_websocket_urls_are_refused(url: str) -> None:
    with pytest.raises(EndpointError, match=r"realtime\.url"):
        check_url(url)


def test_url_with_a_non_custom_provider_is_refused_not_ignored() -> None:
    with pytest.raises(EndpointError, match="only used with provider 'custom'"):
        build_endpoint(_rt(provider="openai", url="wss://elsewhere/"), KEY)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("LOCALHOST")
    assert not is_loopback("127.0.0.1.example.org")
    assert not is_loopback("192.168.0.1")


def test_endpoint_repr_never_shows_the_key() -> None:
    ep = build_endpoint(_rt(), KEY)
    assert KEY.reveal() not in repr(ep)
    assert KEY.reveal() not in str(ep)
