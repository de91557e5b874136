"""The bank's callback URL: what we accept, and where we refuse to send (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from videoident.settings import Environment

__all__ = ["MAX_URL_LENGTH", "CallbackUrlError", "check_callback_url"]

#: The longest callback URL we accept (a common browser / proxy limit).
MAX_URL_LENGTH = 2048
#: Hostnames that name this machine or a private network whatever DNS says.
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


class CallbackUrlError(ValueError):
    """The callback URL is refused; the message says why (shown to the bank)."""


def _address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_callback_url(url: str, environment: Environment, resolve: bool = False) -> str:
    """Validate a bank's callback URL; returns it unchanged or raises :class:`CallbackUrlError`.

    https is required outside development; outside development and test, targets on loopback, private,
    link-local or otherwise non-global addresses are refused (SSRF), by literal address and, with
    ``resolve``, by every address the name resolves to (run at delivery time, against DNS rebinding)."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackUrlError(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackUrlError(f"callback_url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlError("callback_url must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise CallbackUrlError("callback_url must not carry credentials")
    if parts.fragment:
        raise CallbackUrlError("callback_url must not have a #fragment")
    if environment is not Environment.DEVELOPMENT and parts.scheme != "https":
        raise CallbackUrlError(f"callback_url must use https (environment {environment.value})")
    if environment in (Environment.DEVELOPMENT, Environment.TEST):
        return url
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host and ":" not in host:
        raise CallbackUrlError("callback_url must name a public host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _address_is_public(literal):
        raise CallbackUrlError("callback_url must not target a private, loopback or link-local address")
    if resolve and literal is None:
        try:
            infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise CallbackUrlError(f"callback_url host does not resolve: {exc}") from exc
        for info in infos:
            if not _address_is_public(ipaddress.ip_address(info[4][0])):
                raise CallbackUrlError("callback_url resolves to a private, loopback or link-local address")
    return url
