"""The agent verification code: a short code the customer's page shows during the call, that the agent
reads out and that the bank's own app or site can show too, so the customer can tell that the person on
the video works for their bank (and not for a phisher who sent them a look-alike link).

``code = HMAC-SHA256(K, "videoident/agent-code/v1|" + session_id)`` reduced to 6 digits, with ``K`` derived
from the master key by HKDF (so the master key is never used directly as an HMAC key). The bank obtains the
same code through the API for its app; an impostor without the master key cannot compute it.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["agent_code", "CODE_DIGITS"]

#: Six digits: 1 in a million for a guess, short enough to read aloud and compare at a glance.
CODE_DIGITS = 6
_INFO = b"videoident/agent-code-key/v1"


def _code_key(master_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_key)


def agent_code(master_key: bytes, session_id: str) -> str:
    """The session's agent verification code, formatted ``"123 456"``."""
    digest = hmac.new(_code_key(master_key), f"videoident/agent-code/v1|{session_id}".encode(), sha256).digest()
    number = int.from_bytes(digest[:8], "big") % 10**CODE_DIGITS
    digits = f"{number:0{CODE_DIGITS}d}"
    return f"{digits[:3]} {digits[3:]}"
