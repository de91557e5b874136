"""ICE configuration for the server's peers, and the test-only loopback mode.

By default the server uses **no** STUN/TURN server: a self-hosted deployment must not leak the customer's
address to a third party (aiortc would otherwise ask ``stun.l.google.com``). Operators that need NAT
traversal set ``VIDEOIDENT_ICE_SERVERS`` to their own servers.

Browsers behind NAT or a UDP-blocking firewall need a TURN relay *of their own*: a relay used only by the
server's peers does not help them (coturn relays only for peers it granted a permission). With
``VIDEOIDENT_TURN_URLS`` and ``VIDEOIDENT_TURN_SECRET`` (coturn's ``static-auth-secret``, ``use-auth-secret``),
:func:`browser_ice_servers` mints short-lived credentials per page load (the "TURN REST API" scheme:
username ``<expiry unix s>:<label>``, password ``base64(HMAC-SHA1(secret, username))``), so no long-lived
TURN password ever reaches a browser; the server's own peers get credentials the same way (label
``server``). STUN URLs of ``VIDEOIDENT_ICE_SERVERS`` are passed on as they are; its credentialed TURN
entries are the server's own and are never sent to a browser.

Loopback mode (``VIDEOIDENT_WEBRTC_LOOPBACK_ONLY=true``, refused in production) exists for tests that run
browser and server on one machine: aioice leaves 127.0.0.1 out of its host candidates and Chromium may pair
its eth0 address with the server's, so the server gathers 127.0.0.1 only and drops every non-loopback
candidate from the browser's offer (../shared/notes/webrtc-browser-tests.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_TURN_CREDENTIAL_TTL_S",
    "MediaSettings",
    "IceConfig",
    "browser_ice_servers",
    "install_loopback_gathering",
    "keep_loopback_candidates",
    "loopback_host_addresses",
]

LOOPBACK_ADDRESS = "127.0.0.1"
#: Lifetime of a browser's TURN credentials: the waiting room, the call (BaFin's procedures take 10-20 min)
#: and the 5 min reconnect grace, with margin. A page that reloads or reconnects gets fresh ones.
DEFAULT_TURN_CREDENTIAL_TTL_S = 3600
_CANDIDATE_LINE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (?P<address>\S+) \d+ typ ", re.IGNORECASE)


class MediaSettings(BaseSettings):
    """The live-media settings (environment prefix ``VIDEOIDENT_``)."""

    model_config = SettingsConfigDict(env_prefix="VIDEOIDENT_", extra="ignore")

    #: Comma-separated ICE server URLs of the operator's own STUN/TURN, e.g.
    #: ``turn:user:secret@turn.bank.example:3478``. Empty (the default) means host candidates only.
    ice_servers: str = ""
    #: Comma-separated ``turn:``/``turns:`` URLs (no credentials) handed to the browsers with short-lived
    #: credentials, e.g. ``turn:turn.bank.example:3478?transport=udp,turns:turn.bank.example:5349``.
    turn_urls: str = ""
    #: coturn's ``static-auth-secret`` (``use-auth-secret``): signs the browsers' TURN credentials.
    turn_secret: SecretStr | None = None
    turn_credential_ttl_s: int = Field(default=DEFAULT_TURN_CREDENTIAL_TTL_S, ge=60, le=86400)
    #: Test only: gather and accept loopback candidates only (browser and server on one machine).
    webrtc_loopback_only: bool = False

    @field_validator("ice_servers")
    @classmethod
    def _known_schemes(cls, value: str) -> str:
        for url in _split(value):
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"ICE server URLs start with stun:, turn: or turns:, got {url!r}")
        return value

    @field_validator("turn_urls")
    @classmethod
    def _turn_only(cls, value: str) -> str:
        for url in _split(value):
            if not url.startswith(("turn:", "turns:")) or "@" in url:
                raise ValueError(f"VIDEOIDENT_TURN_URLS takes turn:/turns: URLs without credentials, got {url!r}")
        return value

    @model_validator(mode="after")
    def _turn_needs_secret(self) -> MediaSettings:
        if _split(self.turn_urls) and (self.turn_secret is None or not self.turn_secret.get_secret_value()):
            raise ValueError("VIDEOIDENT_TURN_URLS needs VIDEOIDENT_TURN_SECRET (coturn's static-auth-secret)")
        return self


def browser_ice_servers(settings: MediaSettings, label: str, now_s: float) -> list[dict[str, Any]]:
    """The ``iceServers`` for a browser's ``RTCPeerConnection`` (JSON-ready ``RTCIceServer`` dicts).

    ``label`` ends the TURN username (say ``customer`` or ``agent``; no personal data: coturn logs it);
    ``now_s`` is Unix time in seconds. Empty unless the operator configured STUN or TURN."""
    servers: list[dict[str, Any]] = [{"urls": [url]} for url in _split(settings.ice_servers)
                                     if url.startswith("stun:")]
    turn = _split(settings.turn_urls)
    if turn and settings.turn_secret is not None:
        if ":" in label:
            raise ValueError("the TURN label must not contain ':'")
        username = f"{int(now_s) + settings.turn_credential_ttl_s}:{label}"
        digest = hmac.new(settings.turn_secret.get_secret_value().encode(), username.encode(), hashlib.sha1)
        servers.append({"urls": turn, "username": username,
                        "credential": base64.b64encode(digest.digest()).decode("ascii")})
    return servers


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class IceConfig:
    """What the server's peers use: the ICE servers, and whether the loopback test mode is on."""

    servers: tuple[RTCIceServer, ...] = ()
    loopback_only: bool = False
    #: When it sets TURN with a secret, every new peer also gets a relay with fresh short-lived credentials.
    media: MediaSettings | None = None

    @classmethod
    def from_settings(cls, settings: MediaSettings) -> IceConfig:
        servers: list[RTCIceServer] = []
        for url in _split(settings.ice_servers):
            scheme, _, rest = url.partition(":")
            if scheme.startswith("turn") and "@" in rest:
                credentials, _, host = rest.rpartition("@")
                username, _, password = credentials.partition(":")
                servers.append(RTCIceServer(f"{scheme}:{host}", username=username, credential=password))
            else:
                servers.append(RTCIceServer(url))
        return cls(tuple(servers), settings.webrtc_loopback_only, settings)

    def rtc_configuration(self) -> RTCConfiguration:
        # An explicit list: aiortc substitutes Google's STUN server for None.
        servers = list(self.servers)
        if self.media is not None and _split(self.media.turn_urls):
            relay = browser_ice_servers(self.media, "server", time.time())[-1]  # the TURN entry comes last
            servers.append(RTCIceServer(relay["urls"], username=relay["username"], credential=relay["credential"]))
        return RTCConfiguration(iceServers=servers)

    def prepare_offer(self, sdp: str) -> str:
        """The browser's offer as the server will use it (loopback mode keeps loopback candidates only)."""
        return keep_loopback_candidates(sdp) if self.loopback_only else sdp


def keep_loopback_candidates(sdp: str) -> str:
    """Drop every ``a=candidate`` line whose address is not 127.0.0.1 (test-only loopback mode)."""
    kept = []
    for line in sdp.splitlines():
        match = _CANDIDATE_LINE.match(line)
        if match and match.group("address") != LOOPBACK_ADDRESS:
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK_ADDRESS] if use_ipv4 else []


def install_loopback_gathering() -> None:
    """Make aioice gather 127.0.0.1 as the only host address, for the whole process.

    Test-only, and process-wide by nature (aioice reads a module function): the app installs it only when
    ``webrtc_loopback_only`` is set, which the settings refuse in production."""
    aioice.ice.get_host_addresses = loopback_host_addresses
