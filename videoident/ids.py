"""Random identifiers, in the two forms the service uses.

- :func:`new_uuid`: a random UUID (version 4) as its 36-character string — the primary keys of the core's
  rows (tenants, sessions, evidence, checks, TAN challenges, agents) and the outbox event ids. Columns are
  ``String(36)``.
- :func:`new_prefixed_id`: a short, typed, URL-safe id such as ``evt_3q2...`` or ``whs_...`` — ids a bank
  sees in headers and listings (webhook event ids, webhook secret ids), where the prefix says what it is.
"""

from __future__ import annotations

import base64
import secrets
import uuid

__all__ = ["new_prefixed_id", "new_uuid"]

#: Random bytes of a prefixed id: 12 bytes = 96 bits, no collision in any realistic number of ids.
PREFIXED_ID_BYTES = 12


def new_uuid() -> str:
    """A random UUID4 string, e.g. ``5b0d7f0e-8a53-4a8e-9a53-6f4c0d8f2f11``."""
    return str(uuid.uuid4())


def new_prefixed_id(prefix: str, nbytes: int = PREFIXED_ID_BYTES) -> str:
    """``prefix`` followed by ``nbytes`` random bytes in lower-case base32 without padding, e.g. ``evt_3q2...``."""
    return prefix + base64.b32encode(secrets.token_bytes(nbytes)).decode().rstrip("=").lower()
