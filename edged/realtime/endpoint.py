"""Where to connect and how to authenticate, from the config alone.

Pure: the URL, the headers and the dialect are decided here so that ``edged
doctor``, the link and the tests all agree. Plain ``ws://`` is allowed only to
loopback (a local simulator or test double): anything else would send the key
and the person's voice in clear.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

from edged.config import RealtimeConfig
from edged.realtime.credentials import Secret

Wire = Literal["ga", "beta"]
BETA_HEADER = ("OpenAI-Beta", "realtime=v1")


class EndpointError(ValueError):
    """The config does not describe a usable endpoint; the message says why."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    dialect: Wire
    auth: Literal["bearer", "api-key"]
    key: Secret = field(repr=False)

    def headers(self) -> list[tuple[str, str]]:
        """Handshake headers, key included: hand them to the socket, never to a log."""
        value = self.key.reveal()
        out = [("Authorization", f"Bearer {value}") if self.auth == "bearer"
               else ("api-key", value)]
        if self.dialect == "beta":
            out.append(BETA_HEADER)
        return out


def resolve_dialect(rt: RealtimeConfig) -> Wire:
    """``auto`` means beta exactly for Azure's preview api-versions."""
    if rt.dialect != "auto":
        return rt.dialect
    return "beta" if rt.provider == "azure" and rt.api_version else "ga"


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def endpoint_url(rt: RealtimeConfig) -> str:
    """The WebSocket URL (it never holds the key); raises EndpointError."""
    if rt.provider == "openai":
        _only_custom_url(rt)
        return "wss://api.openai.com/v1/realtime?" + urlencode({"model": rt.model})
    if rt.provider == "azure":
        _only_custom_url(rt)
        if not rt.azure_resource:
            raise EndpointError("realtime.azure_resource is required for provider 'azure'")
        base = f"wss://{quote(rt.azure_resource, safe='')}.openai.azure.com/openai"
        deployment = rt.deployment or rt.model
        if rt.api_version:
            query = urlencode({"api-version": rt.api_version, "deployment": deployment})
            return f"{base}/realtime?{query}"
        return f"{base}/v1/realtime?" + urlencode({"model": deployment})
    if not rt.url:
        raise EndpointError("realtime.url is required for provider 'custom'")
    return check_url(rt.url)


def check_url(url: str) -> str:
    """A usable ws:// or wss:// URL, with ws:// only to loopback."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise EndpointError(f"realtime.url {url!r} is not a valid URL") from None
    if parts.scheme not in ("ws", "wss") or not host:
        raise EndpointError(f"realtime.url {url!r} must be ws:// or wss:// with a host")
    if parts.scheme == "ws" and not is_loopback(host):
        raise EndpointError(
            f"realtime.url: ws:// is not encrypted and only allowed to this machine "
            f"(127.0.0.1, ::1, localhost); use wss://{host}{parts.path or '/'}")
    return url.strip()


def _only_custom_url(rt: RealtimeConfig) -> None:
    if rt.url:
        raise EndpointError(
            f"realtime.url is only used with provider 'custom' (provider is '{rt.provider}')")


def build_endpoint(rt: RealtimeConfig, key: Secret) -> Endpoint:
    """URL, dialect and auth header for this config; raises EndpointError."""
    url = endpoint_url(rt)
    auth = rt.auth_header
    if auth == "auto":
        auth = "api-key" if rt.provider == "azure" else "bearer"
    return Endpoint(url, resolve_dialect(rt), auth, key)
