"""Signed webhooks to the bank: the outbox of deliveries and the dispatcher that sends them.

Signing and the bank's verifier live in :mod:`videoident.webhook_signing`, the callback-URL policy in
:mod:`videoident.callback_url`; both are re-exported here.

Every delivery is a POST of a JSON event ``{"id", "type", "created_at", "data"}`` with the headers
``Videoident-Event-Id: evt_...`` and ``Videoident-Signature: t=<unix s>,v1=<hex>[,v1=<hex>]``, where each
``v1`` is ``HMAC-SHA256(secret, f"{t}.{body}")`` under one of the tenant's active secrets (two during a
secret rotation). Deliveries are rows in ``webhook_deliveries``: claimed with a lease, so a crash or
restart re-delivers them (at least once); several workers share the table (on PostgreSQL each pass claims
its rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, and a compare-and-set on the lease decides any race, so
two workers never send the same row at once; a dead worker's lease expires after :data:`LEASE_S` and another
worker takes the row); retried with exponential backoff and jitter; dead-lettered after
:data:`MAX_ATTEMPTS`. Every retry is signed afresh with a new timestamp but keeps its event id, so a
receiver deduplicates by event id and rejects a captured request replayed verbatim.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import httpx
from sqlalchemy import BigInteger, ColumnElement, Integer, String, Text, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from videoident.callback_url import MAX_URL_LENGTH, CallbackUrlError, check_callback_url
from videoident.clock import utcnow
from videoident.db import Base
from videoident.ids import new_prefixed_id
from videoident.records import UTCDateTime
from videoident.settings import Environment
from videoident.tenants import SecretBox, active_webhook_secrets
from videoident.webhook_signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TOLERANCE_S,
    SignatureError,
    VerifiedEvent,
    WebhookVerifier,
    sign,
)

__all__ = [
    "EVENT_ID_HEADER", "MAX_ATTEMPTS", "SIGNATURE_HEADER", "TOLERANCE_S", "CallbackUrlError", "DeliveryPolicy",
    "DeliveryStatus", "OutboxSource", "SignatureError", "VerifiedEvent", "WebhookDelivery", "WebhookDispatcher",
    "WebhookVerifier", "check_callback_url", "enqueue_event", "list_deliveries", "pump_outbox", "redeliver", "sign",
]

log = logging.getLogger(__name__)

#: Attempts before a delivery is dead-lettered. With the backoff below the 14 waits add up to 23.4 h
#: (11.7 h with the least jitter), so a bank's receiver may be down for most of a day without losing an event.
MAX_ATTEMPTS = 15
#: First retry after 10 s, doubling per attempt ...
BACKOFF_BASE_S = 10.0
#: ... capped at 6 h between attempts.
BACKOFF_MAX_S = 6 * 3600.0
#: A receiver must answer within this (it should enqueue and return 2xx, not process inline).
DELIVERY_TIMEOUT_S = 10.0
#: A claimed delivery is not taken by another worker for this long; a crashed worker's claims expire.
#: Six delivery timeouts: a whole pass (one session's events in order, each up to DELIVERY_TIMEOUT_S) ends
#: well inside it, and an attempt whose lease ran out is not recorded (see ``WebhookDispatcher._record``).
LEASE_S = 60.0


# --- the outbox of deliveries -----------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    #: The event id (``evt_...``), the same for every attempt.
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Where the event came from (e.g. the core's status-event id), unique so enqueueing is idempotent.
    source_id: Mapped[str] = mapped_column(String(100), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    #: The JSON body, byte-exact as signed (it carries ids, statuses and reason codes; never names).
    body: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String(16), index=True, default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: When the event happened (for the core's events: the status change, not the enqueueing).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The core's outbox row id: the order of one session's events (None for events from elsewhere, which
    #: are ordered by ``created_at``). A session's delivery waits while an earlier one of it is pending.
    sequence: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def enqueue_event(
    db: Session,
    *,
    source_id: str,
    tenant_id: str,
    url: str,
    event_type: str,
    data: Mapping[str, Any],
    session_id: str | None = None,
    sequence: int | None = None,
    created_at: datetime | None = None,
) -> WebhookDelivery:
    """Add one event to the outbox (in the caller's transaction); the same ``source_id`` twice is a no-op.

    ``sequence`` orders one session's events (the core's outbox id); ``created_at`` is when the event
    happened (default: now). Both come from the core's outbox in :func:`pump_outbox`."""
    existing = db.scalars(select(WebhookDelivery).where(WebhookDelivery.source_id == source_id)).first()
    if existing is not None:
        return existing
    now = utcnow()
    happened_at = created_at or now
    event_id = new_prefixed_id("evt_")
    body = json.dumps(
        {"id": event_id, "type": event_type, "created_at": happened_at.isoformat(), "data": dict(data)},
        separators=(",", ":"),
        sort_keys=True,
    )
    row = WebhookDelivery(
        event_id=event_id, source_id=source_id, tenant_id=tenant_id, session_id=session_id,
        event_type=event_type, url=url, body=body, status=DeliveryStatus.PENDING.value, attempts=0,
        next_attempt_at=now, created_at=happened_at, sequence=sequence,
    )
    db.add(row)
    db.flush()
    return row


