"""The ICAO 9303 MRZ formats: line sizes, field positions and the character class of every position.

Pure data, no imaging. Positions are 0-based ``(line, start, stop)`` slices, ``stop`` exclusive.
Character classes (one letter per position, see :class:`CharClass`):

- ``A`` letters or filler (names, country codes, the document code),
- ``N`` digits only (dates, check digits),
- ``C`` a check digit that may also be ``<`` (TD3 personal number, TD1 long document number),
- ``X`` letters, digits or filler (document numbers, optional data),
- ``S`` sex: ``M``, ``F``, ``X`` or ``<``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = ["MrzFormat", "CharClass", "FieldSpec", "FormatSpec", "FORMATS", "format_for_shape", "class_template"]


class MrzFormat(StrEnum):
    TD1 = "TD1"  # ID-1 card: 3 lines x 30
    TD2 = "TD2"  # ID-2 card, MRV-B visa: 2 lines x 36
    TD3 = "TD3"  # passport, MRV-A visa: 2 lines x 44


class CharClass(StrEnum):
    ALPHA = "A"
    NUMERIC = "N"
    CHECK_OR_FILLER = "C"
    ANY = "X"
    SEX = "S"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    line: int
    start: int
    stop: int
    char_class: CharClass

    def take(self, lines: Sequence[str]) -> str:
        return lines[self.line][self.start : self.stop]


@dataclass(frozen=True)
class FormatSpec:
    format: MrzFormat
    line_count: int
    line_length: int
    fields: tuple[FieldSpec, ...]
    #: (line, start, stop) slices concatenated for the composite check digit.
    composite: tuple[tuple[int, int, int], ...]
    #: where the composite check digit sits, (line, index).
    composite_at: tuple[int, int] | None
    #: a machine-readable visa (MRV-A / MRV-B): no composite check digit, longer optional data.
    visa: bool = False

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _f(name: str, line: int, start: int, stop: int, cls: str) -> FieldSpec:
    return FieldSpec(name, line, start, stop, CharClass(cls))


_TD1 = FormatSpec(
    MrzFormat.TD1,
    3,
    30,
    (
        _f("document_code", 0, 0, 2, "A"),
        _f("issuing_state", 0, 2, 5, "A"),
        _f("document_number", 0, 5, 14, "X"),
        _f("document_number_check", 0, 14, 15, "C"),
        _f("optional_data", 0, 15, 30, "X"),
        _f("birth_date", 1, 0, 6, "N"),
        _f("birth_date_check", 1, 6, 7, "N"),
        _f("sex", 1, 7, 8, "S"),
        _f("expiry_date", 1, 8, 14, "N"),
        _f("expiry_date_check", 1, 14, 15, "N"),
        _f("nationality", 1, 15, 18, "A"),
        _f("optional_data_2", 1, 18, 29, "X"),
        _f("composite_check", 1, 29, 30, "N"),
        _f("names", 2, 0, 30, "A"),
    ),
    ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)),
    (1, 29),
)

_TD2 = FormatSpec(
    MrzFormat.TD2,
    2,
    36,
    (
        _f("document_code", 0, 0, 2, "A"),
        _f("issuing_state", 0, 2, 5, "A"),
        _f("names", 0, 5, 36, "A"),
        _f("document_number", 1, 0, 9, "X"),
        _f("document_number_check", 1, 9, 10, "C"),
        _f("nationality", 1, 10, 13, "A"),
        _f("birth_date", 1, 13, 19, "N"),
        _f("birth_date_check", 1, 19, 20, "N"),
        _f("sex", 1, 20, 21, "S"),
        _f("expiry_date", 1, 21, 27, "N"),
        _f("expiry_date_check", 1, 27, 28, "N"),
        _f("optional_data", 1, 28, 35, "X"),
        _f("composite_check", 1, 35, 36, "N"),
    ),
    ((1, 0, 10), (1, 13, 20), (1, 21, 35)),
    (1, 35),
)

_TD3 = FormatSpec(
    MrzFormat.TD3,
    2,
    44,
    (
        _f("document_code", 0, 0, 2, "A"),
        _f("issuing_state", 0, 2, 5, "A"),
        _f("names", 0, 5, 44, "A"),
        _f("document_number", 1, 0, 9, "X"),
        _f("document_number_check", 1, 9, 10, "N"),
        _f("nationality", 1, 10, 13, "A"),
        _f("birth_date", 1, 13, 19, "N"),
        _f("birth_date_check", 1, 19, 20, "N"),
        _f("sex", 1, 20, 21, "S"),
        _f("expiry_date", 1, 21, 27, "N"),
        _f("expiry_date_check", 1, 27, 28, "N"),
        _f("optional_data", 1, 28, 42, "X"),
        _f("optional_data_check", 1, 42, 43, "C"),
        _f("composite_check", 1, 43, 44, "N"),
    ),
    ((1, 0, 10), (1, 13, 20), (1, 21, 43)),
    (1, 43),
)

_MRVB = FormatSpec(
    MrzFormat.TD2,
    2,
    36,
    (*_TD2.fields[:11], _f("optional_data", 1, 28, 36, "X")),
    (),
    None,
    visa=True,
)

_MRVA = FormatSpec(
    MrzFormat.TD3,
    2,
    44,
    (*_TD3.fields[:11], _f("optional_data", 1, 28, 44, "X")),
    (),
    None,
    visa=True,
)

FORMATS: dict[MrzFormat, FormatSpec] = {MrzFormat.TD1: _TD1, MrzFormat.TD2: _TD2, MrzFormat.TD3: _TD3}
_VISAS: dict[MrzFormat, FormatSpec] = {MrzFormat.TD2: _MRVB, MrzFormat.TD3: _MRVA}


def format_for_shape(line_count: int, line_length: int, document_code: str = "") -> FormatSpec | None:
    """The format with exactly this many lines of this length, or None.

    A document code starting with ``V`` selects the visa layout of a 2-line format (ICAO 9303 part 7).
    """
    for spec in FORMATS.values():
        if spec.line_count == line_count and spec.line_length == line_length:
            if document_code.startswith("V") and spec.format in _VISAS:
                return _VISAS[spec.format]
            return spec
    return None


@lru_cache(maxsize=16)
def class_template(spec: FormatSpec) -> tuple[str, ...]:
    """One string per line with the :class:`CharClass` letter of every position.

    The document code's second letter and the names may be fillers, so they are ``A`` (letters or ``<``).
    """
    lines = [["X"] * spec.line_length for _ in range(spec.line_count)]
    for field in spec.fields:
        for i in range(field.start, field.stop):
            lines[field.line][i] = field.char_class.value
    return tuple("".join(line) for line in lines)
