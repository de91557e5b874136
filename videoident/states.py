"""The ident session's lifecycle as a table: statuses, decision outcomes, reason codes, legal transitions.

::

    created -> waiting -> in_call -> approved -> tan_pending -> completed
                  ^          |   \\-> rejected | aborted
                  +----------+    \\-> review (override, four-eyes) -> approved | rejected
    created | waiting | tan_pending -> expired;  tan_pending -> failed (TAN attempts exhausted)
    created | waiting | in_call -> cancelled (the customer cancelled on their page before a decision)

``approved``, ``rejected`` and ``aborted`` are the three *decided* statuses of the design notes. An illegal
transition raises :class:`IllegalTransition`; nothing else in the code base changes a status.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "SessionStatus",
    "Decision",
    "ReasonCode",
    "Purpose",
    "ActorType",
    "IllegalTransition",
    "TRANSITIONS",
    "TERMINAL",
    "DECIDED",
    "ACTIVE",
    "CUSTOMER_CANCELLABLE",
    "REASONS_BY_DECISION",
    "check_transition",
    "can_transition",
    "decision_of",
    "bank_status",
]


class SessionStatus(StrEnum):
    CREATED = "created"  # the bank created it; the customer has not opened the link yet
    WAITING = "waiting"  # the customer consented and waits for an agent
    IN_CALL = "in_call"  # an agent has the customer on video
    REVIEW = "review"  # the agent overrode a missing or failed check: a supervisor must confirm (four-eyes)
    APPROVED = "approved"  # decided: identity verified (the TAN goes out next)
    REJECTED = "rejected"  # decided: identity not verified (terminal)
    ABORTED = "aborted"  # decided: the ident could not be finished (terminal; the bank may start a new one)
    TAN_PENDING = "tan_pending"  # the customer must confirm with the TAN
    COMPLETED = "completed"  # TAN confirmed: the bank may rely on the result (terminal)
    EXPIRED = "expired"  # the link or the TAN window ran out (terminal)
    FAILED = "failed"  # the TAN was entered wrongly too often (terminal)
    CANCELLED = "cancelled"  # the customer cancelled on their page before a decision (terminal; not a decision)


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    ABORTED = "aborted"


class Purpose(StrEnum):
    ACCOUNT_OPENING = "account_opening"
    REACTIVATION = "reactivation"


class ActorType(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    BANK = "bank"
    CUSTOMER = "customer"
    SYSTEM = "system"


class ReasonCode(StrEnum):
    # approved
    IDENTITY_VERIFIED = "identity_verified"
    OVERRIDE_CONFIRMED = "override_confirmed"  # a supervisor confirmed an agent's override (four-eyes)
    # rejected
    DOCUMENT_FORGERY_SUSPECTED = "document_forgery_suspected"
    DOCUMENT_EXPIRED = "document_expired"
    DOCUMENT_NOT_ACCEPTED = "document_not_accepted"
    IDENTITY_MISMATCH = "identity_mismatch"  # document data differs from the identity the bank claimed
    FACE_MISMATCH = "face_mismatch"
    LIVENESS_FAILED = "liveness_failed"
    SOCIAL_ENGINEERING_SUSPECTED = "social_engineering_suspected"  # coached or coerced customer
    FRAUD_SUSPECTED = "fraud_suspected"
    OVERRIDE_REJECTED = "override_rejected"  # a supervisor did not confirm an agent's override
    # aborted
    CUSTOMER_CANCELLED = "customer_cancelled"
    CONNECTION_LOST = "connection_lost"
    POOR_VIDEO_QUALITY = "poor_video_quality"
    DOCUMENT_NOT_AT_HAND = "document_not_at_hand"
    LANGUAGE_BARRIER = "language_barrier"
    CUSTOMER_UNRESPONSIVE = "customer_unresponsive"
    TECHNICAL_ERROR = "technical_error"
    CANCELLED_BY_BANK = "cancelled_by_bank"
    # expired / failed
    SESSION_EXPIRED = "session_expired"
    TAN_ATTEMPTS_EXHAUSTED = "tan_attempts_exhausted"


#: Which reason codes each decision accepts; a decision with another code raises.
REASONS_BY_DECISION: dict[Decision, frozenset[ReasonCode]] = {
    Decision.APPROVED: frozenset({ReasonCode.IDENTITY_VERIFIED, ReasonCode.OVERRIDE_CONFIRMED}),
    Decision.REJECTED: frozenset(
        {
            ReasonCode.DOCUMENT_FORGERY_SUSPECTED,
            ReasonCode.DOCUMENT_EXPIRED,
            ReasonCode.DOCUMENT_NOT_ACCEPTED,
            ReasonCode.IDENTITY_MISMATCH,
            ReasonCode.FACE_MISMATCH,
            ReasonCode.LIVENESS_FAILED,
            ReasonCode.SOCIAL_ENGINEERING_SUSPECTED,
            ReasonCode.FRAUD_SUSPECTED,
            ReasonCode.OVERRIDE_REJECTED,
        }
    ),
    Decision.ABORTED: frozenset(
        {
            ReasonCode.CUSTOMER_CANCELLED,
            ReasonCode.CONNECTION_LOST,
            ReasonCode.POOR_VIDEO_QUALITY,
            ReasonCode.DOCUMENT_NOT_AT_HAND,
            ReasonCode.LANGUAGE_BARRIER,
            ReasonCode.CUSTOMER_UNRESPONSIVE,
            ReasonCode.TECHNICAL_ERROR,
            ReasonCode.CANCELLED_BY_BANK,
        }
    ),
}

S = SessionStatus
#: The transition table: status -> the statuses it may move to. Anything not listed is illegal.
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    # -> cancelled: the customer may cancel until the agent decides (not during four-eyes review, not after).
    S.CREATED: frozenset({S.WAITING, S.EXPIRED, S.ABORTED, S.CANCELLED}),
    S.WAITING: frozenset({S.IN_CALL, S.EXPIRED, S.ABORTED, S.CANCELLED}),
    # in_call -> waiting: the call dropped before a decision; the customer goes back to the queue.
    S.IN_CALL: frozenset({S.WAITING, S.APPROVED, S.REJECTED, S.ABORTED, S.REVIEW, S.CANCELLED}),
    S.REVIEW: frozenset({S.APPROVED, S.REJECTED, S.ABORTED}),
    # approved -> expired: no TAN could be sent (no contact) before the session's deadline.
    S.APPROVED: frozenset({S.TAN_PENDING, S.EXPIRED, S.ABORTED}),
    S.TAN_PENDING: frozenset({S.COMPLETED, S.FAILED, S.EXPIRED, S.ABORTED}),
    S.REJECTED: frozenset(),
    S.ABORTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
del S

TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
DECIDED = frozenset({SessionStatus.APPROVED, SessionStatus.REJECTED, SessionStatus.ABORTED})
#: Statuses in which the customer link still works.
ACTIVE = frozenset(
    {SessionStatus.CREATED, SessionStatus.WAITING, SessionStatus.IN_CALL, SessionStatus.REVIEW,
     SessionStatus.APPROVED, SessionStatus.TAN_PENDING}
)

#: Statuses from which the customer may cancel (every status with a transition to ``cancelled``).
CUSTOMER_CANCELLABLE = frozenset(
    status for status, targets in TRANSITIONS.items() if SessionStatus.CANCELLED in targets
)


class IllegalTransition(ValueError):
    """A status change the transition table does not allow."""

    def __init__(self, current: SessionStatus, target: SessionStatus) -> None:
        super().__init__(f"illegal transition {current.value} -> {target.value}")
        self.current = current
        self.target = target


def can_transition(current: SessionStatus, target: SessionStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: SessionStatus, target: SessionStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)


def decision_of(status: SessionStatus) -> Decision | None:
    """The decision a status stands for (``tan_pending``/``completed``/``failed`` were approved)."""
    if status in (SessionStatus.APPROVED, SessionStatus.TAN_PENDING, SessionStatus.COMPLETED, SessionStatus.FAILED):
        return Decision.APPROVED
    if status is SessionStatus.REJECTED:
        return Decision.REJECTED
    if status is SessionStatus.ABORTED:
        return Decision.ABORTED
    return None


def bank_status(status: SessionStatus) -> SessionStatus:
    """The status a bank sees: four-eyes review is internal, the bank hears of the decision only after it."""
    return SessionStatus.IN_CALL if status is SessionStatus.REVIEW else status
