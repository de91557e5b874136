"""The identity a bank claims when it creates a session, as a validated value object.

The core (``videoident``) stores it and the API builds it from the bank's request; the MRZ check compares
the document against it (``pipelines.mrz.crosscheck``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["ClaimedIdentity"]

#: Longest name part accepted (ICAO 9303 allows 39 MRZ characters for all names; printed names are
#: longer: 200 leaves room for any real name and refuses garbage).
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class ClaimedIdentity:
    """Who the bank says the customer is.

    ``given_name``: all given names as the bank holds them ("Anna Maria"); ``family_name``: the surname
    ("Müller-Lüdenscheidt"); any script that transliterates to Latin (ICAO 9303 part 3).
    ``document_number`` and ``nationality`` (ISO 3166-1 alpha-3, or ICAO's ``D``) are optional.
    """

    given_name: str
    family_name: str
    birthdate: dt.date
    document_number: str | None = None
    nationality: str | None = None

    def __post_init__(self) -> None:
        for label, value in (("given_name", self.given_name), ("family_name", self.family_name)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{label} must be a non-empty string")
            if len(value) > MAX_NAME_CHARS:
                raise ValueError(f"{label} is longer than {MAX_NAME_CHARS} characters")
        if not isinstance(self.birthdate, dt.date) or isinstance(self.birthdate, dt.datetime):
            raise ValueError("birthdate must be a date")
        if self.document_number is not None and not self.document_number.strip().isalnum():
            raise ValueError("document_number must be letters and digits")
        if self.nationality is not None:
            code = self.nationality.strip().upper()
            if not (code.isalpha() and len(code) in (1, 3)):
                raise ValueError("nationality must be a 3-letter ICAO code (or D)")
            object.__setattr__(self, "nationality", code)

    def __repr__(self) -> str:
        # Names and dates of birth are personal data: never in a log line through repr().
        return "ClaimedIdentity(<redacted>)"
