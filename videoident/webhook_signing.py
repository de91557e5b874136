"""Signing webhook deliveries and verifying them on the bank's side.

A delivery carries ``Videoident-Signature: t=<unix s>,v1=<hex>[,v1=<hex>]``, where each ``v1`` is
``HMAC-SHA256(secret, f"{t}.{body}")`` under one of the tenant's active secrets (two during a rotation),
and ``Videoident-Event-Id`` (the id inside the signed body). :class:`WebhookVerifier` is the reference a
bank runs on its receiver (docs/api.md). Exceptions::

    ValueError
    └── SignatureError   code: malformed | late | altered | replayed
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENT_ID_HEADER", "SIGNATURE_HEADER", "TOLERANCE_S", "SignatureError", "VerifiedEvent", "WebhookVerifier", "sign",
]

SIGNATURE_HEADER = "Videoident-Signature"
EVENT_ID_HEADER = "Videoident-Event-Id"
#: A delivery older than this is refused by the verifier (replay window). 300 s is the window the API
#: contract promises (the same as Stripe's default); it tolerates ordinary clock skew between the servers.
TOLERANCE_S = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets_: Sequence[str], timestamp: int) -> str:
    """The ``Videoident-Signature`` header value: ``t=<unix s>,v1=<hex>`` with one ``v1`` per secret."""
    if not secrets_:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in secrets_)])


class SignatureError(ValueError):
    """A delivery that must be refused; ``code`` says why (malformed, late, altered, replayed)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code


@dataclass(frozen=True)
class VerifiedEvent:
    event_id: str
    type: str
    data: Mapping[str, Any]
    #: The event id was verified before (a retry the receiver already got): acknowledge, do not re-process.
    duplicate: bool


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed", "signature header parts must be key=value")
        if key == "t":
            if not value.isdigit() or len(value) > 12:
                raise SignatureError("malformed", "t must be unix seconds")
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        raise SignatureError("malformed", "signature header needs t= and v1=")
    return timestamp, macs


class WebhookVerifier:
    """What a bank runs on its receiver (the documented reference; docs/api.md has a ten-line version).

    Refuses altered bodies (no ``v1`` matches any of ``secrets_``), late deliveries (``t`` more than
    ``tolerance_s`` from now, either way) and replays (the same signature seen before within the window).
    Marks retries of an event it already verified as ``duplicate``. ``clock`` gives unix seconds."""

    def __init__(
        self, secrets_: Sequence[str], tolerance_s: int = TOLERANCE_S, clock: Callable[[], float] = time.time
    ) -> None:
        if not secrets_:
            raise ValueError("at least one secret is needed to verify")
        self._secrets = list(secrets_)
        self._tolerance_s = tolerance_s
        self._clock = clock
        self._seen_signatures: dict[str, int] = {}
        self._seen_events: dict[str, int] = {}

    def verify(self, body: bytes, signature_header: str, event_id_header: str | None = None) -> VerifiedEvent:
        timestamp, macs = _parse_signature(signature_header)
        now = int(self._clock())
        if abs(now - timestamp) > self._tolerance_s:
            raise SignatureError("late", f"signed {now - timestamp} s ago; the window is {self._tolerance_s} s")
        expected = [_mac(secret, timestamp, body) for secret in self._secrets]
        if not any(hmac.compare_digest(e, m) for e in expected for m in macs):
            raise SignatureError("altered", "no signature matches the body under our secrets")
        self._forget(now)
        fingerprint = f"{timestamp}:{min(macs)}"
        if fingerprint in self._seen_signatures:
            raise SignatureError("replayed", "this exact delivery was received before")
        try:
            event = json.loads(body)
            event_id, event_type, data = str(event["id"]), str(event["type"]), event["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError("malformed", "body is not a videoident event") from exc
        if event_id_header is not None and event_id_header != event_id:
            raise SignatureError("altered", "event id header does not match the signed body")
        self._seen_signatures[fingerprint] = timestamp
        duplicate = event_id in self._seen_events
        self._seen_events[event_id] = now
        return VerifiedEvent(event_id=event_id, type=event_type, data=data, duplicate=duplicate)

    def _forget(self, now: int) -> None:
        """Drop signatures older than the window: they are refused as late anyway (bounded memory)."""
        horizon = now - self._tolerance_s - 1
        for key in [k for k, t in self._seen_signatures.items() if t < horizon]:
            del self._seen_signatures[key]
