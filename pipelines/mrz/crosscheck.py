"""Compare an MRZ with the identity the bank claimed and with the printed visual zone.

Check digits do not cover names, nationality or sex, so these comparisons are what catches a forged or
misread name. Names are compared after ICAO 9303 part 3 transliteration (``Ä -> AE``, ``ß -> SS``...)
and, as some states print ``Ä -> A``, also after plain accent removal; either matching is a match.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping

from pipelines.identity import ClaimedIdentity
from pipelines.mrz.parse import MrzDocument

__all__ = ["transliterate", "name_variants", "names_match", "compare_to_claim", "same_country", "parse_printed_date"]

#: ICAO 9303 part 3, section 6 (Table A): recommended transliterations of Latin letters with diacritics.
_ICAO_TRANSLIT = {
    "Ä": "AE", "Æ": "AE", "Å": "AA", "Ö": "OE", "Ø": "OE", "Œ": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
    "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ĳ": "IJ", "ı": "I",
}  # fmt: skip
#: ICAO alpha codes that are not ISO codes but name the same state.
_SAME_STATE = {"D": "DEU"}


def _fold(text: str, table: Mapping[str, str]) -> str:
    text = unicodedata.normalize("NFC", text).upper()
    out = []
    for char in text:
        upper = char.upper()
        if upper in table or char in table:
            out.append(table.get(upper, table.get(char, "")))
            continue
        base = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in base if not unicodedata.combining(c))
        for c in base:
            if "A" <= c <= "Z" or c.isdigit():
                out.append(c)
            elif c in " -,<":
                out.append("<")
            # apostrophes and other marks are omitted (ICAO 9303 part 3, 4.6)
    return "".join(out)


def _words(mrz_name: str) -> str:
    return " ".join(w for w in mrz_name.replace("<", " ").split())


def transliterate(name: str) -> str:
    """A printed name in MRZ form, words separated by spaces: ``Müller-Lüdenscheidt`` ->
    ``MUELLER LUEDENSCHEIDT``."""
    return _words(_fold(name, _ICAO_TRANSLIT))


def name_variants(name: str) -> set[str]:
    """The ICAO transliteration and the accent-stripped form (``MUELLER``, ``MULLER``)."""
    return {transliterate(name), _words(_fold(name, {"ß": "SS"}))}


def names_match(mrz_name: str, claimed: str, truncated: bool) -> bool:
    """``mrz_name``: words as parsed from the MRZ. ``truncated``: the MRZ name field was full, so the
    MRZ may hold only the start of the name (ICAO 9303 part 3, 4.6.1 truncation)."""
    mrz = _words(mrz_name)
    for variant in name_variants(claimed):
        if variant == mrz:
            return True
        if truncated and mrz and variant.replace(" ", "").startswith(mrz.replace(" ", "")):
            return True
    return False


def same_country(a: str, b: str) -> bool:
    a, b = a.strip("<").upper(), b.strip("<").upper()
    return _SAME_STATE.get(a, a) == _SAME_STATE.get(b, b)


def _name_field_full(document: MrzDocument) -> bool:
    names = document.lines[2] if len(document.lines) == 3 else document.lines[0][5:]
    return not names.endswith("<")


def compare_to_claim(document: MrzDocument, claim: ClaimedIdentity) -> dict[str, bool]:
    """Checks named ``claim_*``: family name, given names, date of birth, and document number and
    nationality when the bank gave them."""
    fields = document.fields
    truncated = _name_field_full(document)
    checks = {
        "claim_family_name": names_match(str(fields["surname"]), claim.family_name, truncated),
        "claim_given_name": names_match(str(fields["given_names"]), claim.given_name, truncated),
        "claim_birth_date": fields["birth_date"] == claim.birthdate.isoformat(),
    }
    if claim.document_number is not None:
        checks["claim_document_number"] = str(fields["document_number"]) == claim.document_number.strip().upper()
    if claim.nationality is not None:
        checks["claim_nationality"] = same_country(str(fields["nationality"]), claim.nationality)
    return checks


#: Letters a general OCR model reads for digits in printed dates.
_DATE_DIGITS = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
                              "T": "7", "B": "8"})  # fmt: skip
_DIGITISH = "[0-9OQDILZSGTB]"


def parse_printed_date(text: str) -> dt.date | None:
    """A date as printed in a visual zone: ``12.08.1974``, ``12 08 1974``, ``12/08/1974``, ``1974-08-12``,
    ``12 AUG 1974`` / ``12 MRT/MAR 1974``; digits misread as look-alike letters are tolerated. None when
    it is not one of those or not a real date."""
    upper = text.upper()
    numeric = re.search(rf"({_DIGITISH}{{1,2}})[ ./-]+({_DIGITISH}{{1,2}})[ ./-]+({_DIGITISH}{{4}})", upper)
    iso = re.search(rf"({_DIGITISH}{{4}})-({_DIGITISH}{{2}})-({_DIGITISH}{{2}})", upper)
    worded = re.search(rf"({_DIGITISH}{{1,2}})\s*([A-Z]{{3}})[A-Z/ ]*?({_DIGITISH}{{4}})", upper)
    try:
        if iso:
            year, month, day = (int(g.translate(_DATE_DIGITS)) for g in iso.groups())
        elif numeric:
            day, month, year = (int(g.translate(_DATE_DIGITS)) for g in numeric.groups())
        elif worded and worded[2] in _MONTHS:
            day, month, year = (
                int(worded[1].translate(_DATE_DIGITS)),
                _MONTHS[worded[2]],
                int(worded[3].translate(_DATE_DIGITS)),
            )
        else:
            return None
        return dt.date(year, month, day)
    except ValueError:
        return None


_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
# German and Dutch abbreviations as printed on those cards (fixtures/documents.py prints "12 MAA/MAR 1974").
_MONTHS.update({"MAI": 5, "OKT": 10, "DEZ": 12, "MRT": 3, "MEI": 5, "MAA": 3, "MÄR": 3})
# J read as I by a general OCR model (measured on the fixtures' passports).
_MONTHS.update({"IAN": 1, "IUN": 6, "IUL": 7})
