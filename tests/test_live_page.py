"""The customer page's texts: every language has every text, every text the page uses exists, and every
guidance code the analyzer can send has words in every language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "api" / "static" / "customer"
LANGUAGES = ("en", "nl", "de", "fa")
#: Guidance codes of pipelines.quality.Guidance (the analyzer's stable codes).
GUIDANCE = (
    "connection_problem more_light less_light hold_still show_document move_closer center_document avoid_glare "
    "show_face show_front show_back tilt_left tilt_right tilt_towards_you tilt_away"
).split()


def _tables() -> dict[str, dict[str, str]]:
    text = (STATIC / "i18n.js").read_text(encoding="utf-8")
    tables: dict[str, dict[str, str]] = {}
    blocks = re.split(r"^  (\w\w): \{$", text, flags=re.MULTILINE)
    for lang, body in zip(blocks[1::2], blocks[2::2], strict=True):
        tables[lang] = dict(re.findall(r'(\w+): "((?:[^"\\]|\\.)*)"', body))
    return tables


def test_every_language_has_every_text() -> None:
    tables = _tables()
    assert set(tables) == set(LANGUAGES)
    for lang in LANGUAGES:
        assert set(tables[lang]) == set(tables["en"]), lang
        assert all(value.strip() for value in tables[lang].values()), lang
    assert tables["fa"]["dir"] == "rtl" and {tables[x]["dir"] for x in ("en", "nl", "de")} == {"ltr"}
    # Translated, not copied: the consent texts differ from English in every other language.
    for lang in ("nl", "de", "fa"):
        assert tables[lang]["consent_who"] != tables["en"]["consent_who"]
        # Placeholders survive translation.
        for key, value in tables["en"].items():
            assert set(re.findall(r"\{\w+\}", value)) == set(re.findall(r"\{\w+\}", tables[lang][key])), (lang, key)


def test_the_page_uses_only_known_texts_and_every_guidance_code_has_words() -> None:
    english = _tables()["en"]
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-t="(\w+)"', html))
    used |= set(re.findall(r'\bt\("(\w+)"\s*[,)]', (STATIC / "app.js").read_text(encoding="utf-8")))
    assert used - set(english) == set()
    assert {f"g_{code}" for code in GUIDANCE} <= set(english)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_consent_says_what_why_how_long_and_no_third_parties(lang: str) -> None:
    table = _tables()[lang]
    for key in ("consent_what", "consent_why", "consent_how_long", "consent_who", "consent_rights"):
        assert len(table[key]) > 60, key
    assert "{years}" in table["consent_how_long"] and "{bank}" in table["consent_who"]


#: SHA-256 of every language's consent texts (the ``consent*`` keys) per consent version. A change of the text
#: fails :func:`test_a_changed_consent_text_has_a_new_version` until CONSENT_VERSION is bumped (the audit log
#: records which text the customer agreed to) and the new digest is added here.
CONSENT_TEXT_SHA256 = {
    "2026-11-2": "ae7c7a9b8a743a0bf0c2fad3524d92d06f610c4f7f5ca6e37cc5bc74b3f51b76",
}


def _consent_digest() -> str:
    import hashlib

    tables = _tables()
    parts = [f"{lang}\t{key}\t{value}" for lang in sorted(tables) for key, value in sorted(tables[lang].items())
             if key.startswith("consent")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def test_a_changed_consent_text_has_a_new_version() -> None:
    from api.routers.customer import CONSENT_VERSION

    assert CONSENT_TEXT_SHA256.get(CONSENT_VERSION) == _consent_digest(), (
        "the consent text changed: bump CONSENT_VERSION in api/routers/customer.py and record the new digest")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_consent_names_the_cancel_button_not_closing_the_page(lang: str) -> None:
    table = _tables()[lang]
    # The button's own label, as the page shows it in this language.
    assert table["cancel"] in table["consent_rights"]
    closing = {"en": "closing this page", "nl": "pagina te sluiten", "de": "Seite schließen", "fa": "بستن این صفحه"}
    assert closing[lang] not in table["consent_rights"]
