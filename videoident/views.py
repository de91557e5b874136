"""Plain value objects the service returns and accepts (no ORM objects leave the core)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipelines.identity import ClaimedIdentity  # the shared value object (validated, repr redacted)
from videoident.records import EvidenceRecord, IdentSessionRecord, TenantRecord
from videoident.states import Decision, Purpose, ReasonCode, SessionStatus, bank_status

__all__ = ["ClaimedIdentity", "Contact", "SessionView", "CreatedSession", "TenantView", "EvidenceView",
           "QueuePosition"]


@dataclass(frozen=True)
class Contact:
    """Where the TAN goes: an e-mail address and/or an E.164 phone number (PII: stored sealed only)."""

    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.email and not self.phone:
            raise ValueError("a contact needs an e-mail address or a phone number")


@dataclass(frozen=True)
class TenantView:
    id: str
    name: str
    display_name: str
    masking_profile: str
    retention_days: int

    @classmethod
    def of(cls, r: TenantRecord) -> TenantView:
        return cls(r.id, r.name, r.display_name, r.masking_profile, r.retention_days)


@dataclass(frozen=True)
class SessionView:
    """A session's non-PII state. ``status`` is the internal one; ``bank_status`` what a bank may see."""

    id: str
    tenant_id: str
    status: SessionStatus
    purpose: Purpose
    reference: str
    callback_url: str | None
    locale: str
    reference_session_id: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    agent_id: str | None
    decision: Decision | None
    reason_code: ReasonCode | None
    decided_by: str | None
    decided_at: datetime | None
    override: bool
    reviewed_by: str | None
    tan_failed_attempts: int
    ended_at: datetime | None
    erased_at: datetime | None
    has_contact: bool

    @property
    def bank_status(self) -> SessionStatus:
        return bank_status(self.status)

    @classmethod
    def of(cls, r: IdentSessionRecord) -> SessionView:
        return cls(
            r.id, r.tenant_id, SessionStatus(r.status), Purpose(r.purpose), r.reference, r.callback_url, r.locale,
            r.reference_session_id, r.created_at, r.updated_at, r.expires_at, r.agent_id,
            Decision(r.decision) if r.decision else None, ReasonCode(r.reason_code) if r.reason_code else None,
            r.decided_by, r.decided_at, bool(r.override), r.reviewed_by, r.tan_failed_attempts, r.ended_at,
            r.erased_at, r.contact_enc is not None,
        )


@dataclass(frozen=True)
class QueuePosition:
    """A waiting customer's place in the waiting room.

    ``position``: 1 = next; ``waiting``: customers waiting in total (this one included); ``agents_busy``:
    calls in progress now; ``estimated_wait_s``: seconds until an agent is expected to take this customer.
    """

    position: int
    waiting: int
    agents_busy: int
    estimated_wait_s: int

    def __post_init__(self) -> None:
        if not 1 <= self.position <= self.waiting:
            raise ValueError(f"position {self.position} must be within 1..{self.waiting}")
        if self.agents_busy < 0 or self.estimated_wait_s < 0:
            raise ValueError("agents_busy and estimated_wait_s cannot be negative")


@dataclass(frozen=True)
class CreatedSession:
    session: SessionView
    #: The customer link token: shown once, only its SHA-256 is stored.
    customer_token: str = field(repr=False)


@dataclass(frozen=True)
class EvidenceView:
    id: str
    session_id: str
    kind: str
    variant: str
    source_id: str | None
    template: str | None
    media_type: str
    size_bytes: int
    masked_fields: tuple[str, ...] | None
    created_at: datetime

    @property
    def exportable(self) -> bool:
        return self.variant == "export"

    @classmethod
    def of(cls, r: EvidenceRecord) -> EvidenceView:
        return cls(r.id, r.session_id, r.kind, r.variant, r.source_id, r.template, r.media_type, r.size_bytes,
                   tuple(r.masked_fields) if r.masked_fields is not None else None, r.created_at)
