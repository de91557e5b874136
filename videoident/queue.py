"""The agents' waiting queue: who waits, for how long, for which bank and purpose; random assignment.

BaFin's video-ident circular (Rundschreiben 3/2017 (GW), section III) and ETSI TS 119 461 require that an
agent cannot choose whom to identify (collusion). So there is no "take this call": :meth:`CallQueue.take_next`
assigns one of the waiting customers **at random** (``secrets.SystemRandom``) to the agent who asks. An agent
who still has a call open gets that call back instead of a new one.

:class:`CallQueue` is the interface; :class:`DatabaseCallQueue` is the embedded implementation over the
session table (the ``waiting`` status *is* the queue, so several workers on one PostgreSQL already share
it: the core's optimistic lock on the session row lets only one agent win a customer). One agent asking
twice at once (a double click that two workers serve) gets one call, not two: ``take_next`` holds a lock per
agent - a PostgreSQL advisory lock, shared by every worker, or a lock in this process on SQLite (one process).
tests/scale/test_workers.py proves the assignment across two ``serve`` workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from videoident.records import IdentSessionRecord, TenantRecord
from videoident.service import IdentService, SessionView
from videoident.states import IllegalTransition, Purpose, SessionStatus

__all__ = ["WaitingCall", "QueueSnapshot", "CallQueue", "DatabaseCallQueue"]

#: How many waiting sessions one assignment tries before reporting "none" (each try that loses a race
#: to another agent moves on to the next random candidate).
MAX_ASSIGN_TRIES = 20


@dataclass(frozen=True)
class WaitingCall:
    """One waiting customer, as the queue shows it: no name, no PII. ``wait_s`` since they joined."""

    session_id: str
    bank: str
    purpose: Purpose
    waiting_since: datetime
    wait_s: float

    def to_json(self) -> dict[str, object]:
        # The session id is not shown: the agent must not be able to aim at one customer.
        return {"bank": self.bank, "purpose": self.purpose.value, "wait_s": round(self.wait_s),
                "waiting_since": self.waiting_since.isoformat()}


@dataclass(frozen=True)
class QueueSnapshot:
    waiting: tuple[WaitingCall, ...]
    in_call: int
    in_review: int

    @property
    def longest_wait_s(self) -> float:
        return max((c.wait_s for c in self.waiting), default=0.0)


class CallQueue(Protocol):
    def snapshot(self) -> QueueSnapshot: ...

    def current_call(self, agent_id: str) -> SessionView | None: ...

    def take_next(self, agent_id: str) -> SessionView | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _advisory_key(agent_id: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``, namespaced so no other lock user collides."""
    digest = hashlib.blake2b(f"videoident.queue.agent:{agent_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabaseCallQueue:
    """The embedded queue: waiting sessions in the core's table, assigned through :meth:`IdentService.start_call`."""

    def __init__(self, service: IdentService, sessions: sessionmaker[Session], *,
                 rng: random.Random | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self._service = service
        self._sessions = sessions
        self._rng = rng or secrets.SystemRandom()
        self._clock = clock
        self._local_locks: dict[str, threading.Lock] = {}
        self._local_locks_guard = threading.Lock()

    @contextlib.contextmanager
    def _agent_lock(self, agent_id: str) -> Iterator[None]:
        """Serialise one agent's ``take_next`` calls: across workers on PostgreSQL, in-process on SQLite."""
        with self._sessions() as db:
            if db.get_bind().dialect.name == "postgresql":
                # Held by this session's transaction; released when the session closes (rollback).
                db.execute(select(func.pg_advisory_xact_lock(_advisory_key(agent_id))))
                yield
                return
        with self._local_locks_guard:
            lock = self._local_locks.setdefault(agent_id, threading.Lock())
        with lock:
            yield

    def snapshot(self) -> QueueSnapshot:
        now = self._clock()
        with self._sessions() as db:
            rows = db.execute(
                select(IdentSessionRecord.id, IdentSessionRecord.purpose, IdentSessionRecord.updated_at,
                       TenantRecord.display_name)
                .join(TenantRecord, TenantRecord.id == IdentSessionRecord.tenant_id)
                .where(IdentSessionRecord.status == SessionStatus.WAITING.value,
                       IdentSessionRecord.expires_at > now)
                .order_by(IdentSessionRecord.updated_at)).all()
            statuses = db.execute(select(IdentSessionRecord.status).where(IdentSessionRecord.status.in_(
                [SessionStatus.IN_CALL.value, SessionStatus.REVIEW.value]))).scalars().all()
        waiting = tuple(WaitingCall(sid, bank, Purpose(purpose), since, max(0.0, (now - since).total_seconds()))
                        for sid, purpose, since, bank in rows)
        return QueueSnapshot(waiting, statuses.count(SessionStatus.IN_CALL.value),
                             statuses.count(SessionStatus.REVIEW.value))

    def current_call(self, agent_id: str) -> SessionView | None:
        with self._sessions() as db:
            sid = db.execute(select(IdentSessionRecord.id).where(
                IdentSessionRecord.agent_id == agent_id,
                IdentSessionRecord.status == SessionStatus.IN_CALL.value)).scalars().first()
        return None if sid is None else self._service.get_session(sid)

    def take_next(self, agent_id: str) -> SessionView | None:
        """The agent's open call, else a random waiting customer moved to ``in_call`` for this agent."""
        with self._agent_lock(agent_id):
            current = self.current_call(agent_id)
            if current is not None:
                return current
            candidates = [call.session_id for call in self.snapshot().waiting]
            self._rng.shuffle(candidates)
            for session_id in candidates[:MAX_ASSIGN_TRIES]:
                try:
                    return self._service.start_call(session_id, agent_id)
                except (IllegalTransition, StaleDataError):
                    continue  # another agent got this one first (or it expired meanwhile)
            return None
