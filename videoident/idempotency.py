"""Idempotency keys for the bank API (the ``Idempotency-Key`` header on POST).

The same key with the same request returns the stored response (status and body, byte for byte); the
same key with a different request is refused (:class:`IdempotencyMismatch`, HTTP 422); a request whose
twin is still being processed is refused (:class:`IdempotencyInProgress`, HTTP 409, retry later).

A key is claimed in its own committed transaction before the work starts, so concurrent twins see it.
The stored response may hold a single-use customer link, so it is sealed (AES-256-GCM, see
:class:`videoident.tenants.SecretBox`) and bound to its tenant and key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, LargeBinary, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from videoident.clock import utcnow
from videoident.db import Base
from videoident.records import UTCDateTime
from videoident.tenants import SecretBox

__all__ = [
    "IDEMPOTENCY_TTL",
    "IN_PROGRESS_TIMEOUT",
    "MAX_KEY_LENGTH",
    "IdempotencyInProgress",
    "IdempotencyMismatch",
    "IdempotencyRecord",
    "IdempotencyStore",
    "StoredResponse",
    "fingerprint",
    "valid_key",
]

#: How long a key is remembered: a bank's retry logic gives up well within a day (Stripe keeps 24 h).
IDEMPOTENCY_TTL = timedelta(hours=24)
#: A claim not completed within this is presumed crashed and may be taken over (a create takes < 1 s).
IN_PROGRESS_TIMEOUT = timedelta(minutes=5)
#: Keys are UUIDs or similar; 255 fits any sane scheme and bounds the index.
MAX_KEY_LENGTH = 255

_IN_PROGRESS = 0


class IdempotencyMismatch(Exception):
    """The key was used before with a different request."""


class IdempotencyInProgress(Exception):
    """The first request with this key is still being processed."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    #: SHA-256 of the method, path and canonical JSON body.
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: 0 while in progress, else the HTTP status of the stored response.
    status_code: Mapped[int] = mapped_column(Integer(), default=_IN_PROGRESS)
    sealed_body: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    master_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def valid_key(key: str) -> bool:
    """1..255 printable ASCII characters, no spaces."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(33 <= ord(c) < 127 for c in key)


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """SHA-256 over the method, path and body; a JSON body is canonicalised (key order, spacing)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.upper().encode() + b" " + path.encode() + b"\n" + canonical).digest()


class IdempotencyStore:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    @staticmethod
    def _aad(tenant_id: str, key: str) -> bytes:
        return f"idempotency:{tenant_id}:{key}".encode()

    def begin(self, tenant_id: str, key: str, request_hash: bytes) -> StoredResponse | None:
        """Claim ``key``; None means "go ahead, then :meth:`complete` or :meth:`abandon`".

        Returns the stored response for a repeated request; raises on a mismatch or a twin in flight."""
        now = utcnow()
        with self._sessions() as db:
            db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL))
            db.commit()
            row = db.get(IdempotencyRecord, (tenant_id, key))
            if row is None:
                db.add(IdempotencyRecord(tenant_id=tenant_id, key=key, request_hash=request_hash,
                                         status_code=_IN_PROGRESS, created_at=now))
                try:
                    db.commit()
                except IntegrityError as exc:  # a concurrent twin claimed it first
                    db.rollback()
                    raise IdempotencyInProgress(key) from exc
                return None
            if row.request_hash != request_hash:
                raise IdempotencyMismatch(key)
            if row.status_code == _IN_PROGRESS:
                if now - row.created_at < IN_PROGRESS_TIMEOUT:
                    raise IdempotencyInProgress(key)
                row.created_at = now  # the first attempt crashed: take the claim over
                db.commit()
                return None
            assert row.sealed_body is not None and row.master_key_id is not None
            body = self._box.open(row.sealed_body, self._aad(tenant_id, key), row.master_key_id)
            return StoredResponse(row.status_code, body)

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None:
        with self._sessions() as db:
            row = db.get(IdempotencyRecord, (tenant_id, key))
            if row is None:
                return
            row.status_code = response.status_code
            row.sealed_body = self._box.seal(response.body, self._aad(tenant_id, key))
            row.master_key_id = self._box.key_id
            db.commit()

    def abandon(self, tenant_id: str, key: str) -> None:
        """Release a claim after a failure, so the bank's retry runs the request again."""
        with self._sessions() as db:
            db.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.tenant_id == tenant_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status_code == _IN_PROGRESS,
                )
            )
            db.commit()
