"""Banks as tenants: API keys and webhook signing secrets.

API keys look like ``vik_<key id>_<secret>``. The secret has 256 bits of entropy, is shown once, and
only its SHA-256 is stored (a slow password hash adds nothing for a 256-bit random secret, and would
cost every request). The key id is public and indexes the lookup; comparison is constant-time.
Keys are revocable one by one; a tenant may hold several (rotation without downtime).

Webhook secrets (``whsec_...``) must be usable to sign, so they cannot be hashed: they are sealed with
AES-256-GCM under a key derived from the master key (HKDF, the master key id stored next to it).
Rotating a secret keeps the old one valid for an overlap period, and deliveries are signed with both.

These tables live on :class:`videoident.db.Base`; Alembic revision 0003 creates them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from videoident.clock import utcnow
from videoident.db import Base
from videoident.ids import new_prefixed_id
from videoident.records import UTCDateTime
from videoident.settings import Settings

__all__ = [
    "API_KEY_PREFIX",
    "WEBHOOK_SECRET_OVERLAP",
    "ApiKey",
    "AuthenticatedKey",
    "NewTenant",
    "SecretBox",
    "TenantCreator",
    "TenantCredentials",
    "WebhookSecret",
    "active_webhook_secrets",
    "authenticate",
    "issue_api_key",
    "issue_webhook_secret",
    "list_api_keys",
    "provision_tenant",
    "revoke_api_key",
    "rotate_webhook_secret",
]

API_KEY_PREFIX = "vik_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: 32 random bytes = 256 bits: guessing is hopeless, so a fast hash at rest is safe (NIST SP 800-63B 5.1.1.2
#: asks for a slow hash only for low-entropy memorised secrets).
SECRET_BYTES = 32
#: Key ids are public (logs, the key list); 8 random bytes make collisions negligible for any bank.
KEY_ID_BYTES = 8
#: How long a rotated-out webhook secret still signs deliveries: a day gives a bank's change process
#: (deploy the new secret to its receivers) a working day plus margin.
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)
_HKDF_INFO = b"videoident webhook-secret sealing v1"



class ApiKey(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    #: SHA-256 of the whole presented key.
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookSecret(Base):
    __tablename__ = "webhook_secrets"

    secret_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    #: nonce (12 bytes) + AES-256-GCM ciphertext and tag of the secret string.
    sealed: Mapped[bytes] = mapped_column(LargeBinary())
    master_key_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: None while current; set on rotation to the end of the overlap.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SecretBox:
    """AES-256-GCM sealing of small secrets under a key derived from the master key.

    ``aad`` binds a sealed value to its row (e.g. the tenant id), so a ciphertext cannot be moved."""

    def __init__(self, settings: Settings) -> None:
        self._current_id = settings.master_key_id
        self._keys = {settings.master_key_id: settings.master_key_bytes, **settings.previous_master_key_bytes()}

    @property
    def key_id(self) -> str:
        return self._current_id

    def _derive(self, key_id: str) -> AESGCM:
        master = self._keys.get(key_id)
        if master is None:
            raise KeyError(f"master key {key_id!r} is not configured")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(master)
        return AESGCM(derived)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._derive(self._current_id).encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes, key_id: str) -> bytes:
        return self._derive(key_id).decrypt(sealed[:12], sealed[12:], aad)


@dataclass(frozen=True)
class AuthenticatedKey:
    key_id: str
    tenant_id: str


@dataclass(frozen=True)
class TenantCredentials:
    """Shown once, at creation: the plaintext API key and webhook secret."""

    api_key: str
    key_id: str
    webhook_secret: str


@dataclass(frozen=True)
class NewTenant:
    tenant_id: str
    name: str
    credentials: TenantCredentials

    def to_json(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "api_key": self.credentials.api_key,
            "webhook_secret": self.credentials.webhook_secret,
        }


def _hash_key(presented: str) -> bytes:
    return hashlib.sha256(presented.encode()).digest()


def issue_api_key(db: Session, tenant_id: str, label: str = "") -> tuple[str, str]:
    """A new key for ``tenant_id``: returns ``(key_id, plaintext key)``; only the hash is stored."""
    key_id = "key_" + secrets.token_hex(KEY_ID_BYTES)
    plaintext = f"{API_KEY_PREFIX}{key_id[4:]}_{secrets.token_urlsafe(SECRET_BYTES)}"
    db.add(ApiKey(key_id=key_id, tenant_id=tenant_id, key_hash=_hash_key(plaintext), label=label[:100],
                  created_at=utcnow()))
    db.flush()
    return key_id, plaintext


def _parse_key_id(presented: str) -> str | None:
    if not presented.startswith(API_KEY_PREFIX) or len(presented) > 200:
        return None
    key_hex, sep, _secret = presented[len(API_KEY_PREFIX):].partition("_")
    if not sep or len(key_hex) != 2 * KEY_ID_BYTES:
        return None
    try:
        int(key_hex, 16)
    except ValueError:
        return None
    return "key_" + key_hex


def authenticate(db: Session, presented: str) -> AuthenticatedKey | None:
    """The tenant behind a presented key, or None for unknown, malformed or revoked keys."""
    key_id = _parse_key_id(presented)
    if key_id is None:
        return None
    row = db.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _hash_key(presented)):
        return None
    return AuthenticatedKey(key_id=row.key_id, tenant_id=row.tenant_id)


def revoke_api_key(db: Session, key_id: str, tenant_id: str | None = None) -> bool:
    """Revoke one key (optionally only if it belongs to ``tenant_id``); False if there is no such live key."""
    row = db.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None or (tenant_id is not None and row.tenant_id != tenant_id):
        return False
    row.revoked_at = utcnow()
    db.flush()
    return True


def list_api_keys(db: Session, tenant_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(db.scalars(query))


def issue_webhook_secret(db: Session, box: SecretBox, tenant_id: str) -> str:
    """A new current signing secret for ``tenant_id``; returns the plaintext (shown once)."""
    plaintext = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    db.add(
        WebhookSecret(
            secret_id=new_prefixed_id("whs_"),
            tenant_id=tenant_id,
            sealed=box.seal(plaintext.encode(), tenant_id.encode()),
            master_key_id=box.key_id,
            created_at=utcnow(),
        )
    )
    db.flush()
    return plaintext


def rotate_webhook_secret(
    db: Session, box: SecretBox, tenant_id: str, overlap: timedelta = WEBHOOK_SECRET_OVERLAP
) -> str:
    """Issue a new secret; the older ones keep signing until ``now + overlap`` at most. Returns the new one."""
    ends = utcnow() + overlap
    for row in db.scalars(select(WebhookSecret).where(WebhookSecret.tenant_id == tenant_id)):
        if row.expires_at is None or row.expires_at > ends:
            row.expires_at = ends
    return issue_webhook_secret(db, box, tenant_id)


def active_webhook_secrets(db: Session, box: SecretBox, tenant_id: str, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: the current one first, then those still in their overlap."""
    now = now or utcnow()
    rows = db.scalars(
        select(WebhookSecret)
        .where(WebhookSecret.tenant_id == tenant_id)
        .order_by(WebhookSecret.created_at.desc())
    )
    return [
        box.open(row.sealed, tenant_id.encode(), row.master_key_id).decode()
        for row in rows
        if row.expires_at is None or row.expires_at > now
    ]


class TenantCreator(Protocol):
    """The core's tenant creation (:meth:`videoident.service.IdentService.create_tenant`)."""

    def create_tenant(self, name: str, display_name: str, *, masking_profile: Any = ...) -> Any: ...


def provision_tenant(
    creator: TenantCreator, db: Session, box: SecretBox, name: str, display_name: str, masking_profile: Any
) -> NewTenant:
    """Create a bank: the core's tenant row, then its first API key and webhook secret (shown once).

    ``db`` is committed here; if issuing the credentials fails, ``videoident tenants add-key`` recovers."""
    tenant = creator.create_tenant(name, display_name, masking_profile=masking_profile)
    key_id, api_key = issue_api_key(db, tenant.id, "initial")
    secret = issue_webhook_secret(db, box, tenant.id)
    db.commit()
    return NewTenant(tenant_id=tenant.id, name=name,
                     credentials=TenantCredentials(api_key=api_key, key_id=key_id, webhook_secret=secret))
