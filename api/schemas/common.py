"""Shared field types of the bank API schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = ["CountryCode", "PersonName", "ReferenceText", "SessionId"]


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError("control characters are not allowed")
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
