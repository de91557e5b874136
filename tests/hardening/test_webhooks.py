"""Webhooks from the running service, checked with the documented verifiers (the ten lines in docs/api.md,
executed from the page itself, and ``videoident.webhooks.WebhookVerifier``): a genuine delivery verifies; a
replayed, a late (older than 300 s) and every one-byte-altered delivery is refused; during a secret rotation
a delivery verifies under the old and under the new secret."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.hardening.drive import create_session, join, session_body
from tests.hardening.harness import REPO, Server
from tests.hardening.receiver import Delivery, receiver
from videoident.webhooks import SignatureError, WebhookVerifier

#: The window the docs promise (docs/api.md, "Verifying a webhook").
TOLERANCE_S = 300

Verify = Callable[[bytes, str, str], bool]


def documented_verify() -> Verify:
    """The ``python verifier`` block of docs/api.md, run as a bank would paste it."""
    text = (REPO / "docs" / "api.md").read_text()
    match = re.search(r"```python verifier\n(.*?)```", text, re.S)
    assert match, "docs/api.md lost its verifier block"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "docs/api.md#verifier", "exec"), namespace)  # noqa: S102 - our own docs
    verify: Verify = namespace["verify"]
    return verify


def refused(verifier: WebhookVerifier, delivery: Delivery, body: bytes | None = None) -> str | None:
    try:
        verifier.verify(delivery.body if body is None else body, delivery.signature, delivery.event_id)
    except SignatureError as exc:
        return exc.code
    return None


def test_replayed_late_and_altered_deliveries_are_refused(server: Server, figures: dict[str, Any]) -> None:
    secret = server.credentials()["webhook_secret"]
    verify = documented_verify()
    with receiver() as rec, server.client() as bank:
        created = create_session(bank, session_body(callback_url=rec.url))
        delivery = rec.wait_for(lambda e: e["type"] == "session.created" and e["data"]["session_id"] == created.id)
    # Genuine: both verifiers accept it.
    assert verify(delivery.body, delivery.signature, secret)
    verifier = WebhookVerifier([secret])
    assert refused(verifier, delivery) is None
    # Replayed: the very same delivery again.
    assert refused(verifier, delivery) == "replayed"
    # Late: the same delivery arriving 301 s after it was signed.
    signed_at = int(re.search(r"t=(\d+)", delivery.signature).group(1))  # type: ignore[union-attr]
    late = WebhookVerifier([secret], clock=lambda: signed_at + TOLERANCE_S + 1)
    assert refused(late, delivery) == "late"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "time", lambda: signed_at + TOLERANCE_S + 1)
        assert not verify(delivery.body, delivery.signature, secret)
    # Altered: every single byte of the body changed (one at a time), each refused by both verifiers.
    altered_accepted = 0
    for i in range(len(delivery.body)):
        body = bytearray(delivery.body)
        body[i] ^= 0x01
        fresh = WebhookVerifier([secret])
        altered_accepted += refused(fresh, delivery, bytes(body)) is None
        altered_accepted += verify(bytes(body), delivery.signature, secret)
    # Altered signature header: one hex digit of v1 changed.
    header = delivery.signature
    position = header.index("v1=") + 3
    flipped = header[:position] + ("0" if header[position] != "0" else "1") + header[position + 1:]
    assert not verify(delivery.body, flipped, secret)
    tampered = Delivery(delivery.body, {**delivery.headers, "videoident-signature": flipped})
    assert refused(WebhookVerifier([secret]), tampered) == "altered"
    figures.update(body_bytes=len(delivery.body), altered_variants=2 * len(delivery.body),
                   altered_accepted=altered_accepted, replay_refused=True, late_refused=True)
    assert altered_accepted == 0


def test_both_secrets_verify_during_a_rotation(server: Server, figures: dict[str, Any]) -> None:
    old = server.credentials()["webhook_secret"]
    verify = documented_verify()
    with receiver() as rec, server.client() as bank:
        created = create_session(bank, session_body(callback_url=rec.url))
        rotated = bank.post("/v1/webhook-secret/rotate")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["webhook_secret"]
        assert new != old
        with server.client() as customer:
            assert join(customer, created.token).status_code == 200
        delivery = rec.wait_for(
            lambda e: e["data"].get("session_id") == created.id and e["data"].get("status") == "waiting")
    signatures = re.findall(r"v1=", delivery.signature)
    assert verify(delivery.body, delivery.signature, old)
    assert verify(delivery.body, delivery.signature, new)
    assert not verify(delivery.body, delivery.signature, "not-our-secret")
    assert refused(WebhookVerifier([old]), delivery) is None
    assert refused(WebhookVerifier([new]), delivery) is None
    assert refused(WebhookVerifier(["not-our-secret"]), delivery) == "altered"
    figures.update(signatures_during_rotation=len(signatures), old_verifies=True, new_verifies=True)
    assert len(signatures) == 2
