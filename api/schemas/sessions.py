"""Ident sessions as the bank sees them: create, status, result."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import CountryCode, PersonName, ReferenceText, SessionId

__all__ = [
    "CheckPublic",
    "CheckSummary",
    "ClaimedIdentityCreate",
    "ContactCreate",
    "PurposeIn",
    "ReactivationPublic",
    "SessionCreate",
    "SessionCreated",
    "SessionPublic",
    "SessionResult",
]

#: Oldest birthdate accepted: nobody alive was born before 1900.
OLDEST_BIRTHDATE = dt.date(1900, 1, 1)


class PurposeIn(StrEnum):
    ACCOUNT_OPENING = "account_opening"
    REACTIVATION = "reactivation"


class ClaimedIdentityCreate(BaseModel):
    """Who the bank believes the customer is; the ident checks the document against it."""

    model_config = ConfigDict(extra="forbid")

    given_name: PersonName = Field(examples=["Erika"])
    family_name: PersonName = Field(examples=["Mustermann"])
    birthdate: dt.date = Field(examples=["1983-08-12"])
    document_number: str | None = Field(
        default=None, min_length=5, max_length=20, pattern=r"^[A-Za-z0-9<]+$", examples=["T22000129"],
        description="If known (reactivation: the number on file).",
    )
    nationality: CountryCode | None = Field(default=None, examples=["DEU"], description="ICAO 9303 code")

    @model_validator(mode="after")
    def _birthdate_is_plausible(self) -> Self:
        if not OLDEST_BIRTHDATE <= self.birthdate < dt.date.today():
            raise ValueError(f"birthdate must be between {OLDEST_BIRTHDATE} and yesterday")
        return self


class ContactCreate(BaseModel):
    """Where the TAN goes at the end of the ident (at least one)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                              examples=["erika@example.org"])
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", examples=["+4915112345678"],
                              description="E.164")

    @model_validator(mode="after")
    def _one_channel(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError("give an email or a phone number for the TAN")
        return self


class SessionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reference": "order-4711",
                    "purpose": "account_opening",
                    "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann",
                                         "birthdate": "1983-08-12", "nationality": "DEU"},
                    "contact": {"email": "erika@example.org"},
                    "callback_url": "https://bank.example/hooks/videoident",
                    "locale": "de",
                }
            ]
        },
    )

    reference: ReferenceText = Field(description="Your own reference (order or customer number; no personal data).")
    purpose: PurposeIn = PurposeIn.ACCOUNT_OPENING
    claimed_identity: ClaimedIdentityCreate
    contact: ContactCreate | None = None
    reference_session_id: SessionId | None = Field(
        default=None, description="For purpose=reactivation: a completed session of yours to compare against."
    )
    callback_url: str | None = Field(default=None, max_length=2048,
                                     description="Receives a signed webhook on every status change.")
    locale: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", examples=["de", "en", "nl-NL"])

    @model_validator(mode="after")
    def _reactivation_needs_reference(self) -> Self:
        if self.purpose is PurposeIn.REACTIVATION and self.reference_session_id is None:
            raise ValueError("purpose reactivation needs reference_session_id")
        if self.purpose is PurposeIn.ACCOUNT_OPENING and self.reference_session_id is not None:
            raise ValueError("reference_session_id is only for purpose reactivation")
        return self


class SessionCreated(BaseModel):
    id: str = Field(examples=["5b0d7f0e-8a53-4a8e-9a53-6f4c0d8f2f11"])
    status: str = Field(examples=["created"])
    purpose: PurposeIn
    reference: str
    customer_url: str = Field(
        examples=["https://kyc.bank.example/ident/q3Vb..."],
        description="Send this link to the customer. Single use, unguessable; shown only in this response.",
    )
    created_at: AwareDatetime
    expires_at: AwareDatetime


class CheckSummary(BaseModel):
    name: str = Field(examples=["mrz"])
    verdict: str = Field(examples=["pass"], description="pass | fail | inconclusive")
    score: float | None = Field(default=None, ge=0, le=1)


class SessionPublic(BaseModel):
    id: str
    status: str = Field(examples=["in_call"])
    purpose: PurposeIn
    reference: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    expires_at: AwareDatetime
    decision: str | None = Field(default=None, examples=["approved"])
    checks: list[CheckSummary] = Field(default_factory=list)
    erased_at: AwareDatetime | None = Field(default=None, description="Set once the session was erased.")


class CheckPublic(CheckSummary):
    reason_code: str = Field(examples=["check_digits_valid"])
    reason: str | None = Field(default=None, description="The reason in words (no personal data).")
    recorded_at: AwareDatetime | None = None


class ReactivationPublic(BaseModel):
    reference_session_id: str
    face: CheckPublic = Field(description="Live face against the reference session's stored face template.")
    document_number: CheckPublic = Field(description="Document number now against the reference session's.")


class SessionResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5b0d7f0e-8a53-4a8e-9a53-6f4c0d8f2f11", "status": "completed", "purpose": "account_opening",
                    "reference": "order-4711", "decision": "approved", "reason_codes": ["identity_verified"],
                    "checks": [{"name": "mrz", "verdict": "pass", "score": 1.0, "reason_code": "check_digits_valid"}],
                    "agent_id": "agent-7", "created_at": "2026-11-25T10:00:00Z",
                    "decided_at": "2026-11-25T10:07:12Z", "completed_at": "2026-11-25T10:08:40Z",
                    "verified_claims": {"verification": {"trust_framework": "de_aml"}, "claims": {}},
                }
            ]
        }
    )

    id: str
    status: str
    purpose: PurposeIn
    reference: str
    decision: str = Field(examples=["approved"], description="approved | rejected | aborted")
    reason_codes: list[str]
    checks: list[CheckPublic]
    agent_id: str | None = None
    reviewed_by: str | None = Field(default=None, description="The supervisor of a four-eyes review, if any.")
    created_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    verified_claims: dict[str, Any] | None = Field(
        default=None,
        description="OpenID Connect for Identity Assurance 1.0 verified_claims; only for an approved identity.",
    )
    reactivation: ReactivationPublic | None = None
