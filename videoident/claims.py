"""The verified identity as OpenID Connect for Identity Assurance 1.0 ``verified_claims``.

Shape (OIDC4IDA 1.0, the ``document`` evidence type with ``check_details``)::

    {"verification": {"trust_framework": "de_aml", "time": "...Z", "verification_process": "<session id>",
                      "evidence": [{"type": "document", "method": "sripp", "time": "...Z",
                                    "check_details": [{"check_method": "vpiruv", ...}, {"check_method": "pvr", ...}],
                                    "document_details": {"type": "idcard", "document_number": "...",
                                                         "issuer": {"country_code": "DEU"},
                                                         "date_of_expiry": "2031-08-01"}}]},
     "claims": {"given_name": ..., "family_name": ..., "birthdate": ..., "nationalities": ["DEU"]}}

``sripp`` (supervised remote in-person proofing) is the spec's name for a video ident; ``vpiruv`` says the
agent inspected the physical document remotely under video, ``pvr`` that the agent matched the person to the
photo remotely. Country codes are ICAO 9303 three-letter codes (the German ``D`` becomes ``DEU``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pipelines.results import CheckResult, Reason, Verdict

__all__ = [
    "DocumentType",
    "TrustFramework",
    "VerifiedDocument",
    "VerifiedPerson",
    "compare_document_numbers",
    "document_from_mrz",
    "trust_framework_for",
    "icao_country",
    "verified_claims",
]

#: OIDC4IDA ``method`` for a video ident: "supervised remote in-person proofing".
METHOD_VIDEO_IDENT = "sripp"
#: ``check_method`` values (OIDC4IDA predefined values): document inspected remotely under video, and the
#: person verified remotely against the document photo by the agent.
CHECK_DOCUMENT_VIDEO = "vpiruv"
CHECK_PERSON_REMOTE = "pvr"


class TrustFramework(StrEnum):
    """Registered OIDC4IDA trust framework identifiers (and one for the Dutch Wwft, unregistered)."""

    DE_AML = "de_aml"  # German Geldwäschegesetz (GwG) and BaFin circular 3/2017 video ident
    EIDAS = "eidas"
    NL_WWFT = "nl_wwft"  # no registered identifier yet; a bank may map it


class DocumentType(StrEnum):
    """OIDC4IDA ``document_details.type`` values for the documents a video ident accepts."""

    IDCARD = "idcard"
    PASSPORT = "passport"
    RESIDENCE_PERMIT = "residence_permit"

    @classmethod
    def from_mrz_format(cls, mrz_format: str) -> DocumentType:
        """TD1 is a card (ID card or residence permit: the caller knows which), TD3 a passport."""
        return cls.PASSPORT if mrz_format.upper() == "TD3" else cls.IDCARD


def icao_country(code: str) -> str:
    """An MRZ country code as the three letters OIDC4IDA expects: ``D<<`` / ``D`` -> ``DEU``."""
    code = code.rstrip("<").upper()
    if code == "D":
        return "DEU"
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ICAO 9303 country code: {code!r}")
    return code


@dataclass(frozen=True)
class VerifiedPerson:
    given_name: str
    family_name: str
    birthdate: date
    nationality: str | None = None

    def __post_init__(self) -> None:
        if not self.given_name.strip() and not self.family_name.strip():
            raise ValueError("a verified person needs a name")
        if self.nationality is not None:
            object.__setattr__(self, "nationality", icao_country(self.nationality))


@dataclass(frozen=True)
class VerifiedDocument:
    document_type: DocumentType
    document_number: str | None
    issuing_country: str
    date_of_expiry: date | None = None
    date_of_issuance: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuing_country", icao_country(self.issuing_country))
        if self.document_number is not None:
            object.__setattr__(self, "document_number", self.document_number.rstrip("<").upper())


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime; pass an aware UTC time")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def verified_claims(
    *,
    trust_framework: TrustFramework,
    verified_at: datetime,
    session_id: str,
    organization: str,
    person: VerifiedPerson,
    document: VerifiedDocument,
    agent_id: str | None = None,
) -> dict[str, Any]:
    """The ``verified_claims`` object of an approved session (only call it for one that was approved).

    ``verified_at`` is the moment the identity was verified (the agent's approval, UTC); ``organization``
    the party that verified (this service's operator); ``agent_id`` goes into the person check's ``txn``."""
    when = _utc_iso(verified_at)
    document_details: dict[str, Any] = {
        "type": document.document_type.value,
        "issuer": {"country_code": document.issuing_country},
    }
    if document.document_number:
        document_details["document_number"] = document.document_number
    if document.date_of_issuance is not None:
        document_details["date_of_issuance"] = document.date_of_issuance.isoformat()
    if document.date_of_expiry is not None:
        document_details["date_of_expiry"] = document.date_of_expiry.isoformat()
    person_check: dict[str, Any] = {"check_method": CHECK_PERSON_REMOTE, "organization": organization, "time": when}
    if agent_id:
        person_check["txn"] = agent_id
    claims: dict[str, Any] = {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "birthdate": person.birthdate.isoformat(),
    }
    if person.nationality:
        claims["nationalities"] = [person.nationality]
    return {
        "verification": {
            "trust_framework": trust_framework.value,
            "time": when,
            "verification_process": session_id,
            "evidence": [
                {
                    "type": "document",
                    "method": METHOD_VIDEO_IDENT,
                    "time": when,
                    "check_details": [
                        {"check_method": CHECK_DOCUMENT_VIDEO, "organization": organization,
                         "txn": session_id, "time": when},
                        person_check,
                    ],
                    "document_details": document_details,
                }
            ],
        },
        "claims": claims,
    }


def _normalise_number(number: str) -> str:
    return number.replace("<", "").replace(" ", "").upper()


def compare_document_numbers(reference: str | None, live: str | None) -> CheckResult:
    """Reactivation: the document number read now against the one stored for the reference session.

    Pass when equal; fail when both are known and differ (a new document must go through a full ident,
    not a reactivation); inconclusive when either is unknown."""
    name = "reactivation_document_number"
    if not reference:
        return CheckResult.inconclusive(name, "reference_number_unknown",
                                        "the reference session has no verified document number")
    if not live:
        return CheckResult.inconclusive(name, "live_number_unread", "no document number was read in this session")
    if _normalise_number(reference) == _normalise_number(live):
        return CheckResult(name, Verdict.PASS, Reason("document_number_matches",
                                                      "the same document as in the reference session"), 1.0)
    return CheckResult(name, Verdict.FAIL, Reason("document_number_differs",
                                                  "a different document than in the reference session"), 0.0)


def trust_framework_for(masking_profile: str) -> TrustFramework:
    """The legal framework a tenant's profile works under: the Dutch Wwft, else the German GwG
    (video ident as BaFin circular 3/2017 describes it, which this service implements)."""
    return TrustFramework.NL_WWFT if masking_profile == "wwft_nl" else TrustFramework.DE_AML


def _date_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def document_from_mrz(fields: Mapping[str, Any]) -> VerifiedDocument | None:
    """The document as the MRZ check read it (its ``fields`` measurement), or None without an issuer."""
    issuer = str(fields.get("issuing_state") or "")
    try:
        country = icao_country(issuer)
    except ValueError:
        return None
    number = fields.get("document_number")
    return VerifiedDocument(
        document_type=DocumentType.from_mrz_format(str(fields.get("document_type", ""))),
        document_number=str(number) if number else None,
        issuing_country=country,
        date_of_expiry=_date_or_none(fields.get("expiry_date")),
    )
