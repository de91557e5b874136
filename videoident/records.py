"""The core's tables (SQLAlchemy 2 ORM on :class:`videoident.db.Base`).

PII never has a plaintext column: the claimed identity, contact, decision comments, extracted fields and
check measurements live in ``*_enc`` columns sealed with the session's data key (see :mod:`videoident.crypto`),
so destroying the data key (erasure) makes them unreadable. Times are stored as naive UTC and read back as
aware UTC (:class:`UTCDateTime`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from videoident.db import Base
from videoident.ids import new_uuid

__all__ = [
    "UTCDateTime",
    "TenantRecord",
    "IdentSessionRecord",
    "CheckResultRecord",
    "EvidenceRecord",
    "TanChallengeRecord",
    "DataKeyRecord",
    "AuditEventRecord",
    "OutboxEventRecord",
]

#: GwG section 8 (4): records are kept for five years (counted here from the end of the session).
GWG_RETENTION_DAYS = 5 * 366
#: Sessions that never completed carry no record-keeping duty; 90 days leaves time for fraud follow-up.
UNSUCCESSFUL_RETENTION_DAYS = 90



class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored as naive UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class TenantRecord(Base):
    """A bank (or exchange). Its display name goes into TAN messages; its profile decides masking."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: :class:`videoident.masking_policy.Profile` value.
    masking_profile: Mapped[str] = mapped_column(String(40), default="default")
    #: For the ``custom`` profile: {"stored": [field, ...], "exported": [field, ...]} masked field names.
    masking_custom: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=GWG_RETENTION_DAYS)
    unsuccessful_retention_days: Mapped[int] = mapped_column(Integer, default=UNSUCCESSFUL_RETENTION_DAYS)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentSessionRecord(Base):
    __tablename__ = "ident_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    #: The bank's own reference (an order or customer number it chose; not PII by contract).
    reference: Mapped[str] = mapped_column(String(200))
    callback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    locale: Mapped[str] = mapped_column(String(20), default="en")
    reference_session_id: Mapped[str | None] = mapped_column(ForeignKey("ident_sessions.id"), nullable=True)
    #: SHA-256 hex of the customer link token (the token itself is never stored).
    customer_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Sealed JSON of the claimed identity and contact (PII).
    claimed_identity_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Sealed free text of the agent (may name the customer).
    decision_comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The decision the agent asked for when sending the session to four-eyes review.
    review_requested_decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: Sealed free text of the four-eyes reviewer.
    review_comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: Wrong TAN entries so far, across every re-sent TAN (re-sending never resets it).
    tan_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Optimistic locking: two workers changing one session at once -> one of them gets StaleDataError.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_ident_sessions_tenant_reference", "tenant_id", "reference"),)


class CheckResultRecord(Base):
    """One automatic check's result. The measurements (may hold MRZ fields, names) are sealed."""

    __tablename__ = "check_results"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    session_id: Mapped[str] = mapped_column(ForeignKey("ident_sessions.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    verdict: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason_code: Mapped[str] = mapped_column(String(100))
    #: Sealed JSON {"reason_text": ..., "measurements": {...}}.
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceRecord(Base):
    """One encrypted blob in the vault (a still, a recording segment, extracted data)."""

    __tablename__ = "evidence_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    session_id: Mapped[str] = mapped_column(ForeignKey("ident_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    #: "stored" (masked by the tenant's storage policy) or "export" (masked by its export policy).
    variant: Mapped[str] = mapped_column(String(20))
    #: The still this one was derived from (the export variant points at its stored variant).
    source_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    template: Mapped[str | None] = mapped_column(String(30), nullable=True)
    media_type: Mapped[str] = mapped_column(String(60))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    #: Field names masked in this variant, e.g. ["can"]; None = nothing could be masked (no template).
    masked_fields: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: Path of the sealed file relative to the vault root.
    blob_path: Mapped[str] = mapped_column(String(300))
    captured_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TanChallengeRecord(Base):
    """A TAN sent to the customer: only its keyed hash is stored. Single use, bound to session + purpose."""

    __tablename__ = "tan_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    session_id: Mapped[str] = mapped_column(ForeignKey("ident_sessions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    #: HMAC-SHA256 hex of "challenge id|session id|purpose|code" under the TAN key of ``master_key_id``.
    code_hmac: Mapped[str] = mapped_column(String(64))
    master_key_id: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set when a newer TAN replaced this one (only the newest is valid).
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DataKeyRecord(Base):
    """A session's data key, wrapped by the master key ``master_key_id``. NULL after erasure."""

    __tablename__ = "data_keys"

    session_id: Mapped[str] = mapped_column(ForeignKey("ident_sessions.id"), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str] = mapped_column(String(50), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEventRecord(Base):
    """One append-only audit entry; ``hash`` covers its content and the previous entry's hash."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    tenant_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: No foreign key: the audit trail outlives whatever it talks about.
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: Non-PII details only (status names, reason codes, item ids, counts).
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class OutboxEventRecord(Base):
    """A status event for the bank, written in the same transaction as the status change.

    The webhook deliverer reads undelivered rows in ``id`` order and sets ``dispatched_at``."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    tenant_id: Mapped[str] = mapped_column(String(36), index=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(60))
    #: Non-PII JSON: ids, reference, status, previous status, decision, reason code, time.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
