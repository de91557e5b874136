"""The security features the console asks the agent to inspect: three distinct ones per session, drawn at
random from the document's catalogue, and the template the live report points to."""

from __future__ import annotations

from pipelines.layouts import Template
from videoident.security_features import (
    CATALOGUE,
    FEATURES_PER_SESSION,
    GENERIC_ID1,
    draw_features,
    features_for,
    template_from_report,
)


def test_three_distinct_features_of_the_template() -> None:
    for template in Template:
        drawn = draw_features(template)
        assert len(drawn) == FEATURES_PER_SESSION == len({f.code for f in drawn})
        assert set(drawn) <= set(CATALOGUE[template])
        assert all(f.look_for and f.where and f.name for f in drawn)


def test_the_draw_is_random_over_the_whole_catalogue() -> None:
    # 200 draws of 3 out of 8: the chance that some feature never appears is about 8 * (5/8)^200.
    seen = {f.code for _ in range(200) for f in draw_features(Template.DE_ID)}
    assert seen == {f.code for f in CATALOGUE[Template.DE_ID]}


def test_unknown_documents_get_the_generic_id1_features() -> None:
    assert features_for(None) == GENERIC_ID1
    assert set(draw_features(None)) <= set(GENERIC_ID1)


def test_template_from_the_live_report() -> None:
    assert template_from_report({}) is None
    assert template_from_report({"mrz": {"verdict": "inconclusive"}}) is None
    assert template_from_report({"mrz": {"fields": {"document_type": "TD1", "issuing_state": "D"}}}) is Template.DE_ID
    assert template_from_report({"mrz": {"fields": {"document_type": "TD1", "issuing_state": "NLD"}}}) is Template.NL_ID
    passport = {"mrz": {"fields": {"document_type": "TD3", "issuing_state": "UTO"}}}
    assert template_from_report(passport) is Template.PASSPORT
    assert template_from_report({"document": {"kind": "td3"}}) is Template.PASSPORT
    assert template_from_report({"document": {"kind": "id1"}, "mrz": {"fields": {"issuing_state": "FRA"}}}) is None
    # A read MRZ outweighs the document shape (a German card must never be masked as a passport).
    german = {"document": {"kind": "td3"}, "mrz": {"fields": {"document_type": "TD1", "issuing_state": "D"}}}
    assert template_from_report(german) is Template.DE_ID


def test_a_viewer_without_the_right_sees_the_mrz_masked() -> None:
    from videoident.agents import mask, masked_report

    report = {"mrz": {"verdict": "pass", "lines": ["IDD<<T220001293<<<<<<<<<<<<<<<"],
                      "fields": {"surname": "MUSTERMANN", "document_type": "TD1", "issuing_state": "D",
                                 "document_number": "T22000129"}},
              "tilt": {"verdict": "pass"}}
    shown = masked_report(report)
    assert "T22000129" not in str(shown) and "MUSTERMANN" not in str(shown)
    assert shown["mrz"]["fields"]["issuing_state"] == "D" and shown["tilt"] == {"verdict": "pass"}
    assert report["mrz"]["fields"]["surname"] == "MUSTERMANN"  # the original is untouched
    assert mask("T22000129", 3) == "••••••129" and mask("Erika") == "E••••" and mask(None) is None
