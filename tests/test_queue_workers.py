"""The agent queue with several workers on one PostgreSQL: queues with their own engines (their own
connections, as two worker processes have) assign every waiting customer to exactly one agent under
concurrency, and one agent asking through two workers at once gets one call, not two."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import fresh_postgres_database
from videoident.db import make_engine
from videoident.queue import DatabaseCallQueue
from videoident.records import IdentSessionRecord
from videoident.service import ClaimedIdentity, Contact, IdentService, SessionView
from videoident.settings import Settings
from videoident.states import Purpose, SessionStatus

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_queues(tmp_path: Path) -> Iterator[tuple[IdentService, list[DatabaseCallQueue]]]:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    with fresh_postgres_database("videoident_queue") as url:
        settings = Settings(environment="test", data_dir=tmp_path, database_url=url, master_key=key)  # type: ignore[arg-type]
        services = [IdentService.from_settings(settings, make_engine(url)) for _ in range(2)]
        queues = [DatabaseCallQueue(s, s._sessions) for s in services]  # noqa: SLF001 - the core's sessionmaker
        yield services[0], queues
        for service in services:
            service._sessions.kw["bind"].dispose()  # noqa: SLF001


def _waiting(service: IdentService, count: int) -> list[str]:
    tenant = service.create_tenant(f"bank-{secrets.token_hex(3)}", "Bank")
    ids = []
    for _ in range(count):
        created = service.create_session(tenant.id, identity=ClaimedIdentity("Erika", "Mustermann", date(1983, 8, 12)),
                                         purpose=Purpose.ACCOUNT_OPENING, reference="r",
                                         contact=Contact(email="e@example.org"))
        service.customer_joined(created.session.id)
        ids.append(created.session.id)
    return ids


def _concurrently(calls: list[tuple[DatabaseCallQueue, str]]) -> list[SessionView | None]:
    barrier = threading.Barrier(len(calls))
    results: list[SessionView | None] = [None] * len(calls)

    def run(index: int) -> None:
        queue, agent = calls[index]
        barrier.wait()
        results[index] = queue.take_next(agent)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_many_agents_on_two_workers_each_customer_assigned_once(
    two_queues: tuple[IdentService, list[DatabaseCallQueue]],
) -> None:
    service, queues = two_queues
    waiting = _waiting(service, 10)
    results = _concurrently([(queues[i % 2], f"agent-{i}") for i in range(16)])
    assigned = [view.id for view in results if view is not None]
    assert sorted(assigned) == sorted(waiting), "ten customers, sixteen agents: each customer exactly once"
    assert all(service.get_session(sid).status is SessionStatus.IN_CALL for sid in waiting)


def test_one_agent_asking_through_both_workers_at_once_gets_one_call(
    two_queues: tuple[IdentService, list[DatabaseCallQueue]],
) -> None:
    service, queues = two_queues
    _waiting(service, 6)
    for round_ in range(3):
        agent = f"agent-double-{round_}"
        results = _concurrently([(queues[0], agent), (queues[1], agent), (queues[0], agent), (queues[1], agent)])
        assert all(view is not None for view in results)
        assert len({view.id for view in results if view is not None}) == 1, "one call, handed back each time"
        with service._sessions() as db:  # noqa: SLF001 - the core's sessionmaker
            in_call = db.scalars(select(IdentSessionRecord.id).where(
                IdentSessionRecord.agent_id == agent, IdentSessionRecord.status == SessionStatus.IN_CALL.value)).all()
        assert len(in_call) == 1, f"the agent holds {len(in_call)} calls"
