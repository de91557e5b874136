"""Decisions (with the approval gate and four-eyes review) and the confirmation TAN."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.results import Verdict
from videoident import audit
from videoident.errors import ApprovalBlocked, FourEyesViolation, NotAssigned, TanError
from videoident.ids import new_uuid
from videoident.notify import Channel, Message, NotificationError
from videoident.records import (
    CheckResultRecord,
    EvidenceRecord,
    IdentSessionRecord,
    TanChallengeRecord,
    TenantRecord,
)
from videoident.service_core import ServiceCore
from videoident.states import REASONS_BY_DECISION, ActorType, Decision, Purpose, ReasonCode, SessionStatus
from videoident.tan import (
    TAN_MAX_FAILED_ATTEMPTS,
    TAN_MAX_SENDS,
    TAN_RESEND_COOLDOWN_S,
    TAN_TTL_S,
    code_hmac,
    codes_match,
    normalise_entry,
    render_message,
)
from videoident.vault import EvidenceKind, Variant
from videoident.views import SessionView

__all__ = ["TanMixin", "TanOutcome", "TanResult", "DecisionOutcome", "REQUIRED_CHECKS", "MIN_OVERRIDE_REASON_CHARS"]

log = logging.getLogger("videoident.service")

#: The automatic checks whose passing result approval needs (the sections of the session report,
#: DESIGN.md; ``injection`` is advisory until that check exists).
REQUIRED_CHECKS = ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness")
#: An override must be explained in words a reviewer can judge; 20 characters rules out "ok" and "see call".
MIN_OVERRIDE_REASON_CHARS = 20
#: After approval the session lives at least this long, so the customer can receive and enter the TAN
#: (and ask for a new one) even if the link's own deadline is near.
APPROVAL_GRACE = timedelta(minutes=30)


class TanOutcome(StrEnum):
    COMPLETED = "completed"  # right code: the session is completed
    WRONG = "wrong"  # wrong code; ``attempts_left`` more tries
    FAILED = "failed"  # wrong code and no tries left: the session failed
    EXPIRED = "expired"  # the code is older than 5 minutes: ask for a new one (no try counted)
    MALFORMED = "malformed"  # not 6 digits (no try counted)
    NOT_PENDING = "not_pending"  # the session is not waiting for a TAN


@dataclass(frozen=True)
class TanResult:
    outcome: TanOutcome
    attempts_left: int
    session: SessionView


@dataclass(frozen=True)
class DecisionOutcome:
    session: SessionView
    #: For approvals: whether a TAN went out; if not, why (then call ``send_tan`` once it can).
    tan_sent: bool = False
    tan_problem: str | None = None


class TanMixin(ServiceCore):
    # ----------------------------------------------------------------- the approval gate
    def _approval_gaps(self, db: Session, record: IdentSessionRecord) -> list[str]:
        evidence = db.execute(select(EvidenceRecord.kind, EvidenceRecord.template).where(
            EvidenceRecord.session_id == record.id, EvidenceRecord.variant == Variant.STORED.value)).all()
        kinds = {kind for kind, _ in evidence}
        passport = any(template == "passport" for kind, template in evidence if kind == EvidenceKind.FRONT.value)
        needed = [EvidenceKind.FRONT, EvidenceKind.FACE] + ([] if passport else [EvidenceKind.BACK])
        gaps = [f"capture:{kind.value}" for kind in needed if kind.value not in kinds]
        rows = db.execute(select(CheckResultRecord).where(CheckResultRecord.session_id == record.id)
                          .order_by(CheckResultRecord.recorded_at)).scalars().all()
        newest = {row.name: row.verdict for row in rows}
        for name in REQUIRED_CHECKS:
            verdict = newest.get(name)
            if verdict is None:
                gaps.append(f"check:{name}:missing")
            elif verdict != Verdict.PASS.value:
                gaps.append(f"check:{name}:{verdict}")
        return gaps

    def approval_gaps(self, session_id: str) -> list[str]:
        """What approval without override still lacks: ``capture:<kind>`` and ``check:<name>:<verdict>``."""
        with self._sessions() as db:
            return self._approval_gaps(db, self._session(db, session_id))

    # ----------------------------------------------------------------- decisions
    def decide(self, session_id: str, agent_id: str, decision: Decision, reason_code: ReasonCode, *,
               comment: str | None = None, override_reason: str | None = None) -> DecisionOutcome:
        """The agent's decision. Approval needs every capture and passing check, or ``override_reason``,
        which sends the session to four-eyes review instead (the bank hears nothing until a supervisor acts)."""
        if reason_code not in REASONS_BY_DECISION[decision]:
            raise ValueError(f"reason {reason_code.value} does not fit decision {decision.value}")
        actor = audit.Actor(ActorType.AGENT, agent_id)

        def work(db: Session) -> bool:
            record = self._session(db, session_id)
            if SessionStatus(record.status) is SessionStatus.IN_CALL and record.agent_id not in (None, agent_id):
                raise NotAssigned("another agent has this call")
            key = self._data_key(db, session_id)
            if comment:
                record.decision_comment_enc = self._seal_json(key, session_id, "comment", comment)
            gaps = self._approval_gaps(db, record) if decision is Decision.APPROVED else []
            if gaps:
                if not override_reason or len(override_reason.strip()) < MIN_OVERRIDE_REASON_CHARS:
                    raise ApprovalBlocked(gaps)
                record.override = True
                record.override_reason_enc = self._seal_json(key, session_id, "override", override_reason)
                record.review_requested_decision = decision.value
                record.agent_id = agent_id
                self._move(db, record, SessionStatus.REVIEW, actor, reason_code, gaps=gaps)
                return False
            self._record_decision(record, decision, reason_code, agent_id)
            self._move(db, record, SessionStatus(decision.value), actor, reason_code)
            return decision is Decision.APPROVED

        approved = self._tx(work)
        return self._after_decision(session_id, approved)

    def review(self, session_id: str, supervisor_id: str, *, confirm: bool, comment: str | None = None
               ) -> DecisionOutcome:
        """A supervisor's four-eyes decision on an override: confirm (approved) or reject."""
        actor = audit.Actor(ActorType.SUPERVISOR, supervisor_id)

        def work(db: Session) -> bool:
            record = self._session(db, session_id)
            if SessionStatus(record.status) is not SessionStatus.REVIEW:
                raise ValueError("the session is not waiting for four-eyes review")
            if supervisor_id == record.agent_id:
                raise FourEyesViolation("the agent who overrode cannot review their own override")
            if comment:
                key = self._data_key(db, session_id)
                record.review_comment_enc = self._seal_json(key, session_id, "review_comment", comment)
            record.reviewed_by = supervisor_id
            decision = Decision.APPROVED if confirm else Decision.REJECTED
            reason = ReasonCode.OVERRIDE_CONFIRMED if confirm else ReasonCode.OVERRIDE_REJECTED
            self._record_decision(record, decision, reason, supervisor_id)
            self._move(db, record, SessionStatus(decision.value), actor, reason)
            return confirm

        return self._after_decision(session_id, self._tx(work))

    def _record_decision(self, record: IdentSessionRecord, decision: Decision, reason: ReasonCode, by: str) -> None:
        now = self.clock()
        record.decision, record.reason_code = decision.value, reason.value
        record.decided_by, record.decided_at = by, now
        if decision is Decision.APPROVED:
            record.expires_at = max(record.expires_at, now + APPROVAL_GRACE)

    def _after_decision(self, session_id: str, approved: bool) -> DecisionOutcome:
        if not approved:
            return DecisionOutcome(self.get_session_view(session_id))
        try:
            self.send_tan(session_id)
        except TanError as exc:
            log.warning("session %s approved but no TAN sent: %s", session_id, exc)
            return DecisionOutcome(self.get_session_view(session_id), False, str(exc))
        return DecisionOutcome(self.get_session_view(session_id), True)

    def get_session_view(self, session_id: str) -> SessionView:
        with self._sessions() as db:
            return SessionView.of(self._session(db, session_id))

    # ----------------------------------------------------------------- TAN
    def send_tan(self, session_id: str, actor: audit.Actor = audit.SYSTEM) -> None:
        """Issue a new TAN (superseding an open one; the count of wrong entries stays) and send it."""
        code = self._tan_codes()

        def issue(db: Session) -> tuple[Message, str]:
            record = self._session(db, session_id)
            status = SessionStatus(record.status)
            if status not in (SessionStatus.APPROVED, SessionStatus.TAN_PENDING):
                raise TanError(f"no TAN in status {status.value}")
            contact = self._contact(db, record)
            if contact is None:
                raise TanError("the session has no e-mail address or phone number for the TAN")
            now = self.clock()
            challenges = db.execute(select(TanChallengeRecord).where(TanChallengeRecord.session_id == session_id)
                                    .order_by(TanChallengeRecord.created_at)).scalars().all()
            sent = [c for c in challenges if c.channel != "unsent"]
            if len(sent) >= TAN_MAX_SENDS:
                raise TanError("the maximum number of TANs for this session was sent")
            if sent and (now - sent[-1].created_at).total_seconds() < TAN_RESEND_COOLDOWN_S:
                raise TanError(f"wait {TAN_RESEND_COOLDOWN_S} s between two TANs")
            for challenge in challenges:
                if challenge.used_at is None and challenge.superseded_at is None:
                    challenge.superseded_at = now
            if contact.phone and Channel.SMS in self.notifier.channels:
                channel, recipient = Channel.SMS, contact.phone
            elif contact.email and Channel.EMAIL in self.notifier.channels:
                channel, recipient = Channel.EMAIL, contact.email
            else:
                raise TanError("no configured transport reaches this customer's contact")
            challenge = TanChallengeRecord(id=new_uuid(), session_id=session_id, purpose=record.purpose,
                                           master_key_id=self.keyring.current_id, channel="unsent", created_at=now,
                                           expires_at=now + timedelta(seconds=TAN_TTL_S))
            challenge.code_hmac = code_hmac(self.keyring.tan_key(challenge.master_key_id), challenge_id=challenge.id,
                                            session_id=session_id, purpose=Purpose(record.purpose), code=code)
            db.add(challenge)
            if status is SessionStatus.APPROVED:
                self._move(db, record, SessionStatus.TAN_PENDING, actor)
            tenant = db.get(TenantRecord, record.tenant_id)
            assert tenant is not None
            text = render_message(code=code, bank=tenant.display_name, purpose=Purpose(record.purpose),
                                  locale=record.locale)
            body = text.sms if channel is Channel.SMS else text.body
            return Message(channel, recipient, text.subject, body), challenge.id

        message, challenge_id = self._tx(issue)
        try:
            self.notifier.send(message)
        except NotificationError as exc:
            self._tx(lambda db: self._audit(db, actor, "tan.send_failed", self._session(db, session_id),
                                            challenge_id=challenge_id, channel=message.channel.value))
            raise TanError(f"the TAN could not be sent: {exc}") from None

        def mark_sent(db: Session) -> None:
            challenge = db.get(TanChallengeRecord, challenge_id)
            assert challenge is not None
            challenge.channel = message.channel.value
            self._audit(db, actor, "tan.sent", self._session(db, session_id), challenge_id=challenge_id,
                        channel=message.channel.value)

        self._tx(mark_sent)

    def verify_tan(self, session_id: str, entry: str) -> TanResult:
        """Check the customer's entry against the newest TAN (constant-time); the 3rd wrong entry fails."""
        actor = audit.Actor(ActorType.CUSTOMER, session_id)
        digits = normalise_entry(entry)

        def work(db: Session) -> TanOutcome:
            # Locked: parallel guesses queue here, so one that comes after the failing third sees `failed`.
            record = self._session(db, session_id, lock=True)
            if SessionStatus(record.status) is not SessionStatus.TAN_PENDING:
                return TanOutcome.NOT_PENDING
            if digits is None:
                return TanOutcome.MALFORMED
            challenge = db.execute(select(TanChallengeRecord).where(
                TanChallengeRecord.session_id == session_id, TanChallengeRecord.used_at.is_(None),
                TanChallengeRecord.superseded_at.is_(None)).order_by(TanChallengeRecord.created_at.desc())
            ).scalars().first()
            now = self.clock()
            if challenge is None or challenge.expires_at <= now:
                # A parallel entry may have failed the session (and retired its challenge) after our first
                # read: both commit together, so a fresh read of the session tells the two cases apart.
                db.refresh(record)
                if SessionStatus(record.status) is not SessionStatus.TAN_PENDING:
                    return TanOutcome.NOT_PENDING
                self._audit(db, actor, "tan.expired_entry", record)
                return TanOutcome.EXPIRED
            candidate = code_hmac(self.keyring.tan_key(challenge.master_key_id), challenge_id=challenge.id,
                                  session_id=session_id, purpose=Purpose(challenge.purpose), code=digits)
            if codes_match(challenge.code_hmac, candidate):
                challenge.used_at = now
                self._audit(db, actor, "tan.confirmed", record, challenge_id=challenge.id)
                self._move(db, record, SessionStatus.COMPLETED, actor)
                return TanOutcome.COMPLETED
            record.tan_failed_attempts += 1
            record.updated_at = now
            self._audit(db, actor, "tan.wrong", record, challenge_id=challenge.id,
                        failed_attempts=record.tan_failed_attempts)
            if record.tan_failed_attempts >= TAN_MAX_FAILED_ATTEMPTS:
                challenge.superseded_at = now
                record.reason_code = ReasonCode.TAN_ATTEMPTS_EXHAUSTED.value
                self._move(db, record, SessionStatus.FAILED, actor, ReasonCode.TAN_ATTEMPTS_EXHAUSTED)
                return TanOutcome.FAILED
            return TanOutcome.WRONG

        outcome = self._tx(work)
        view = self.get_session_view(session_id)
        return TanResult(outcome, max(0, TAN_MAX_FAILED_ATTEMPTS - view.tan_failed_attempts), view)
