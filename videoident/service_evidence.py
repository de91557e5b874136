"""Evidence capture and export (masked per tenant policy), erasure, retention, master-key rotation, recovery."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from pipelines.frame import DocumentSide
from pipelines.layouts import Template
from pipelines.masking import mask_document
from videoident import audit
from videoident.console_state import ChecksViewRecord, ConfirmationRecord, DrawnFeaturesRecord
from videoident.crypto import WrappedKey
from videoident.errors import Erased, NotFound
from videoident.ids import new_uuid
from videoident.masking_policy import fields_to_mask, policy_for
from videoident.records import (
    CheckResultRecord,
    DataKeyRecord,
    EvidenceRecord,
    IdentSessionRecord,
    TenantRecord,
)
from videoident.service_core import ServiceCore
from videoident.states import TERMINAL, Decision, ReasonCode, SessionStatus
from videoident.vault import DOCUMENT_KINDS, PRIVATE_KINDS, EvidenceKind, Variant
from videoident.views import EvidenceView

__all__ = ["EvidenceMixin", "RecoveryReport"]

log = logging.getLogger("videoident.service")

#: Largest evidence blob accepted: a 1280x720 PNG still is under 3 MB, a 10 s recording segment ~5 MB.
MAX_EVIDENCE_BYTES = 32 * 1024 * 1024
#: A call's last recording segment may reach the vault this long after the session ended: the live media
#: closes when it sees the status change (the hub, possibly on another worker), then seals the open segment
#: (at most 10 s of video). 60 s covers that with margin; nothing else is accepted once a session has ended.
RECORDING_GRACE = timedelta(seconds=60)
#: Rows handled per transaction while re-wrapping data keys (short transactions: no downtime).
ROTATION_BATCH = 200


@dataclass(frozen=True)
class RecoveryReport:
    removed_temp_files: int
    removed_orphans: int


class EvidenceMixin(ServiceCore):
    # ----------------------------------------------------------------- capture
    def store_evidence(self, session_id: str, kind: EvidenceKind, data: bytes, media_type: str, *,
                       template: Template | None = None, actor: audit.Actor = audit.SYSTEM) -> list[EvidenceView]:
        """Seal one capture into the vault. A document still (front/back) with its ``template`` is masked by
        the tenant's storage policy before it is stored, and an export variant masked by the export policy
        is stored next to it. Without a template it is kept sealed but never exported (it cannot be masked);
        recordings, face templates and extracted data are never exported either. Returns the stored rows
        (stored first)."""
        if not data or len(data) > MAX_EVIDENCE_BYTES:
            raise ValueError("evidence must be between 1 byte and 32 MiB")
        with self._sessions() as db:
            record = self._session(db, session_id)
            if SessionStatus(record.status) in TERMINAL and not self._late_segment_allowed(record, kind):
                raise ValueError("the session has ended")
            tenant = db.get(TenantRecord, record.tenant_id)
            assert tenant is not None
            policy = policy_for(tenant.masking_profile, tenant.masking_custom)
            key = self._data_key(db, session_id)
        variants: list[tuple[Variant, bytes, str, list[str] | None]] = []
        if kind in DOCUMENT_KINDS and template is not None:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError("the document still is not a decodable image")
            side = DocumentSide.FRONT if kind is EvidenceKind.FRONT else DocumentSide.BACK
            stored = mask_document(image, template, side, fields_to_mask(policy, template, exported=False))
            exported = mask_document(stored.image, template, side, fields_to_mask(policy, template, exported=True))
            for variant, result in ((Variant.STORED, stored), (Variant.EXPORT, exported)):
                ok, png = cv2.imencode(".png", result.image)
                if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
                    raise ValueError("could not encode the masked still")
                masked = sorted(field.value for field in result.fields)
                variants.append((variant, png.tobytes(), "image/png", masked))
        elif kind in DOCUMENT_KINDS or kind in PRIVATE_KINDS:
            variants.append((Variant.STORED, data, media_type, None))
        else:
            variants += [(Variant.STORED, data, media_type, []), (Variant.EXPORT, data, media_type, [])]

        source_id: str | None = None
        rows: list[EvidenceRecord] = []
        for variant, blob, blob_type, masked_fields in variants:
            item_id = new_uuid()
            # The file is durable before the row that names it commits (vault.py): no row without a file.
            path = self.vault.write(session_id, item_id, key, blob)
            rows.append(EvidenceRecord(id=item_id, session_id=session_id, kind=kind.value, variant=variant.value,
                                       source_id=source_id, template=template.value if template else None,
                                       media_type=blob_type, size_bytes=len(blob), masked_fields=masked_fields,
                                       blob_path=path, captured_by=actor.id, created_at=self.clock()))
            source_id = source_id or item_id

        def work(db: Session) -> list[EvidenceView]:
            record = self._session(db, session_id)
            if record.erased_at is not None:  # erased while the files were being written
                raise Erased("the session's data was erased")
            for row in rows:
                db.add(row)
            self._audit(db, actor, "evidence.captured", record, kind=kind.value,
                        items=[row.id for row in rows], masked=rows[0].masked_fields)
            return [EvidenceView.of(row) for row in rows]

        try:
            return self._tx(work)
        except BaseException:
            for row in rows:  # never leave sealed files that no committed row names
                (self.vault.root / row.blob_path).unlink(missing_ok=True)
            raise

    def list_evidence(self, session_id: str, *, tenant_id: str | None = None,
                      variant: Variant | None = None) -> list[EvidenceView]:
        with self._sessions() as db:
            self._session(db, session_id, tenant_id)
            query = select(EvidenceRecord).where(EvidenceRecord.session_id == session_id)
            if variant is not None:
                query = query.where(EvidenceRecord.variant == variant.value)
            return [EvidenceView.of(r) for r in db.execute(query.order_by(EvidenceRecord.created_at)).scalars()]

    def read_evidence(self, session_id: str, item_id: str, actor: audit.Actor, *, tenant_id: str | None = None,
                      export: bool = True) -> tuple[EvidenceView, bytes]:
        """Decrypt one item. ``export=True`` (a bank download) serves export variants only; every read is
        audited (``evidence.exported`` / ``evidence.viewed``)."""
        def work(db: Session) -> tuple[EvidenceView, bytes]:
            record = self._session(db, session_id, tenant_id)
            row = db.get(EvidenceRecord, item_id)
            if row is None or row.session_id != session_id or (export and row.variant != Variant.EXPORT.value):
                raise NotFound("no such evidence item")
            data = self.vault.read(session_id, item_id, self._data_key(db, session_id), row.blob_path)
            self._audit(db, actor, "evidence.exported" if export else "evidence.viewed", record, item_id=item_id)
            return EvidenceView.of(row), data

        return self._tx(work)

    def latest_private(self, session_id: str, kind: EvidenceKind, actor: audit.Actor, *,
                       tenant_id: str | None = None) -> bytes | None:
        """The newest sealed item of ``kind`` (e.g. the face template of a reference session), or None;
        audited as a view."""
        with self._sessions() as db:
            self._session(db, session_id, tenant_id)
            item_id = db.execute(select(EvidenceRecord.id).where(
                EvidenceRecord.session_id == session_id, EvidenceRecord.kind == kind.value)
                .order_by(EvidenceRecord.created_at.desc())).scalars().first()
        if item_id is None:
            return None
        return self.read_evidence(session_id, item_id, actor, tenant_id=tenant_id, export=False)[1]

    def _late_segment_allowed(self, record: IdentSessionRecord, kind: EvidenceKind) -> bool:
        """Whether a recording segment for an ended session is the call's last one, sealed after the decision."""
        return (kind is EvidenceKind.RECORDING_SEGMENT and record.erased_at is None and record.ended_at is not None
                and self.clock() - record.ended_at <= RECORDING_GRACE)

    # ----------------------------------------------------------------- erasure and retention
    def erase(self, session_id: str, actor: audit.Actor, *, tenant_id: str | None = None,
              why: str = "requested") -> None:
        """Crypto-shred a session: destroy its data key (PII and evidence become unreadable), drop the sealed
        columns and the vault files. An active session is aborted first. The audit record remains."""
        def work(db: Session) -> bool:
            record = self._session(db, session_id, tenant_id)
            if record.erased_at is not None:
                return False
            if db.get_bind().dialect.name == "sqlite":
                # Zero freed bytes, so the old wrapped key does not linger in the page's free space.
                db.execute(text("PRAGMA secure_delete=ON"))
            if SessionStatus(record.status) not in TERMINAL:
                record.decision, record.reason_code = Decision.ABORTED.value, ReasonCode.CANCELLED_BY_BANK.value
                record.decided_by, record.decided_at = actor.id, self.clock()
                self._move(db, record, SessionStatus.ABORTED, actor, ReasonCode.CANCELLED_BY_BANK)
            now = self.clock()
            key_row = db.get(DataKeyRecord, session_id)
            if key_row is not None:
                key_row.wrapped_key, key_row.destroyed_at = None, now
            record.claimed_identity_enc = record.contact_enc = None
            record.decision_comment_enc = record.override_reason_enc = record.review_comment_enc = None
            record.erased_at, record.updated_at = now, now
            db.execute(update(CheckResultRecord).where(CheckResultRecord.session_id == session_id)
                       .values(payload_enc=None))
            # The console's per-call memory (drawn features, confirmations, views) holds no personal data,
            # but nothing of an erased session is kept beyond its audit trail.
            for table in (DrawnFeaturesRecord, ConfirmationRecord, ChecksViewRecord):
                db.execute(delete(table).where(table.session_id == session_id))
            self._audit(db, actor, "session.erased", record, why=why)
            self._outbox(db, record, "session.erased")
            return True

        if self._tx(work):
            self._purge_sqlite_history()
            removed = self.vault.delete_session(session_id)
            log.info("session %s erased (%d vault files removed)", session_id, removed)

    def _purge_sqlite_history(self) -> None:
        """SQLite keeps old page images in its write-ahead log until a checkpoint: copy the pages back and
        truncate the log, so no earlier version of the wrapped key survives in a file. (PostgreSQL keeps dead
        row versions until VACUUM reuses them; there the defence is that they are wrapped by a master key
        that rotation retires, see docs/core.md.)"""
        with self._sessions() as db:
            if db.get_bind().dialect.name != "sqlite":
                return
            busy = db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
            if busy is not None and busy[0]:
                log.warning("WAL checkpoint after erasure was blocked by a reader; it completes at the next one")

    def shred_past_retention(self) -> int:
        """Erase every ended session past its tenant's retention period; returns how many."""
        now = self.clock()
        with self._sessions() as db:
            rows = db.execute(select(IdentSessionRecord.id, IdentSessionRecord.status, IdentSessionRecord.ended_at,
                                     TenantRecord.retention_days, TenantRecord.unsuccessful_retention_days)
                              .join(TenantRecord, TenantRecord.id == IdentSessionRecord.tenant_id)
                              .where(IdentSessionRecord.erased_at.is_(None),
                                     IdentSessionRecord.ended_at.is_not(None))).all()
        due = [sid for sid, status, ended, keep, keep_unsuccessful in rows if ended is not None
               and ended + timedelta(days=keep if status == SessionStatus.COMPLETED.value else keep_unsuccessful)
               <= now]
        for session_id in due:
            self.erase(session_id, audit.SYSTEM, why="retention")
        return len(due)

    # ----------------------------------------------------------------- keys and recovery
    def rotate_master_key(self) -> int:
        """Re-wrap every data key still under an older master key with the current one, in short batches
        (reads keep working throughout: the ring holds both). Returns how many were re-wrapped."""
        total = 0
        while True:
            def work(db: Session) -> int:
                rows = db.execute(select(DataKeyRecord).where(
                    DataKeyRecord.master_key_id != self.keyring.current_id,
                    DataKeyRecord.wrapped_key.is_not(None)).limit(ROTATION_BATCH)).scalars().all()
                for row in rows:
                    assert row.wrapped_key is not None
                    new = self.keyring.rewrap(WrappedKey(row.master_key_id, row.wrapped_key), row.session_id)
                    row.wrapped_key, row.master_key_id, row.rotated_at = new.wrapped, new.master_key_id, self.clock()
                return len(rows)

            done = self._tx(work)
            total += done
            if done < ROTATION_BATCH:
                break
        self._tx(lambda db: self._audit(db, audit.SYSTEM, "keys.rotated", master_key_id=self.keyring.current_id,
                                        rewrapped=total))
        return total

    def recover(self, min_age_s: float = 3600.0) -> RecoveryReport:
        """After a crash: delete unfinished ``.tmp`` writes and sealed files no committed row names (a write
        whose transaction never committed), both only if older than ``min_age_s``."""
        removed_tmp = len(self.vault.sweep(min_age_s))
        orphans = 0
        import time

        cutoff = time.time() - min_age_s
        with self._sessions() as db:
            known = set(db.execute(select(EvidenceRecord.blob_path)).scalars())
        for blob in self.vault.iter_blobs():
            relative = str(blob.relative_to(self.vault.root))
            if relative not in known and blob.stat().st_mtime <= cutoff:
                Path(blob).unlink(missing_ok=True)
                orphans += 1
        return RecoveryReport(removed_tmp, orphans)
