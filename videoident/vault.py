"""The evidence vault: sealed blobs on disk, one folder per session, written atomically.

Each blob is AES-256-GCM sealed with the session's data key; the associated data names the session and
the item (``videoident/evidence/v1|<session>|<item>``), so a file copied into another session's folder, or
renamed to another item, does not open.

Atomic write: the sealed bytes go to ``<item>.<random>.tmp`` in the target folder, are fsynced, renamed
over the final name (``os.replace``, atomic on POSIX), and the folder is fsynced so the rename itself
survives a power cut. A crash at any point leaves either no file or the whole file under its final name,
plus perhaps a ``.tmp`` file that :meth:`EvidenceVault.sweep` removes. The database row that names the
file is committed only after the file is durable, so no committed row points at a missing file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from videoident.crypto import RandomBytes, open_sealed, seal

__all__ = ["EvidenceVault", "VaultError", "evidence_aad", "EvidenceKind", "Variant", "DOCUMENT_KINDS",
           "PRIVATE_KINDS"]


class EvidenceKind(StrEnum):
    FRONT = "front"  # a rectified still of the document's front
    BACK = "back"  # a rectified still of the document's back
    FACE = "face"  # a still of the customer's face
    RECORDING_SEGMENT = "recording_segment"  # a piece of the call's recording (never exported: unmaskable)
    FACE_TEMPLATE = "face_template"  # the live face's encoding (pipelines.face.template bytes), for re-identification
    EXTRACTED_DATA = "extracted_data"  # JSON of the fields read from the document (MRZ, visual zone)
    OTHER = "other"


class Variant(StrEnum):
    STORED = "stored"  # masked by the tenant's storage policy; what the vault keeps
    EXPORT = "export"  # masked by the tenant's export policy; what the bank may download


#: Evidence kinds that show a document and therefore go through masking.
DOCUMENT_KINDS = frozenset({EvidenceKind.FRONT, EvidenceKind.BACK})
#: Kinds that are kept sealed for the service itself and never exported as files.
PRIVATE_KINDS = frozenset({EvidenceKind.RECORDING_SEGMENT, EvidenceKind.FACE_TEMPLATE, EvidenceKind.EXTRACTED_DATA})

TMP_SUFFIX = ".tmp"
BLOB_SUFFIX = ".sealed"


class VaultError(RuntimeError):
    """A blob is missing or its path is not one the vault writes."""


def evidence_aad(session_id: str, item_id: str) -> bytes:
    return f"videoident/evidence/v1|{session_id}|{item_id}".encode()


def _safe_part(value: str) -> str:
    if not value or len(value) > 64 or not all(c.isascii() and (c.isalnum() or c == "-") for c in value):
        raise VaultError(f"not a valid id for a vault path: {value!r}")
    return value


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EvidenceVault:
    """Sealed evidence files under ``root`` (``Settings.vault_dir``)."""

    def __init__(self, root: Path, random_bytes: RandomBytes = os.urandom) -> None:
        self.root = root
        self._random_bytes = random_bytes

    def relative_path(self, session_id: str, item_id: str) -> str:
        session = _safe_part(session_id)
        return f"{session[:2]}/{session}/{_safe_part(item_id)}{BLOB_SUFFIX}"

    def _session_dir(self, session_id: str) -> Path:
        session = _safe_part(session_id)
        return self.root / session[:2] / session

    def write(self, session_id: str, item_id: str, data_key: bytes, plaintext: bytes) -> str:
        """Seal and durably store one blob; returns its path relative to the root."""
        sealed = seal(data_key, plaintext, evidence_aad(session_id, item_id), self._random_bytes)
        relative = self.relative_path(session_id, item_id)
        final = self.root / relative
        created_parents = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = final.with_name(f"{final.stem}.{secrets.token_hex(6)}{TMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(sealed)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if created_parents:
            _fsync_dir(final.parent.parent)
            _fsync_dir(self.root)
        return relative

    def read(self, session_id: str, item_id: str, data_key: bytes, relative: str | None = None) -> bytes:
        """Open one blob; raises :class:`videoident.crypto.DecryptionError` if it was moved or altered."""
        expected = self.relative_path(session_id, item_id)
        if relative is not None and relative != expected:
            # The row names a file of another session or item: refuse rather than open it.
            raise VaultError("evidence path does not belong to this session and item")
        path = self.root / expected
        try:
            sealed = path.read_bytes()
        except FileNotFoundError as exc:
            raise VaultError(f"evidence item {item_id} is missing from the vault") from exc
        return open_sealed(data_key, sealed, evidence_aad(session_id, item_id))

    def read_file(self, relative: str, session_id: str, item_id: str, data_key: bytes) -> bytes:
        """Open the file at ``relative`` as if it were ``item_id`` of ``session_id`` (used to prove binding)."""
        return open_sealed(data_key, (self.root / relative).read_bytes(), evidence_aad(session_id, item_id))

    def delete_session(self, session_id: str) -> int:
        """Remove a session's sealed files (after its data key is destroyed); returns how many."""
        folder = self._session_dir(session_id)
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.iterdir() if p.is_file())
        shutil.rmtree(folder)
        _fsync_dir(folder.parent)
        return count

    def iter_blobs(self) -> Iterator[Path]:
        if self.root.exists():
            yield from self.root.glob(f"*/*/*{BLOB_SUFFIX}")

    def sweep(self, min_age_s: float = 3600.0) -> list[Path]:
        """Delete ``.tmp`` leftovers of interrupted writes older than ``min_age_s`` (another worker may be
        writing a younger one right now); returns what was removed."""
        removed: list[Path] = []
        if not self.root.exists():
            return removed
        cutoff = time.time() - min_age_s
        for tmp in self.root.glob(f"*/*/*{TMP_SUFFIX}"):
            try:
                if tmp.stat().st_mtime <= cutoff:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:
                continue
        return removed
