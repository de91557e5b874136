"""Bad input against the running service: oversized, deeply nested and malformed JSON, names with control,
bidi and lone-surrogate characters, non-image and oversized bodies, malformed SDP offers. Each is a clear
4xx (never a 5xx, never a 2xx), and nothing is stored: no row in any table, no audit entry, no vault file.
Genuine Unicode names (Latin with diacritics, CJK, Arabic script) are accepted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hardening.drive import create_session, join, session_body
from tests.hardening.harness import Server
from tests.hardening.stored import snapshot

#: Bigger than the bank API's 64 KiB cap (api/errors.py MAX_BODY_BYTES) by a wide margin.
HUGE_BYTES = 2 * 1024 * 1024
#: Nesting that blows Python's recursion limit (1,000) in a naive parser, and still fits 64 KiB.
DEEP_NESTING = 30_000


def _with_name(given: str) -> bytes:
    return json.dumps(session_body(given=given)).encode()


def _raw(body: str) -> bytes:
    """A JSON body with the given raw text in place of the given name (escape sequences kept as written)."""
    return json.dumps(session_body(given="@@")).replace('"@@"', body).encode()


def _chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


BANK_CASES: dict[str, tuple[bytes | Iterator[bytes], str]] = {
    "huge_json": (json.dumps({**session_body(), "pad": "x" * HUGE_BYTES}).encode(), "application/json"),
    "huge_json_streamed": (_chunks(json.dumps({**session_body(), "pad": "x" * HUGE_BYTES}).encode()),
                           "application/json"),
    "deeply_nested_json": (b"[" * DEEP_NESTING + b"]" * DEEP_NESTING, "application/json"),
    "deeply_nested_object": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json"),
    "truncated_json": (_with_name("Erika")[:-7], "application/json"),
    "invalid_utf8": (_with_name("Erika").replace(b"Erika", b"Er\xffka"), "application/json"),
    "png_instead_of_json": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png"),
    "form_instead_of_json": (b"given_name=Erika&family_name=Mustermann", "application/x-www-form-urlencoded"),
    "empty_body": (b"", "application/json"),
    "nul_in_name": (_with_name("Eri\x00ka"), "application/json"),
    "escape_in_name": (_with_name("Erika\x1b[2J"), "application/json"),
    "newline_in_name": (_with_name("Erika\nMallory"), "application/json"),
    "c1_control_in_name": (_with_name("Eri\x85ka"), "application/json"),
    "bidi_override_in_name": (_with_name("Erika\u202eakire"), "application/json"),
    "zero_width_in_name": (_with_name("Eri\u200bka"), "application/json"),
    "lone_surrogate_in_name": (_raw('"Eri\\ud800ka"'), "application/json"),
    "name_101_chars": (_with_name("E" * 101), "application/json"),
    "name_only_spaces": (_with_name("   "), "application/json"),
    "name_is_number": (_raw("12345"), "application/json"),
}

GOOD_NAMES = ("Zoë Ångström-Ñúñez", "Anna Maria", "张伟", "محمد رضا", "O'Brien", "Łukasz")


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_bad_bank_requests_are_a_clear_4xx_and_store_nothing(server: Server, http: httpx.Client,
                                                             figures: dict[str, Any]) -> None:
    before = snapshot(server)
    statuses: dict[str, int] = {}
    for name, (body, content_type) in BANK_CASES.items():
        response = http.post("/v1/sessions", content=body, headers={"Content-Type": content_type})
        statuses[name] = response.status_code
        if 400 <= response.status_code < 500:
            assert response.headers["content-type"].startswith("application/problem+json"), name
            assert response.json()["status"] == response.status_code, name
    after = snapshot(server)
    figures.update(cases=len(statuses), statuses=statuses)
    not_4xx = {k: v for k, v in statuses.items() if not 400 <= v < 500}
    assert not_4xx == {}
    assert after == before


def test_genuine_unicode_names_are_accepted(http: httpx.Client, figures: dict[str, Any]) -> None:
    statuses = {}
    for given in GOOD_NAMES:
        response = http.post("/v1/sessions", json=session_body(given=given, family=given))
        statuses[given] = response.status_code
    figures.update(statuses=statuses)
    assert set(statuses.values()) == {201}


MALFORMED_SDP = {
    "empty": "",
    "garbage": "hello, I am not an SDP",
    "binary_noise": "".join(chr(c) for c in range(1, 255)) * 20,
    "no_media": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
    "bad_media_line": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video notaport UDP/TLS/RTP/SAVPF x\r\n",
    "media_without_ice_or_dtls": ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                                  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
                                  "a=sendonly\r\na=mid:0\r\n"),
    "oversized": "v=0\r\n" + "a=x\r\n" * 10_000,
}


def test_malformed_sdp_offers_are_refused(server: Server, http: httpx.Client, figures: dict[str, Any]) -> None:
    created = create_session(http)
    with httpx.Client(base_url=server.base_url, timeout=60) as customer:
        assert join(customer, created.token).status_code == 200
        before = snapshot(server)
        statuses = {}
        for name, sdp in MALFORMED_SDP.items():
            response = customer.post(f"/ident/{created.token}/api/offer", json={"sdp": sdp, "type": "offer"})
            statuses[name] = response.status_code
        statuses["answer_type"] = customer.post(f"/ident/{created.token}/api/offer",
                                                json={"sdp": MALFORMED_SDP["no_media"], "type": "answer"}).status_code
        statuses["huge_json_offer"] = customer.post(
            f"/ident/{created.token}/api/offer", content=json.dumps({"sdp": "x" * HUGE_BYTES, "type": "offer"}),
            headers={"Content-Type": "application/json"}).status_code
        state = customer.get(f"/ident/{created.token}/api/state").json()
        after = snapshot(server)
    figures.update(cases=len(statuses), statuses=statuses)
    assert {k: v for k, v in statuses.items() if not 400 <= v < 500} == {}
    assert state["status"] == "waiting"
    assert state["live"] is None or state["live"]["connection"] in ("new", "closed", "failed")
    assert after.vault_files == before.vault_files


def test_bad_customer_requests_are_a_clear_4xx(server: Server, http: httpx.Client, figures: dict[str, Any]) -> None:
    created = create_session(http)
    before = snapshot(server)
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as customer:
        base = f"/ident/{created.token}/api"
        statuses["join_huge_json"] = customer.post(
            f"{base}/join", content=json.dumps({"consent": True, "consent_version": "x", "pad": "x" * HUGE_BYTES}),
            headers={"Content-Type": "application/json"}).status_code
        statuses["join_deeply_nested"] = customer.post(
            f"{base}/join", content=b"[" * DEEP_NESTING + b"]" * DEEP_NESTING,
            headers={"Content-Type": "application/json"}).status_code
        statuses["join_without_consent"] = customer.post(
            f"{base}/join", json={"consent": False, "consent_version": "x"}).status_code
        statuses["tan_overlong"] = customer.post(f"{base}/tan", json={"tan": "1" * 10_000}).status_code
        statuses["tan_not_json"] = customer.post(f"{base}/tan", content=b"\x00\x01\x02",
                                                 headers={"Content-Type": "application/json"}).status_code
        statuses["unknown_token"] = customer.get("/ident/" + "A" * 43 + "/api/state").status_code
        statuses["token_with_nul"] = customer.get("/ident/%00abc/api/state").status_code
        statuses["token_huge"] = customer.get("/ident/" + "A" * 8000 + "/api/state").status_code
        state = customer.get(f"{base}/state").json()
    after = snapshot(server)
    figures.update(cases=len(statuses), statuses=statuses)
    assert {k: v for k, v in statuses.items() if not 400 <= v < 500} == {}
    assert state["status"] == "created"  # none of it joined the waiting room
    assert after == before
