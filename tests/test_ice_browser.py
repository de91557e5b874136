"""The browsers' ICE servers: nothing by default, STUN passed on, TURN only with short-lived coturn credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from pydantic import SecretStr, ValidationError

from api.media.ice import IceConfig, MediaSettings, browser_ice_servers

NOW_S = 1_800_000_000.0


def test_no_ice_servers_by_default() -> None:
    # A self-hosted service must not send its customers' addresses to a third party's STUN server.
    assert browser_ice_servers(MediaSettings(), "customer", NOW_S) == []


def test_stun_is_passed_on_but_the_servers_own_turn_password_never_is() -> None:
    settings = MediaSettings(ice_servers="stun:turn.bank.example:3478,turn:videoident:s3cret@turn.bank.example:3478")
    servers = browser_ice_servers(settings, "customer", NOW_S)
    assert servers == [{"urls": ["stun:turn.bank.example:3478"]}]
    assert "s3cret" not in repr(servers)


def test_turn_credentials_follow_coturns_rest_scheme_and_expire() -> None:
    settings = MediaSettings(turn_urls="turn:turn.bank.example:3478?transport=udp,turns:turn.bank.example:5349",
                             turn_secret=SecretStr("coturn-static-secret"), turn_credential_ttl_s=900)
    [turn] = browser_ice_servers(settings, "agent", NOW_S)
    assert turn["urls"] == ["turn:turn.bank.example:3478?transport=udp", "turns:turn.bank.example:5349"]
    expiry_s, label = turn["username"].split(":")
    assert (int(expiry_s), label) == (int(NOW_S) + 900, "agent")
    # What coturn computes with use-auth-secret / static-auth-secret to accept the allocation:
    expected = hmac.new(b"coturn-static-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected
    later = browser_ice_servers(settings, "agent", NOW_S + 60)
    assert later[0]["username"] != turn["username"]  # fresh credentials per page load


@pytest.mark.parametrize("env", [
    {"turn_urls": "turn:turn.bank.example:3478"},  # no secret: the browsers' credentials could not be signed
    {"turn_urls": "turn:user:pw@turn.bank.example:3478", "turn_secret": "x"},  # a long-lived password
    {"turn_urls": "stun:turn.bank.example:3478", "turn_secret": "x"},
    {"turn_urls": "turn:turn.bank.example:3478", "turn_secret": "x", "turn_credential_ttl_s": 5},
])
def test_unsafe_or_unusable_turn_settings_are_refused(env: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MediaSettings(**env)  # type: ignore[arg-type]


def test_a_label_cannot_forge_the_expiry() -> None:
    settings = MediaSettings(turn_urls="turn:t.example:3478", turn_secret=SecretStr("x"))
    with pytest.raises(ValueError):
        browser_ice_servers(settings, "9999999999:agent", NOW_S)


def test_the_servers_peers_get_a_turn_relay_with_their_own_fresh_credentials() -> None:
    settings = MediaSettings(ice_servers="stun:turn.bank.example:3478", turn_urls="turn:turn.bank.example:3478",
                             turn_secret=SecretStr("x"))
    servers = IceConfig.from_settings(settings).rtc_configuration().iceServers or []
    assert [s.urls for s in servers] == ["stun:turn.bank.example:3478", ["turn:turn.bank.example:3478"]]
    assert servers[1].username is not None and servers[1].username.endswith(":server")
    assert IceConfig.from_settings(MediaSettings()).rtc_configuration().iceServers == []