def list_deliveries(db: Session, tenant_id: str, status: DeliveryStatus | None = None,
                    session_id: str | None = None, limit: int = 50) -> list[WebhookDelivery]:
    """A tenant's deliveries, newest first (to find dead letters)."""
    query = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    if session_id is not None:
        query = query.where(WebhookDelivery.session_id == session_id)
    return list(db.scalars(query.order_by(WebhookDelivery.created_at.desc()).limit(limit)))


def redeliver(db: Session, tenant_id: str, event_id: str) -> WebhookDelivery | None:
    """Queue a (dead or delivered) event again with a fresh attempt budget; None if not the tenant's."""
    row = db.get(WebhookDelivery, event_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING.value, 0, utcnow()
    db.flush()
    return row


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry schedule and limits; tests shrink the times, production uses the defaults."""

    max_attempts: int = MAX_ATTEMPTS
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_max_s: float = BACKOFF_MAX_S
    timeout_s: float = DELIVERY_TIMEOUT_S
    lease_s: float = LEASE_S
    batch_size: int = 20
    #: Poll interval of the delivery loop when nothing is due.
    idle_poll_s: float = 1.0
    environment: Environment = Environment.DEVELOPMENT

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff_base_s <= 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError("invalid delivery policy")

    def backoff_s(self, attempts: int, rng: random.Random) -> float:
        """Delay after the ``attempts``-th failure: base * 2^(attempts-1), capped, with jitter in [0.5, 1]."""
        raw = min(self.backoff_max_s, self.backoff_base_s * 2 ** min(attempts - 1, 40))
        return raw * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class _Claimed:
    event_id: str
    tenant_id: str
    url: str
    body: str
    attempts: int
    session_key: str
    #: The lease this claim set (``next_attempt_at``): the attempt is recorded only while it still holds.
    lease_until: datetime


class OutboxSource(Protocol):
    """The core's side of the outbox (:class:`videoident.service.IdentService` satisfies it)."""

    def pending_outbox(self, limit: int = 100) -> Sequence[Any]: ...

    def mark_outbox_dispatched(self, event_id: str) -> None: ...

    def get_session(self, session_id: str, tenant_id: str | None = None) -> Any: ...


def pump_outbox(source: OutboxSource, sessions: sessionmaker[Session], limit: int = 100) -> int:
    """Turn the core's status events into signed deliveries; returns how many events were taken.

    The delivery row commits before the event is marked dispatched; a crash in between re-reads the
    event, and :func:`enqueue_event` ignores it the second time (keyed by the event id). Two workers
    pumping the same event at once: the second insert hits the unique ``source_id`` and is dropped."""
    events = source.pending_outbox(limit)
    for event in events:
        url = source.get_session(event.session_id).callback_url
        if url:
            with sessions() as db:
                enqueue_event(db, source_id=event.event_id, tenant_id=event.tenant_id, url=url,
                              event_type=event.type, data=event.payload, session_id=event.session_id,
                              sequence=event.id, created_at=event.created_at)
                try:
                    db.commit()
                except IntegrityError:  # another worker enqueued this event a moment ago
                    db.rollback()
        source.mark_outbox_dispatched(event.event_id)
    return len(events)


def _earlier_pending_of_session() -> ColumnElement[bool]:
    """True for a delivery while an earlier event of its session is still pending (being retried, or
    claimed by another worker right now): it waits, so a bank sees one session's events in order on every
    worker and across retries. A dead-lettered event no longer holds the later ones back."""
    earlier = aliased(WebhookDelivery)
    row = WebhookDelivery
    both_sequenced = and_(earlier.sequence.is_not(None), row.sequence.is_not(None))
    return exists().where(
        row.session_id.is_not(None),
        earlier.session_id == row.session_id,
        earlier.status == DeliveryStatus.PENDING.value,
        earlier.event_id != row.event_id,
        or_(
            and_(both_sequenced, earlier.sequence < row.sequence),
            and_(~both_sequenced, earlier.created_at < row.created_at),
        ),
    )


class WebhookDispatcher:
    """Delivers due rows of ``webhook_deliveries``; :meth:`run_once` for one pass, :meth:`run` as a task."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        policy: DeliveryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        outbox: OutboxSource | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._box = box
        self.policy = policy or DeliveryPolicy()
        self._transport = transport
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after a status change is enqueued)."""
        self._wake.set()

    def _claim(self) -> list[_Claimed]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.policy.lease_s)
        claimed: list[_Claimed] = []
        with self._sessions() as db:
            # SKIP LOCKED (PostgreSQL): two workers claiming at once get disjoint batches instead of both
            # racing for the same rows; SQLite (one process) ignores it.
            due = db.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now,
                       ~_earlier_pending_of_session())
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at)
                .limit(self.policy.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in due:
                # Compare-and-set on next_attempt_at: of two workers, only one takes the row.
                taken = db.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.event_id == row.event_id,
                        WebhookDelivery.next_attempt_at == row.next_attempt_at,
                        WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    )
                    .values(next_attempt_at=lease_until)
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
                if taken == 1:
                    claimed.append(_Claimed(row.event_id, row.tenant_id, row.url, row.body, row.attempts,
                                            row.session_id or row.event_id, lease_until))
            db.commit()
        return claimed

    def _secrets(self, tenant_id: str) -> list[str]:
        with self._sessions() as db:
            return active_webhook_secrets(db, self._box, tenant_id)

    def _record(self, item: _Claimed, status_code: int | None, error: str | None) -> None:
        now = utcnow()
        attempts = item.attempts + 1
        with self._sessions() as db:
            row = db.get(WebhookDelivery, item.event_id, with_for_update=True)
            if row is None:  # erased meanwhile
                return
            if row.status != DeliveryStatus.PENDING.value or row.next_attempt_at != item.lease_until:
                # The lease ran out and another worker took the row (or a bank re-queued it): its attempt
                # is the one that counts.
                log.warning("webhook %s: lease lost before the attempt was recorded", item.event_id)
                return
            row.attempts = attempts
            row.last_status_code = status_code
            row.last_error = error[:300] if error else None
            if error is None:
                row.status = DeliveryStatus.DELIVERED.value
                row.delivered_at = now
            elif attempts >= self.policy.max_attempts:
                row.status = DeliveryStatus.DEAD.value
                log.warning("webhook %s dead after %d attempts: %s", item.event_id, attempts, error)
            else:
                # Never two attempts in one second: they would carry byte-identical signatures, which a
                # receiver's verifier must refuse as a replay.
                next_second = now.replace(microsecond=0) + timedelta(seconds=1)
                backoff = timedelta(seconds=self.policy.backoff_s(attempts, self._rng))
                row.next_attempt_at = max(next_second, now + backoff)
            db.commit()

    async def _deliver(self, client: httpx.AsyncClient, item: _Claimed, secrets_: list[str]) -> None:
        try:  # the URL is checked again now (DNS may have changed), off the event loop
            await asyncio.to_thread(check_callback_url, item.url, self.policy.environment, True)
            if not secrets_:
                raise RuntimeError("the tenant has no webhook secret")
            body = item.body.encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, secrets_, int(time.time())),
                EVENT_ID_HEADER: item.event_id,
                "User-Agent": "videoident-webhooks/1",
            }
            response = await client.post(item.url, content=body, headers=headers)
        except (httpx.HTTPError, CallbackUrlError, RuntimeError, OSError) as exc:
            await asyncio.to_thread(self._record, item, None, f"{type(exc).__name__}: {exc}")
            return
        if 200 <= response.status_code < 300:
            await asyncio.to_thread(self._record, item, response.status_code, None)
        else:
            await asyncio.to_thread(self._record, item, response.status_code, f"HTTP {response.status_code}")

    async def run_once(self) -> int:
        """Take new events from the core's outbox, then deliver every due one; returns how many were attempted."""
        if self._outbox is not None:
            await asyncio.to_thread(pump_outbox, self._outbox, self._sessions, self.policy.batch_size)
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        tenants = {item.tenant_id for item in claimed}
        secrets_by_tenant = await asyncio.to_thread(lambda: {t: self._secrets(t) for t in tenants})
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_s, follow_redirects=False, transport=self._transport
        ) as client:
            # One session's events go out one after the other, in order; sessions in parallel.
            by_session: dict[str, list[_Claimed]] = {}
            for item in claimed:
                by_session.setdefault(item.session_key, []).append(item)
            await asyncio.gather(*(self._deliver_in_order(client, items, secrets_by_tenant)
                                   for items in by_session.values()))
        return len(claimed)

    async def run_until_idle(self, max_passes: int = 1000) -> int:
        """Passes of :meth:`run_once` until one attempts nothing; returns how many were attempted in all.
        A pass sends at most one event per session (the next waits for it), so a session's N queued events
        take N passes."""
        attempted = 0
        for _ in range(max_passes):
            done = await self.run_once()
            if not done:
                break
            attempted += done
        return attempted

    async def _deliver_in_order(self, client: httpx.AsyncClient, items: list[_Claimed],
                                secrets_by_tenant: dict[str, list[str]]) -> None:
        for item in items:
            await self._deliver(client, item, secrets_by_tenant[item.tenant_id])

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; database errors are logged and retried, never fatal."""
        while not stop.is_set():
            try:
                attempted = await self.run_once()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("webhook delivery pass failed")
                attempted = 0
            if attempted:
                continue
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _done, pending = await asyncio.wait(waits, timeout=self.policy.idle_poll_s,
                                                return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
