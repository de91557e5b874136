"""``IdentService``: the facade the API, the live session and the console call.

Every method is one database transaction (retried when a concurrent writer won a race on the audit
chain or the session row). Every status change goes through ``_move`` (:mod:`videoident.service_core`),
which checks the transition table and writes the audit entry and the bank's outbox event in that same
transaction. PII (claimed identity, contact, comments, check measurements) is sealed with the session's
data key. Evidence, erasure and keys live in :mod:`videoident.service_evidence`, decisions and the TAN in
:mod:`videoident.service_tan`, so each module stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from pipelines.results import CheckResult, Reason, Verdict
from videoident import audit
from videoident.crypto import new_data_key
from videoident.errors import NotFound, TokenInvalid
from videoident.ids import new_uuid
from videoident.masking_policy import Profile, policy_for
from videoident.records import (
    CheckResultRecord,
    DataKeyRecord,
    IdentSessionRecord,
    OutboxEventRecord,
    TenantRecord,
)
from videoident.service_core import token_hash
from videoident.service_evidence import EvidenceMixin
from videoident.service_tan import TanMixin
from videoident.states import ACTIVE, TERMINAL, ActorType, Purpose, ReasonCode, SessionStatus
from videoident.views import (
    ClaimedIdentity,
    Contact,
    CreatedSession,
    EvidenceView,
    QueuePosition,
    SessionView,
    TenantView,
)

__all__ = ["IdentService", "ClaimedIdentity", "Contact", "CreatedSession", "SessionView", "TenantView",
           "EvidenceView", "QueuePosition", "ASSUMED_CALL_S"]

#: Bytes of randomness in a customer link token (256 bits: unguessable).
CUSTOMER_TOKEN_BYTES = 32
#: Assumed agent time per call for the wait estimate. The design targets a 5-10 minute ident (tilt, both
#: sides, face, questions, TAN); 8 minutes until measured call durations replace it.
ASSUMED_CALL_S = 480


class IdentService(EvidenceMixin, TanMixin):
    """The core's facade. Construct with :meth:`from_settings` (runs the migrations) or directly in tests."""

    # ----------------------------------------------------------------- tenants
    def create_tenant(self, name: str, display_name: str, *, masking_profile: Profile = Profile.DEFAULT,
                      masking_custom: Mapping[str, Any] | None = None, retention_days: int | None = None,
                      actor: audit.Actor = audit.SYSTEM) -> TenantView:
        policy_for(masking_profile, masking_custom)  # refuse an invalid policy now, not at the first capture

        def work(db: Session) -> TenantView:
            record = TenantRecord(id=new_uuid(), name=name, display_name=display_name,
                                  masking_profile=Profile(masking_profile).value,
                                  masking_custom=dict(masking_custom) if masking_custom else None,
                                  created_at=self.clock())
            if retention_days is not None:
                record.retention_days = retention_days
            db.add(record)
            db.flush()
            self._audit(db, actor, "tenant.created", tenant_id=record.id, masking_profile=record.masking_profile)
            return TenantView.of(record)

        return self._tx(work)

    def get_tenant(self, tenant_id: str) -> TenantView:
        with self._sessions() as db:
            record = db.get(TenantRecord, tenant_id)
            if record is None:
                raise NotFound("no such tenant")
            return TenantView.of(record)

    # ----------------------------------------------------------------- sessions
    def create_session(
        self,
        tenant_id: str,
        *,
        identity: ClaimedIdentity,
        purpose: Purpose,
        reference: str,
        callback_url: str | None = None,
        locale: str = "en",
        contact: Contact | None = None,
        reference_session_id: str | None = None,
        actor: audit.Actor | None = None,
    ) -> CreatedSession:
        """A new session and its customer link token (returned once; only its hash is stored)."""
        token = self._random_bytes(CUSTOMER_TOKEN_BYTES).hex()
        actor = actor or audit.Actor(ActorType.BANK, tenant_id)

        def work(db: Session) -> CreatedSession:
            if db.get(TenantRecord, tenant_id) is None:
                raise NotFound("no such tenant")
            if reference_session_id is not None:
                self._session(db, reference_session_id, tenant_id)  # same tenant only
            if purpose is Purpose.REACTIVATION and reference_session_id is None:
                raise ValueError("a reactivation needs the reference session it re-identifies against")
            now = self.clock()
            record = IdentSessionRecord(
                id=new_uuid(), tenant_id=tenant_id, status=SessionStatus.CREATED.value, purpose=purpose.value,
                reference=reference, callback_url=callback_url, locale=locale,
                reference_session_id=reference_session_id, customer_token_hash=token_hash(token),
                created_at=now, updated_at=now, expires_at=now + self.session_ttl, tan_failed_attempts=0,
                override=False)
            data_key = new_data_key(self._random_bytes)
            record.claimed_identity_enc = self._seal_json(data_key, record.id, "identity", asdict(identity))
            if contact is not None:
                record.contact_enc = self._seal_json(data_key, record.id, "contact", asdict(contact))
            db.add(record)
            db.flush()
            wrapped = self.keyring.wrap(data_key, record.id)
            db.add(DataKeyRecord(session_id=record.id, wrapped_key=wrapped.wrapped,
                                 master_key_id=wrapped.master_key_id, created_at=now))
            self._audit(db, actor, "session.created", record, purpose=purpose.value, status=record.status)
            self._outbox(db, record, "session.created")
            return CreatedSession(SessionView.of(record), token)

        return self._tx(work)

    def get_session(self, session_id: str, tenant_id: str | None = None) -> SessionView:
        """The session; with ``tenant_id``, another tenant's session raises :class:`NotFound` like a missing one."""
        with self._sessions() as db:
            return SessionView.of(self._session(db, session_id, tenant_id))

    def session_by_token(self, token: str) -> SessionView:
        """The session a customer link belongs to, while it is active and not expired."""
        with self._sessions() as db:
            record = db.execute(select(IdentSessionRecord).where(
                IdentSessionRecord.customer_token_hash == token_hash(token))).scalar_one_or_none()
            if record is None or SessionStatus(record.status) not in ACTIVE or record.expires_at <= self.clock():
                raise TokenInvalid("this link is not valid (any more)")
            return SessionView.of(record)

    def claimed_identity(self, session_id: str, actor: audit.Actor, tenant_id: str | None = None) -> ClaimedIdentity:
        """Decrypt the identity the bank claimed (audited as a view)."""
        def work(db: Session) -> ClaimedIdentity:
            record = self._session(db, session_id, tenant_id)
            key = self._data_key(db, session_id)
            assert record.claimed_identity_enc is not None
            data = self._open_json(key, session_id, "identity", record.claimed_identity_enc)
            self._audit(db, actor, "identity.viewed", record)
            return ClaimedIdentity(**{**data, "birthdate": date.fromisoformat(data["birthdate"])})

        return self._tx(work)

    def record_audit(self, actor: audit.Actor, action: str, *, session_id: str | None = None,
                     tenant_id: str | None = None, **details: Any) -> None:
        """One audit entry for an action outside the core (a console login, a view of a live stream).
        ``details``: ids and codes only (str/int/bool/None or lists of them, <= 200 characters)."""
        def work(db: Session) -> None:
            record = self._session(db, session_id) if session_id is not None else None
            self._audit(db, actor, action, record, tenant_id=tenant_id, **details)

        self._tx(work)

    def decision_notes(self, session_id: str, actor: audit.Actor) -> dict[str, str | None]:
        """The agent's comment and override reason (for the four-eyes reviewer) and the reviewer's comment,
        decrypted; audited as a view."""
        def work(db: Session) -> dict[str, str | None]:
            record = self._session(db, session_id)
            key = self._data_key(db, session_id)
            notes: dict[str, str | None] = {"comment": None, "override_reason": None, "review_comment": None}
            if record.decision_comment_enc is not None:
                notes["comment"] = self._open_json(key, session_id, "comment", record.decision_comment_enc)
            if record.override_reason_enc is not None:
                notes["override_reason"] = self._open_json(key, session_id, "override", record.override_reason_enc)
            if record.review_comment_enc is not None:
                notes["review_comment"] = self._open_json(key, session_id, "review_comment",
                                                          record.review_comment_enc)
            self._audit(db, actor, "notes.viewed", record)
            return notes

        return self._tx(work)

    def list_sessions(self, *, statuses: Iterable[SessionStatus] | None = None, tenant_id: str | None = None,
                      limit: int = 100) -> list[SessionView]:
        """Sessions oldest first (``updated_at``), e.g. the agents' queue (``waiting``: the time since
        ``updated_at`` is the wait) or the supervisors' (``review``)."""
        query = select(IdentSessionRecord).order_by(IdentSessionRecord.updated_at).limit(limit)
        if statuses is not None:
            query = query.where(IdentSessionRecord.status.in_([s.value for s in statuses]))
        if tenant_id is not None:
            query = query.where(IdentSessionRecord.tenant_id == tenant_id)
        with self._sessions() as db:
            return [SessionView.of(r) for r in db.execute(query).scalars()]

    def queue_position(self, session_id: str) -> QueuePosition | None:
        """Where a waiting customer stands (None unless the session is ``waiting``). The waiting room is
        ordered by the time a session entered it (``updated_at``, ties by id), like the agents' queue
        snapshot; the wait estimate is position x :data:`ASSUMED_CALL_S` / calls in progress (at least one:
        the agents busy now approximate the agents on duty)."""
        waiting = IdentSessionRecord.status == SessionStatus.WAITING.value
        with self._sessions() as db:
            record = self._session(db, session_id)
            if SessionStatus(record.status) is not SessionStatus.WAITING:
                return None
            ahead = db.execute(select(func.count()).select_from(IdentSessionRecord).where(waiting, or_(
                IdentSessionRecord.updated_at < record.updated_at,
                and_(IdentSessionRecord.updated_at == record.updated_at, IdentSessionRecord.id < record.id),
            ))).scalar_one()
            total = db.execute(select(func.count()).select_from(IdentSessionRecord).where(waiting)).scalar_one()
            busy = db.execute(select(func.count()).select_from(IdentSessionRecord).where(
                IdentSessionRecord.status == SessionStatus.IN_CALL.value)).scalar_one()
        position = int(ahead) + 1
        return QueuePosition(position=position, waiting=max(int(total), position), agents_busy=int(busy),
                             estimated_wait_s=position * ASSUMED_CALL_S // max(1, int(busy)))

    def set_contact(self, session_id: str, contact: Contact, actor: audit.Actor) -> None:
        def work(db: Session) -> None:
            record = self._session(db, session_id)
            if SessionStatus(record.status) in TERMINAL:
                raise ValueError("the session has ended")
            key = self._data_key(db, session_id)
            record.contact_enc = self._seal_json(key, session_id, "contact", asdict(contact))
            record.updated_at = self.clock()
            self._audit(db, actor, "contact.set", record)

        self._tx(work)

    def _simple_move(self, session_id: str, target: SessionStatus, actor: audit.Actor,
                     reason_code: ReasonCode | None = None, **fields: Any) -> SessionView:
        def work(db: Session) -> SessionView:
            record = self._session(db, session_id)
            for name, value in fields.items():
                setattr(record, name, value)
            self._move(db, record, target, actor, reason_code)
            return SessionView.of(record)

        return self._tx(work)

    def customer_joined(self, session_id: str) -> SessionView:
        """The customer consented on the page and waits for an agent: created -> waiting."""
        return self._simple_move(session_id, SessionStatus.WAITING, audit.Actor(ActorType.CUSTOMER, session_id))

    def start_call(self, session_id: str, agent_id: str) -> SessionView:
        """An agent picked the session up: waiting -> in_call."""
        return self._simple_move(session_id, SessionStatus.IN_CALL, audit.Actor(ActorType.AGENT, agent_id),
                                 agent_id=agent_id)

    def call_dropped(self, session_id: str, actor: audit.Actor = audit.SYSTEM) -> SessionView:
        """The call ended before a decision: in_call -> waiting (the customer may reconnect)."""
        return self._simple_move(session_id, SessionStatus.WAITING, actor)

    def customer_cancelled(self, session_id: str) -> SessionView:
        """The customer cancelled on their page before a decision: created | waiting | in_call -> cancelled
        (reason ``customer_cancelled``, audited with the customer as actor; the bank hears it by webhook).
        Raises :class:`IllegalTransition` from any other status (decided, in four-eyes review, ended)."""
        def work(db: Session) -> SessionView:
            record = self._session(db, session_id)
            record.reason_code = ReasonCode.CUSTOMER_CANCELLED.value  # before the move: the webhook carries it
            self._move(db, record, SessionStatus.CANCELLED, audit.Actor(ActorType.CUSTOMER, session_id),
                       ReasonCode.CUSTOMER_CANCELLED)
            return SessionView.of(record)

        return self._tx(work)

    def record_check(self, session_id: str, result: CheckResult, actor: audit.Actor = audit.SYSTEM) -> None:
        """Store one automatic check's result (measurements sealed: they may hold MRZ fields)."""
        self.record_checks(session_id, [result], actor)

    def record_checks(self, session_id: str, results: Iterable[CheckResult], actor: audit.Actor = audit.SYSTEM
                      ) -> None:
        """Store several check results (e.g. every section of a session report) in one transaction."""
        results = list(results)

        def work(db: Session) -> None:
            record = self._session(db, session_id)
            if SessionStatus(record.status) in TERMINAL:
                raise ValueError("the session has ended")
            key = self._data_key(db, session_id)
            now = self.clock()
            for result in results:
                row = CheckResultRecord(id=new_uuid(), session_id=session_id, name=result.name,
                                        verdict=result.verdict.value, score=result.score,
                                        reason_code=result.reason.code, recorded_at=now)
                row.payload_enc = self._seal_json(key, session_id, f"check/{row.id}",
                                                  {"reason_text": result.reason.text,
                                                   "measurements": dict(result.measurements)})
                db.add(row)
                self._audit(db, actor, "check.recorded", record, check=result.name, verdict=result.verdict.value,
                            reason_code=result.reason.code)

        self._tx(work)

    def check_results(self, session_id: str, tenant_id: str | None = None) -> list[CheckResult]:
        """The newest result of each check, decrypted."""
        with self._sessions() as db:
            self._session(db, session_id, tenant_id)
            key = self._data_key(db, session_id)
            rows = db.execute(select(CheckResultRecord).where(CheckResultRecord.session_id == session_id)
                              .order_by(CheckResultRecord.recorded_at)).scalars().all()
            newest: dict[str, CheckResultRecord] = {row.name: row for row in rows}
            results = []
            for row in newest.values():
                assert row.payload_enc is not None
                payload = self._open_json(key, session_id, f"check/{row.id}", row.payload_enc)
                results.append(CheckResult(row.name, Verdict(row.verdict), Reason(row.reason_code,
                               payload["reason_text"]), row.score, payload["measurements"]))
            return results

    # ----------------------------------------------------------------- housekeeping
    def expire_due(self) -> int:
        """Expire every session past its deadline that is waiting on the customer; returns how many."""
        now = self.clock()
        with self._sessions() as db:
            due = db.execute(select(IdentSessionRecord.id).where(
                IdentSessionRecord.expires_at <= now,
                IdentSessionRecord.status.in_([s.value for s in (SessionStatus.CREATED, SessionStatus.WAITING,
                                                                 SessionStatus.APPROVED, SessionStatus.TAN_PENDING)]),
            )).scalars().all()
        for session_id in due:
            def work(db: Session, session_id: str = session_id) -> None:
                record = self._session(db, session_id)
                if record.expires_at <= self.clock() and SessionStatus(record.status) not in TERMINAL:
                    self._move(db, record, SessionStatus.EXPIRED, audit.SYSTEM, ReasonCode.SESSION_EXPIRED)
                    record.reason_code = ReasonCode.SESSION_EXPIRED.value

            self._tx(work)
        return len(due)

    def pending_outbox(self, limit: int = 100) -> list[OutboxEventRecord]:
        """Undelivered bank events, oldest first (the webhook deliverer marks them dispatched)."""
        with self._sessions() as db:
            return list(db.execute(select(OutboxEventRecord).where(OutboxEventRecord.dispatched_at.is_(None))
                                   .order_by(OutboxEventRecord.id).limit(limit)).scalars())

    def mark_outbox_dispatched(self, event_id: str) -> None:
        def work(db: Session) -> None:
            row = db.execute(select(OutboxEventRecord).where(OutboxEventRecord.event_id == event_id)).scalar_one()
            row.dispatched_at = self.clock()

        self._tx(work)

    def verify_audit(self, expected_head: str | None = None) -> audit.ChainReport:
        with self._sessions() as db:
            return audit.verify_chain(db, expected_head)
