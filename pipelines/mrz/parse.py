"""Parse and validate MRZ text (ICAO 9303 TD1, TD2, TD3 and the MRV visas). Pure text logic, no imaging.

:func:`parse_mrz` never raises on content: any string of the right shape gives an :class:`MrzDocument`
whose ``checks`` say what holds. A wrong shape (line count or lengths) raises :class:`MrzShapeError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.mrz.checkdigit import MRZ_ALPHABET, check_digit
from pipelines.mrz.countries import is_known_code, normalise_code
from pipelines.mrz.formats import FormatSpec, MrzFormat, class_template, format_for_shape

__all__ = ["MrzDocument", "MrzShapeError", "parse_mrz", "split_names", "infer_birth_date", "infer_expiry_date"]

#: First letters of ICAO document codes: passport, ID cards (I, A, C), visa (ICAO 9303 parts 4-7).
DOCUMENT_CODE_FIRST_LETTERS = frozenset("PIACV")
#: An expiry date more than this many years after the session date is read as last century (the
#: longest validity of any ICAO travel document is 10 years; 50 leaves room and stays unambiguous).
EXPIRY_CENTURY_WINDOW_YEARS = 50
_ALPHABET = frozenset(MRZ_ALPHABET)


class MrzShapeError(ValueError):
    """The lines do not have the shape of any MRZ format (3x30, 2x36, 2x44)."""


@dataclass(frozen=True)
class MrzDocument:
    """A parsed MRZ. ``fields`` is JSON-serialisable; ``checks`` maps a check name to whether it holds."""

    format: MrzFormat
    lines: tuple[str, ...]
    fields: Mapping[str, Any]
    checks: Mapping[str, bool] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def __repr__(self) -> str:
        # The MRZ holds a name, a birth date and a document number: never in a log line through repr().
        return f"MrzDocument({self.format.value}, valid={self.valid}, failed={self.failed_checks})"

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]

    @property
    def check_digits_hold(self) -> bool:
        """Every check digit (and the composite) holds; says nothing about names, dates or codes."""
        return all(ok for name, ok in self.checks.items() if name.endswith("_check_digit"))


def split_names(name_field: str) -> tuple[str, str]:
    """``ERIKSSON<<ANNA<MARIA<<<`` -> ``("ERIKSSON", "ANNA MARIA")``: primary and secondary identifiers."""
    primary, _, secondary = name_field.partition("<<")
    return _words(primary), _words(secondary)


def _words(part: str) -> str:
    return " ".join(w for w in part.split("<") if w)


def _real_date(raw: str, century: int) -> dt.date | None:
    if len(raw) != 6 or not raw.isdigit():
        return None
    try:
        return dt.date(century + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    except ValueError:
        return None


def infer_birth_date(raw: str, reference: dt.date) -> dt.date | None:
    """A ``YYMMDD`` birth date: this century unless that lies after ``reference``, else the last one."""
    date = _real_date(raw, 2000)
    if date is not None and date <= reference:
        return date
    return _real_date(raw, 1900)


def infer_expiry_date(raw: str, reference: dt.date) -> dt.date | None:
    """A ``YYMMDD`` expiry date: this century unless that is implausibly far after ``reference``."""
    if len(raw) == 6 and raw[:2].isdigit() and 2000 + int(raw[:2]) > reference.year + EXPIRY_CENTURY_WINDOW_YEARS:
        return _real_date(raw, 1900)
    return _real_date(raw, 2000)


def _class_ok(char: str, cls: str) -> bool:
    if cls == "N":
        return char.isdigit()
    if cls == "C":
        return char.isdigit() or char == "<"
    if cls == "A":
        return char == "<" or "A" <= char <= "Z"
    if cls == "S":
        return char in "MFX<"
    return char in _ALPHABET


def _digit_holds(data: str, check: str) -> bool:
    if any(c not in _ALPHABET for c in data):
        return False
    return check.isdigit() and check_digit(data) == check


def _document_number(spec: FormatSpec, lines: Sequence[str]) -> tuple[str, str, str]:
    """(number with fillers stripped, the data its check digit covers, the check digit).

    A number longer than 9 characters (TD1, TD2) has ``<`` in the check position and continues in the
    optional data, where its last character before a filler is the check digit (ICAO 9303 part 5, 4.2.4).
    """
    number = spec.field("document_number").take(lines)
    check = spec.field("document_number_check").take(lines)
    if check == "<" and spec.format in (MrzFormat.TD1, MrzFormat.TD2):
        rest = spec.field("optional_data").take(lines).split("<", 1)[0]
        if len(rest) >= 2:
            return (number + rest[:-1]).rstrip("<"), number + rest[:-1], rest[-1]
    return number.rstrip("<"), number, check


def parse_mrz(lines: Sequence[str], reference_date: dt.date) -> MrzDocument:
    """Parse and validate MRZ lines. ``reference_date``: the session date (for century and expiry)."""
    lines = tuple(lines)
    lengths = {len(line) for line in lines}
    document_code = lines[0][:2] if lines else ""
    spec = format_for_shape(len(lines), lengths.pop(), document_code) if len(lengths) == 1 else None
    if spec is None:
        raise MrzShapeError(f"no MRZ format has {len(lines)} lines of lengths {sorted(len(x) for x in lines)}")

    template = class_template(spec)
    take = {f.name: f.take(lines) for f in spec.fields}
    surname, given = split_names(take["names"])
    number, number_data, number_check = _document_number(spec, lines)
    birth = infer_birth_date(take["birth_date"], reference_date)
    expiry = infer_expiry_date(take["expiry_date"], reference_date)

    fields: dict[str, Any] = {
        "document_type": spec.format.value,
        "document_code": take["document_code"].rstrip("<"),
        "visa": spec.visa,
        "issuing_state": normalise_code(take["issuing_state"]),
        "document_number": number,
        "birth_date": birth.isoformat() if birth else None,
        "birth_date_raw": take["birth_date"],
        "expiry_date": expiry.isoformat() if expiry else None,
        "expiry_date_raw": take["expiry_date"],
        "sex": take["sex"].replace("<", ""),
        "nationality": normalise_code(take["nationality"]),
        "surname": surname,
        "given_names": given,
        "optional_data": take["optional_data"].strip("<"),
    }
    if "optional_data_2" in take:
        fields["optional_data_2"] = take["optional_data_2"].strip("<")

    checks: dict[str, bool] = {
        "charset": all(c in _ALPHABET for line in lines for c in line),
        "character_classes": all(
            _class_ok(c, cls)
            for line, classes in zip(lines, template, strict=True)
            for c, cls in zip(line, classes, strict=True)
        ),
        "document_code": take["document_code"][:1] in DOCUMENT_CODE_FIRST_LETTERS,
        "issuing_state_code": is_known_code(take["issuing_state"]),
        "nationality_code": is_known_code(take["nationality"]),
        "sex": take["sex"] in ("M", "F", "X", "<"),
        "names_present": bool(surname),
        "document_number_check_digit": _digit_holds(number_data, number_check),
        "birth_date_check_digit": _digit_holds(take["birth_date"], take["birth_date_check"]),
        "expiry_date_check_digit": _digit_holds(take["expiry_date"], take["expiry_date_check"]),
        "birth_date_valid": birth is not None and birth <= reference_date,
        "expiry_date_valid": expiry is not None,
        "not_expired": expiry is not None and expiry >= reference_date,
    }
    if "optional_data_check" in take:
        data, check = take["optional_data"], take["optional_data_check"]
        # An empty personal number may have '<' as its check digit (ICAO 9303 part 4, 4.2.2.1).
        empty_ok = set(data) == {"<"} and check in ("<", "0")
        checks["optional_data_check_digit"] = empty_ok or _digit_holds(data, check)
    if spec.composite_at is not None:
        composite = "".join(lines[ln][a:b] for ln, a, b in spec.composite)
        cl, ci = spec.composite_at
        checks["composite_check_digit"] = _digit_holds(composite, lines[cl][ci])
    return MrzDocument(spec.format, lines, fields, checks)
