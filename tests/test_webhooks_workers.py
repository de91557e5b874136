"""Webhook delivery with several workers on one PostgreSQL: two dispatchers, each with its own engine (its
own connections, as two worker processes have), deliver a shared outbox to a real HTTP receiver on
127.0.0.1 - every event exactly once - and an attempt whose lease was taken over is not recorded."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import fresh_postgres_database
from tests.test_webhooks import EVENT_ID_HEADER, Receiver, _issue_secret
from videoident.clock import utcnow
from videoident.db import make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.settings import Settings
from videoident.tenants import SecretBox
from videoident.webhooks import DeliveryPolicy, DeliveryStatus, WebhookDelivery, WebhookDispatcher, enqueue_event

pytestmark = pytest.mark.postgres

#: Small batches, so the two dispatchers need several passes each and really interleave.
POLICY = DeliveryPolicy(max_attempts=3, backoff_base_s=0.05, backoff_max_s=0.2, timeout_s=10, lease_s=30,
                        batch_size=5, idle_poll_s=0.05)
EVENTS = 60


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[list[sessionmaker[Session]], SecretBox]]:
    with fresh_postgres_database("videoident_hooks") as url:
        engines = [make_engine(url), make_engine(url)]
        migrate(engines[0])
        yield [make_sessionmaker(e) for e in engines], SecretBox(Settings(data_dir=tmp_path))
        for engine in engines:
            engine.dispose()


def _enqueue_many(sessions: sessionmaker[Session], url: str, count: int) -> list[str]:
    ids = []
    with sessions() as db:
        for i in range(count):
            row = enqueue_event(db, source_id=f"src-{i}", tenant_id="t1", url=url,
                                event_type="session.status_changed", data={"n": i}, session_id=f"s{i}")
            ids.append(row.event_id)
        db.commit()
    return ids


async def test_two_dispatchers_deliver_every_event_exactly_once(
    two_workers: tuple[list[sessionmaker[Session]], SecretBox],
) -> None:
    (on_a, on_b), box = two_workers
    _issue_secret(on_a, box)
    with Receiver() as receiver:
        ids = _enqueue_many(on_a, receiver.url, EVENTS)
        dispatchers = [WebhookDispatcher(on_a, box, POLICY), WebhookDispatcher(on_b, box, POLICY)]
        attempted = [0, 0]

        async def drive(index: int) -> None:
            for _ in range(200):
                attempted[index] += await dispatchers[index].run_once()
                if len(receiver.requests) >= EVENTS:
                    return
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(drive(0), drive(1)), timeout=60)
        await asyncio.sleep(0.2)  # any late duplicate would arrive now
    counts = Counter(headers[EVENT_ID_HEADER] for headers, _ in receiver.requests)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1, f"delivered twice: {[e for e, n in counts.items() if n > 1]}"
    assert all(attempted), f"both dispatchers took part: {attempted}"
    with on_b() as db:
        rows = db.query(WebhookDelivery).all()
        assert {r.status for r in rows} == {DeliveryStatus.DELIVERED.value} and {r.attempts for r in rows} == {1}


async def test_an_attempt_whose_lease_was_taken_over_is_not_recorded(
    two_workers: tuple[list[sessionmaker[Session]], SecretBox],
) -> None:
    """Worker A claims a row and stalls past the lease; worker B takes it over and delivers. A's late result
    (a failure here) must not overwrite B's success."""
    (on_a, on_b), box = two_workers
    _issue_secret(on_a, box)
    with Receiver() as receiver:
        (event_id,) = _enqueue_many(on_a, receiver.url, 1)
        slow = WebhookDispatcher(on_a, box, POLICY)
        claimed = slow._claim()
        assert [c.event_id for c in claimed] == [event_id]
        with on_a() as db:  # the lease runs out (instead of waiting 30 s)
            db.execute(update(WebhookDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
            db.commit()
        assert await WebhookDispatcher(on_b, box, POLICY).run_once() == 1
        slow._record(claimed[0], None, "ReadTimeout: the stalled attempt")
    assert len(receiver.requests) == 1
    with on_b() as db:
        row = db.get(WebhookDelivery, event_id)
        assert row is not None and row.status == DeliveryStatus.DELIVERED.value and row.last_error is None


async def test_two_dispatchers_keep_each_sessions_events_in_order(
    two_workers: tuple[list[sessionmaker[Session]], SecretBox],
) -> None:
    """Sessions with several events each, some attempts failing, two workers: a bank still receives every
    session's events in the core's order (a later one never arrives before an earlier one is through)."""
    (on_a, on_b), box = two_workers
    _issue_secret(on_a, box)
    sessions_n, per_session = 8, 4
    with Receiver(statuses=[200, 500, 200, 200, 503, 200, 500] * 4) as receiver:
        sequence_of: dict[str, tuple[str, int]] = {}
        with on_a() as db:
            for n in range(1, per_session + 1):  # interleaved as the core writes them: one outbox, many sessions
                for s in range(sessions_n):
                    row = enqueue_event(db, source_id=f"s{s}-{n}", tenant_id="t1", url=receiver.url,
                                        event_type="session.status_changed", data={"n": n}, session_id=f"s{s}",
                                        sequence=n * sessions_n + s)
                    sequence_of[row.event_id] = (f"s{s}", n)
            db.commit()
        dispatchers = [WebhookDispatcher(on_a, box, POLICY), WebhookDispatcher(on_b, box, POLICY)]

        def delivered() -> int:
            with on_b() as db:
                return db.query(WebhookDelivery).filter(WebhookDelivery.status == "delivered").count()

        async def drive(index: int) -> None:
            for _ in range(400):
                await dispatchers[index].run_once()
                if await asyncio.to_thread(delivered) == len(sequence_of):
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.gather(drive(0), drive(1)), timeout=90)
    seen: dict[str, int] = {}
    for headers, _ in receiver.requests:
        session, n = sequence_of[headers[EVENT_ID_HEADER]]
        assert n >= seen.get(session, 0), f"{session}: event {n} arrived after event {seen[session]}"
        seen[session] = n
    assert seen == {f"s{s}": per_session for s in range(sessions_n)}
