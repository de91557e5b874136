"""The append-only, hash-chained audit trail.

Every entry holds ``prev_hash`` (the previous entry's ``hash``) and its own ``hash`` =
SHA-256 over the canonical JSON of (seq, at, actor, action, tenant, session, details, prev_hash). Editing
an entry breaks its hash; deleting one leaves a gap in ``seq`` and breaks the next entry's ``prev_hash``;
:func:`verify_chain` finds both. (Truncating the newest entries is only visible against an anchor kept
elsewhere: :func:`verify_chain` accepts the expected head hash.)

Appends happen inside the caller's database transaction, so a status change and its audit entry commit
together. On PostgreSQL appenders are serialised by a transaction-scoped advisory lock (taken before the
head is read, released at commit), so they never race. On SQLite the database lock serialises writers;
should two still read the same head, ``seq`` (the primary key) makes one fail, and the caller retries
(:mod:`videoident.service_core` does).

Details carry ids, statuses and reason codes only — never a name, an MRZ, a TAN or a comment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from videoident.records import AuditEventRecord
from videoident.states import ActorType

__all__ = ["GENESIS_HASH", "Actor", "append", "verify_chain", "ChainReport", "entry_hash", "SYSTEM"]

#: The prev_hash of the first entry.
GENESIS_HASH = "0" * 64
#: Details must stay small and flat: they are for codes and ids, not content.
MAX_DETAIL_VALUE_CHARS = 200
#: Rows read per batch while verifying (keeps memory flat on long chains).
VERIFY_BATCH = 1000
#: PostgreSQL advisory lock id of the chain head (an arbitrary constant: "VIAU" in ASCII).
AUDIT_LOCK_KEY = 0x56494155


@dataclass(frozen=True)
class Actor:
    """Who did it: an agent, a supervisor, a bank (tenant id), the customer, or the system."""

    type: ActorType
    id: str | None = None


SYSTEM = Actor(ActorType.SYSTEM, "videoident")


def _check_details(details: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in details.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is not None and not isinstance(item, str | int | bool):
                raise TypeError(f"audit detail {key!r} must be str/int/bool/None or a list of them")
            if isinstance(item, str) and len(item) > MAX_DETAIL_VALUE_CHARS:
                raise ValueError(f"audit detail {key!r} is too long to be a code or id")
        clean[str(key)] = value
    return clean


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor_type: str,
    actor_id: str | None,
    action: str,
    tenant_id: str | None,
    session_id: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "tenant_id": tenant_id,
        "session_id": session_id,
        "details": dict(details),
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(
    db: Session,
    *,
    at: datetime,
    actor: Actor,
    action: str,
    tenant_id: str | None = None,
    session_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEventRecord:
    """Add the next entry to the chain inside ``db``'s transaction (flushed, not committed)."""
    if at.tzinfo is None:
        raise ValueError("audit times must be aware UTC")
    clean = _check_details(details or {})
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    head = db.execute(select(AuditEventRecord.seq, AuditEventRecord.hash).order_by(AuditEventRecord.seq.desc())
                      .limit(1)).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    at_utc = at.astimezone(UTC)
    record = AuditEventRecord(
        seq=seq,
        at=at_utc,
        actor_type=actor.type.value,
        actor_id=actor.id,
        action=action,
        tenant_id=tenant_id,
        session_id=session_id,
        details=clean,
        prev_hash=prev,
        hash=entry_hash(seq=seq, at=at_utc, actor_type=actor.type.value, actor_id=actor.id, action=action,
                        tenant_id=tenant_id, session_id=session_id, details=clean, prev_hash=prev),
    )
    db.add(record)
    db.flush()
    return record


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    #: The first entry that does not verify, and why.
    bad_seq: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head_hash": self.head_hash,
                "bad_seq": self.bad_seq, "problem": self.problem}


def verify_chain(db: Session, expected_head: str | None = None) -> ChainReport:
    """Recompute every hash in order; report the first entry that was edited, removed or reordered."""
    prev, expected_seq, count, last_seq = GENESIS_HASH, 1, 0, 0
    while True:
        rows = db.execute(select(AuditEventRecord).where(AuditEventRecord.seq > last_seq)
                          .order_by(AuditEventRecord.seq).limit(VERIFY_BATCH)).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return ChainReport(False, count, prev, expected_seq, f"entry {expected_seq} is missing")
            if row.prev_hash != prev:
                return ChainReport(False, count, prev, row.seq, "prev_hash does not match the previous entry")
            recomputed = entry_hash(seq=row.seq, at=row.at, actor_type=row.actor_type, actor_id=row.actor_id,
                                    action=row.action, tenant_id=row.tenant_id, session_id=row.session_id,
                                    details=row.details, prev_hash=row.prev_hash)
            if recomputed != row.hash:
                return ChainReport(False, count, prev, row.seq, "content does not match its hash (edited)")
            prev, expected_seq, count, last_seq = row.hash, expected_seq + 1, count + 1, row.seq
    if expected_head is not None and prev != expected_head:
        return ChainReport(False, count, prev, None, "the chain does not end at the expected head (truncated?)")
    return ChainReport(True, count, prev)
