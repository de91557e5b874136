# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""The core's customer-facing queries and actions on SQLite and PostgreSQL: a waiting customer's place
in the waiting room and the wait estimate."""

from __future__ import annotations

import secrets

from tests.test_core_support import (  # noqa: F401 - fixtures
    FakeClock,
    claimed,
    clock,
    engine,
    keyring,
    notifier,
    postgres_url,
    service,
)
from videoident.service import ASSUMED_CALL_S, IdentService
from videoident.states import Purpose


def _created(service: IdentService, tenant_id: str) -> str:
    return service.create_session(tenant_id, identity=claimed(), purpose=Purpose.ACCOUNT_OPENING,
                                  reference="order-4711").session.id


def test_queue_position_follows_the_order_of_joining(service: IdentService, clock: FakeClock) -> None:
    tenant = service.create_tenant(f"bank-{secrets.token_hex(3)}", "Musterbank AG").id
    first, second, third, not_joined = (_created(service, tenant) for _ in range(4))
    for session_id in (first, second, third):
        clock.advance(seconds=5)
        service.customer_joined(session_id)

    assert service.queue_position(not_joined) is None  # not in the waiting room
    places = {sid: service.queue_position(sid) for sid in (first, second, third)}
    assert [(p.position, p.waiting, p.agents_busy) for p in places.values() if p] == [(1, 3, 0), (2, 3, 0), (3, 3, 0)]
    # No call in progress: one agent is assumed, so the n-th waits n calls.
    assert [p.estimated_wait_s for p in places.values() if p] == [ASSUMED_CALL_S, 2 * ASSUMED_CALL_S,
                                                                  3 * ASSUMED_CALL_S]

    clock.advance(seconds=5)
    service.start_call(first, "agent-1")  # the first is taken: everyone moves up, one agent is busy
    assert service.queue_position(first) is None
    second_place, third_place = service.queue_position(second), service.queue_position(third)
    assert second_place is not None and third_place is not None
    assert (second_place.position, second_place.waiting, second_place.agents_busy) == (1, 2, 1)
    assert (third_place.position, third_place.estimated_wait_s) == (2, 2 * ASSUMED_CALL_S)

    clock.advance(seconds=5)
    service.call_dropped(first)  # back to the queue: behind those who waited meanwhile
    first_place = service.queue_position(first)
    assert first_place is not None and (first_place.position, first_place.waiting) == (3, 3)


def test_customers_who_joined_at_the_same_instant_get_distinct_places(service: IdentService) -> None:
    tenant = service.create_tenant(f"bank-{secrets.token_hex(3)}", "Musterbank AG").id
    sessions = [_created(service, tenant) for _ in range(3)]
    for session_id in sessions:  # the fake clock stands still: equal updated_at
        service.customer_joined(session_id)
    positions = sorted(p.position for sid in sessions if (p := service.queue_position(sid)) is not None)
    assert positions == [1, 2, 3]
