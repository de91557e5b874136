"""Shared field types of the bank API schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = ["CountryCode", "PersonName", "ReferenceText", "SessionId"]


#: Invisible formatting characters that make a name display as something else: bidi embeddings, overrides,
#: isolates and marks, zero-width space, word joiner, BOM (Unicode TR36; CVE-2021-42574 "Trojan Source").
#: ZWJ and ZWNJ (U+200D, U+200C) stay allowed: Persian and Indic names need them.
_INVISIBLE = frozenset("\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff")


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError("control characters are not allowed")
    if any(c in _INVISIBLE for c in value):
        raise ValueError("invisible formatting characters (bidi, zero-width) are not allowed")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: A given or family name as printed (Unicode letters, spaces, hyphens, apostrophes); 1..100 characters.
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
                       AfterValidator(_no_control_chars)]
#: The bank's own reference (an order or customer number, never personal data by contract).
ReferenceText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
                          AfterValidator(_no_control_chars)]
#: ICAO 9303 three-letter code (``DEU``, ``NLD``), or the German ``D``.
CountryCode = Annotated[str, StringConstraints(pattern=r"^(D|[A-Z]{3})$")]
#: A session id as issued by this service.
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
