"""Envelope encryption primitives: AES-256-GCM sealing, data keys wrapped by a master key, derived keys.

Key hierarchy::

    master key (Settings.master_key_bytes, id Settings.master_key_id; older ids during a rotation)
      |-- wraps (AES-256-GCM, associated data = "videoident/data-key/v1|<session id>") one data key per session
      |     `-- seals every PII field and every evidence blob of that session (associated data names the
      |         session and the field or item, so a ciphertext moved elsewhere does not open)
      `-- HKDF-SHA256 derives purpose keys: the TAN HMAC key ("videoident/tan-hmac/v1")

A sealed value is ``version(1) || nonce(12) || ciphertext+tag``. Nonces are random 96-bit values
(NIST SP 800-38D 8.2.2); a data key seals at most a few hundred items, far below the 2^32 limit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_BYTES",
    "DecryptionError",
    "UnknownKeyError",
    "KeyRing",
    "WrappedKey",
    "seal",
    "open_sealed",
    "new_data_key",
]

#: AES-256: 32-byte keys.
KEY_BYTES = 32
#: GCM's standard 96-bit nonce (NIST SP 800-38D).
NONCE_BYTES = 12
#: Format byte in front of every sealed value, so the format can change without guessing.
SEAL_VERSION = 1
DATA_KEY_AAD_PREFIX = b"videoident/data-key/v1|"
TAN_KEY_INFO = b"videoident/tan-hmac/v1"

RandomBytes = Callable[[int], bytes]


class DecryptionError(ValueError):
    """The ciphertext does not open with this key and associated data (tampered, moved, or wrong key)."""


class UnknownKeyError(KeyError):
    """A wrapped key names a master key id this instance does not hold."""


def new_data_key(random_bytes: RandomBytes = os.urandom) -> bytes:
    key = random_bytes(KEY_BYTES)
    if len(key) != KEY_BYTES:
        raise ValueError("the random source returned the wrong number of bytes")
    return key


def seal(key: bytes, plaintext: bytes, aad: bytes, random_bytes: RandomBytes = os.urandom) -> bytes:
    """AES-256-GCM encrypt ``plaintext`` bound to ``aad``: ``version || nonce || ciphertext+tag``."""
    nonce = random_bytes(NONCE_BYTES)
    return bytes([SEAL_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of :func:`seal`'s output; raises :class:`DecryptionError` on any mismatch."""
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != SEAL_VERSION:
        raise DecryptionError("not a sealed value of a known version")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag as exc:
        raise DecryptionError("authentication failed") from exc


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the master key ``master_key_id``."""

    master_key_id: str
    wrapped: bytes


@dataclass(frozen=True)
class KeyRing:
    """The current master key plus older ones that may still unwrap (during a rotation)."""

    current_id: str
    current: bytes = field(repr=False)
    previous: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    random_bytes: RandomBytes = field(default=os.urandom, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.current) != KEY_BYTES or any(len(k) != KEY_BYTES for k in self.previous.values()):
            raise ValueError("master keys must be 32 bytes")
        if not self.current_id:
            raise ValueError("the master key id must not be empty")

    def key(self, key_id: str) -> bytes:
        if key_id == self.current_id:
            return self.current
        try:
            return self.previous[key_id]
        except KeyError:
            raise UnknownKeyError(key_id) from None

    def wrap(self, data_key: bytes, session_id: str) -> WrappedKey:
        sealed = seal(self.current, data_key, DATA_KEY_AAD_PREFIX + session_id.encode(), self.random_bytes)
        return WrappedKey(self.current_id, sealed)

    def unwrap(self, wrapped: WrappedKey, session_id: str) -> bytes:
        return open_sealed(self.key(wrapped.master_key_id), wrapped.wrapped, DATA_KEY_AAD_PREFIX + session_id.encode())

    def rewrap(self, wrapped: WrappedKey, session_id: str) -> WrappedKey:
        """The same data key wrapped under the current master key (no-op if it already is)."""
        if wrapped.master_key_id == self.current_id:
            return wrapped
        return self.wrap(self.unwrap(wrapped, session_id), session_id)

    def tan_key(self, key_id: str) -> bytes:
        """The HMAC key for TAN hashes, derived from master key ``key_id`` (HKDF-SHA256)."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=TAN_KEY_INFO).derive(self.key(key_id))
