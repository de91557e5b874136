"""The waiting queue over a real core service (SQLite + vault in a temp folder): what agents see, random
assignment, one open call per agent, and no double assignment."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from videoident.queue import DatabaseCallQueue
from videoident.service import ClaimedIdentity, Contact, IdentService
from videoident.settings import Settings
from videoident.states import Purpose, SessionStatus


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> Iterator[IdentService]:
    settings = Settings(environment="test", data_dir=tmp_path, master_key=base64.b64encode(bytes(range(32))).decode())
    svc = IdentService.from_settings(settings, clock=clock)
    yield svc


@pytest.fixture
def queue(service: IdentService, clock: Clock) -> DatabaseCallQueue:
    return DatabaseCallQueue(service, service._sessions, clock=clock)  # noqa: SLF001 - the core's sessionmaker


def waiting_session(service: IdentService, bank: str, purpose: Purpose = Purpose.ACCOUNT_OPENING) -> str:
    tenant = service.create_tenant(f"{bank.lower().replace(' ', '-')}-{len(bank)}-{id(object())}", bank)
    created = service.create_session(tenant.id, identity=ClaimedIdentity("Erika", "Mustermann", date(1983, 8, 12)),
                                     purpose=purpose, reference="r", contact=Contact(email="e@example.org"))
    service.customer_joined(created.session.id)
    return created.session.id


def test_snapshot_shows_bank_purpose_and_wait_but_no_identity(service: IdentService, queue: DatabaseCallQueue,
                                                              clock: Clock) -> None:
    first = waiting_session(service, "Alpha Bank")
    clock.now += timedelta(minutes=3)
    waiting_session(service, "Beta Bank")
    clock.now += timedelta(seconds=30)
    snap = queue.snapshot()
    assert [(c.bank, round(c.wait_s)) for c in snap.waiting] == [("Alpha Bank", 210), ("Beta Bank", 30)]
    assert snap.longest_wait_s == 210 and snap.in_call == 0
    shown = str([c.to_json() for c in snap.waiting])
    assert first not in shown and "Mustermann" not in shown and "account_opening" in shown


def test_take_next_assigns_at_random_not_the_oldest(service: IdentService, queue: DatabaseCallQueue,
                                                    clock: Clock) -> None:
    ids = [waiting_session(service, f"Bank {n}") for n in range(3)]
    picked = set()
    for _ in range(30):  # the chance that 30 random draws out of 3 all hit one session is 3 * (1/3)^30
        clock.now += timedelta(seconds=1)
        view = queue.take_next("agent-1")
        assert view is not None and view.status is SessionStatus.IN_CALL and view.agent_id == "agent-1"
        picked.add(view.id)
        service.call_dropped(view.id)  # back into the queue
    assert picked == set(ids)


def test_one_open_call_per_agent_and_no_double_assignment(service: IdentService, queue: DatabaseCallQueue) -> None:
    ids = {waiting_session(service, "Alpha Bank"), waiting_session(service, "Beta Bank")}
    a = queue.take_next("agent-a")
    assert a is not None
    assert queue.take_next("agent-a") == queue.current_call("agent-a")  # the open call comes back
    assert queue.take_next("agent-a").id == a.id  # type: ignore[union-attr]
    b = queue.take_next("agent-b")
    assert b is not None and {a.id, b.id} == ids
    assert queue.take_next("agent-c") is None  # nobody left
    snap = queue.snapshot()
    assert snap.waiting == () and snap.in_call == 2


def test_a_lost_race_moves_on_to_another_customer(service: IdentService, clock: Clock) -> None:
    ids = [waiting_session(service, "Alpha Bank"), waiting_session(service, "Beta Bank")]

    class FirstIsTaken(DatabaseCallQueue):
        """Another worker takes the first candidate between our snapshot and our start_call."""

        def snapshot(self):  # type: ignore[no-untyped-def]
            snap = super().snapshot()
            if snap.waiting and service.get_session(snap.waiting[0].session_id).status is SessionStatus.WAITING:
                service.start_call(snap.waiting[0].session_id, "someone-else")
            return type(snap)(tuple(sorted(snap.waiting, key=lambda c: c.session_id != ids[0])), 0, 0)

    class OldestFirst(random.Random):
        def shuffle(self, x: object) -> None:  # type: ignore[override]
            pass  # keep the snapshot's order, so the taken customer is tried first

    queue = FirstIsTaken(service, service._sessions, rng=OldestFirst(), clock=clock)  # noqa: SLF001
    view = queue.take_next("agent-1")
    assert view is not None and view.id == ids[1] and view.agent_id == "agent-1"
    assert service.get_session(ids[0]).agent_id == "someone-else"


def test_expired_sessions_are_not_offered(service: IdentService, queue: DatabaseCallQueue, clock: Clock) -> None:
    waiting_session(service, "Alpha Bank")
    clock.now += timedelta(days=3)
    assert queue.snapshot().waiting == () and queue.take_next("agent-1") is None
