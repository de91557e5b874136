"""verified_claims (OpenID Connect for Identity Assurance 1.0) and the reactivation document check."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipelines.results import Verdict
from videoident.claims import (
    DocumentType,
    TrustFramework,
    VerifiedDocument,
    VerifiedPerson,
    compare_document_numbers,
    document_from_mrz,
    icao_country,
    trust_framework_for,
    verified_claims,
)

WHEN = datetime(2026, 11, 25, 10, 7, 12, 345000, tzinfo=UTC)


def test_a_passport_becomes_document_evidence_with_its_issuer_and_expiry() -> None:
    document = document_from_mrz({"document_type": "TD3", "issuing_state": "NLD", "document_number": "SPECI2014",
                                  "expiry_date": "2031-03-09"})
    assert document == VerifiedDocument(DocumentType.PASSPORT, "SPECI2014", "NLD", date(2031, 3, 9))
    claims = verified_claims(trust_framework=TrustFramework.NL_WWFT, verified_at=WHEN, session_id="s1",
                             organization="kyc.example", person=VerifiedPerson("Willeke", "De Bruijn",
                                                                                date(1965, 3, 10), "NLD"),
                             document=document, agent_id="agent-3")
    verification = claims["verification"]
    assert verification["trust_framework"] == "nl_wwft" and verification["time"] == "2026-11-25T10:07:12Z"
    (evidence,) = verification["evidence"]
    assert evidence["method"] == "sripp"
    assert [c["check_method"] for c in evidence["check_details"]] == ["vpiruv", "pvr"]
    assert evidence["check_details"][1]["txn"] == "agent-3"
    assert evidence["document_details"] == {"type": "passport", "document_number": "SPECI2014",
                                            "issuer": {"country_code": "NLD"}, "date_of_expiry": "2031-03-09"}
    assert claims["claims"]["nationalities"] == ["NLD"]


def test_unreadable_mrz_fields_give_no_document_rather_than_a_guess() -> None:
    assert document_from_mrz({}) is None
    assert document_from_mrz({"issuing_state": "1<<"}) is None
    partial = document_from_mrz({"issuing_state": "D<<", "expiry_date": "not-a-date"})
    assert partial is not None and partial.issuing_country == "DEU" and partial.date_of_expiry is None
    claims = verified_claims(trust_framework=TrustFramework.DE_AML, verified_at=WHEN, session_id="s",
                             organization="o", person=VerifiedPerson("A", "B", date(1990, 1, 1)), document=partial)
    details = claims["verification"]["evidence"][0]["document_details"]
    assert "document_number" not in details and "date_of_expiry" not in details
    assert "nationalities" not in claims["claims"]


def test_country_codes_and_trust_frameworks() -> None:
    assert icao_country("D<<") == icao_country("D") == "DEU"
    assert icao_country("nld") == "NLD"
    for bad in ("", "DE", "D1<", "DEUT"):
        with pytest.raises(ValueError):
            icao_country(bad)
    assert trust_framework_for("wwft_nl") is TrustFramework.NL_WWFT
    assert trust_framework_for("gwg_de") is trust_framework_for("crypto_exchange") is TrustFramework.DE_AML


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        verified_claims(trust_framework=TrustFramework.DE_AML, verified_at=datetime(2026, 1, 1), session_id="s",
                        organization="o", person=VerifiedPerson("A", "B", date(1990, 1, 1)),
                        document=VerifiedDocument(DocumentType.IDCARD, None, "DEU"))


@pytest.mark.parametrize(
    "reference, live, verdict",
    [("T22000129", "T22000129", Verdict.PASS), ("T22000129", "t2200 0129<", Verdict.PASS),
     ("T22000129", "L01X00T47", Verdict.FAIL), (None, "L01X00T47", Verdict.INCONCLUSIVE),
     ("T22000129", None, Verdict.INCONCLUSIVE), ("", "", Verdict.INCONCLUSIVE)],
)
def test_reactivation_document_numbers(reference: str | None, live: str | None, verdict: Verdict) -> None:
    assert compare_document_numbers(reference, live).verdict is verdict
