"""The plumbing under :class:`videoident.service.IdentService`: transactions with retry, sealing of PII,
audit and outbox writes, and :meth:`ServiceCore._move`, the one place a session's status changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from videoident import audit
from videoident.clock import Clock, utcnow
from videoident.crypto import KeyRing, RandomBytes, WrappedKey, open_sealed, seal
from videoident.errors import Erased, NotFound
from videoident.ids import new_uuid
from videoident.notify import Notifier, build_notifier
from videoident.records import DataKeyRecord, IdentSessionRecord, OutboxEventRecord
from videoident.settings import Settings
from videoident.states import TERMINAL, ReasonCode, SessionStatus, bank_status, check_transition
from videoident.tan import CodeSource, generate_code
from videoident.vault import EvidenceVault
from videoident.views import Contact

__all__ = ["ServiceCore", "token_hash", "SESSION_TTL"]

log = logging.getLogger("videoident.service")

#: How long a customer link stays valid: two days covers "the customer opens it tomorrow evening".
SESSION_TTL = timedelta(hours=48)
#: Retries of a transaction that lost a race (audit chain head or session version) before giving up.
MAX_TX_ATTEMPTS = 8
#: Upper bound of the random pause before retry n is n times this (seconds): writes take a few ms.
RETRY_BACKOFF_S = 0.02

T = TypeVar("T")


def _is_lock_error(exc: OperationalError) -> bool:
    """SQLite's "database is locked" (busy timeout ran out) or a PostgreSQL serialization/deadlock error."""
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "database is locked" in text or "deadlock detected" in text or "could not serialize" in text


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServiceCore:
    """State and plumbing shared by the service's parts."""


    def __init__(
        self,
        sessions: sessionmaker[Session],
        keyring: KeyRing,
        vault: EvidenceVault,
        notifier: Notifier,
        *,
        clock: Clock = utcnow,
        random_bytes: RandomBytes = os.urandom,
        tan_codes: CodeSource = generate_code,
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        self._sessions = sessions
        self.keyring = keyring
        self.vault = vault
        self.notifier = notifier
        self.clock = clock
        self._random_bytes = random_bytes
        self._tan_codes = tan_codes
        self.session_ttl = session_ttl

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None, notifier: Notifier | None = None,
                      **kwargs: Any) -> Self:
        from videoident.db import make_engine, make_sessionmaker
        from videoident.migrations import migrate

        engine = engine or make_engine(settings.resolved_database_url)
        migrate(engine)
        keyring = KeyRing(settings.master_key_id, settings.master_key_bytes, settings.previous_master_key_bytes())
        return cls(make_sessionmaker(engine), keyring, EvidenceVault(settings.vault_dir),
                   notifier or build_notifier(settings.environment), **kwargs)

    # ----------------------------------------------------------------- plumbing
    def _tx(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction; retry it if a concurrent writer won a race."""
        for attempt in range(1, MAX_TX_ATTEMPTS + 1):
            db = self._sessions()
            try:
                result = work(db)
                db.commit()
                return result
            except (IntegrityError, StaleDataError, OperationalError) as exc:
                db.rollback()
                if attempt == MAX_TX_ATTEMPTS or (isinstance(exc, OperationalError) and not _is_lock_error(exc)):
                    raise
                log.info("transaction lost a race, retrying (attempt %d)", attempt)
                # Random backoff so the losers of a race do not collide again in lock-step.
                time.sleep(random.uniform(0, RETRY_BACKOFF_S * attempt))  # noqa: S311 - jitter
            except BaseException:
                db.rollback()
                raise
            finally:
                db.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _session(self, db: Session, session_id: str, tenant_id: str | None = None, *,
                 lock: bool = False) -> IdentSessionRecord:
        """The session row; ``lock`` takes a row lock (PostgreSQL ``FOR UPDATE``; SQLite serialises writers
        anyway) so that concurrent callers see each other's committed result, not a stale status."""
        record = db.get(IdentSessionRecord, session_id, with_for_update=lock)
        if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
            raise NotFound("no such session")  # another tenant's session looks exactly like a missing one
        return record

    def _data_key(self, db: Session, session_id: str) -> bytes:
        row = db.get(DataKeyRecord, session_id)
        if row is None or row.wrapped_key is None:
            raise Erased("the session's data was erased")
        return self.keyring.unwrap(WrappedKey(row.master_key_id, row.wrapped_key), session_id)

    def _seal_json(self, key: bytes, session_id: str, field: str, value: Any) -> bytes:
        plaintext = json.dumps(value, separators=(",", ":"), default=str).encode()
        return seal(key, plaintext, f"videoident/pii/v1|{session_id}|{field}".encode(), self._random_bytes)

    def _open_json(self, key: bytes, session_id: str, field: str, sealed: bytes) -> Any:
        return json.loads(open_sealed(key, sealed, f"videoident/pii/v1|{session_id}|{field}".encode()))

    def _audit(self, db: Session, actor: audit.Actor, action: str, record: IdentSessionRecord | None = None,
               tenant_id: str | None = None, **details: Any) -> None:
        audit.append(db, at=self.clock(), actor=actor, action=action,
                     tenant_id=record.tenant_id if record is not None else tenant_id,
                     session_id=record.id if record is not None else None, details=details)

    def _outbox(self, db: Session, record: IdentSessionRecord, event_type: str, **extra: Any) -> None:
        now = self.clock()
        payload = {"session_id": record.id, "reference": record.reference, "status": bank_status(
            SessionStatus(record.status)).value, "at": now.isoformat(), **extra}
        event = OutboxEventRecord(event_id=new_uuid(), tenant_id=record.tenant_id, session_id=record.id,
                                  type=event_type, payload=payload, created_at=now, attempts=0)
        payload["event_id"] = event.event_id
        db.add(event)

    def _move(self, db: Session, record: IdentSessionRecord, target: SessionStatus, actor: audit.Actor,
              reason_code: ReasonCode | None = None, **details: Any) -> None:
        """The one place a status changes: table check, audit entry and outbox event, one transaction."""
        current = SessionStatus(record.status)
        check_transition(current, target)
        now = self.clock()
        record.status = target.value
        record.updated_at = now
        if target in TERMINAL:
            record.ended_at = now
        self._audit(db, actor, "session.status_changed", record, previous=current.value, status=target.value,
                    reason_code=reason_code.value if reason_code else None, **details)
        if bank_status(current) != bank_status(target):
            self._outbox(db, record, "session.status_changed", previous_status=bank_status(current).value,
                         decision=record.decision, reason_code=record.reason_code)
        log.info("session %s: %s -> %s", record.id, current.value, target.value)

    def _contact(self, db: Session, record: IdentSessionRecord) -> Contact | None:
        if record.contact_enc is None:
            return None
        return Contact(**self._open_json(self._data_key(db, record.id), record.id, "contact", record.contact_enc))
