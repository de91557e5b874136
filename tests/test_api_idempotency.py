"""Idempotency keys at the storage level, on SQLite and PostgreSQL: replay, mismatch, twins in flight,
concurrent claims, expiry, crash takeover, and responses sealed at rest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.test_webhooks import DATABASES, database_url
from videoident.clock import utcnow
from videoident.db import make_engine, make_sessionmaker
from videoident.idempotency import (
    IDEMPOTENCY_TTL,
    IN_PROGRESS_TIMEOUT,
    IdempotencyInProgress,
    IdempotencyMismatch,
    IdempotencyRecord,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    valid_key,
)
from videoident.migrations import migrate
from videoident.settings import Settings
from videoident.tenants import SecretBox

BODY = b'{"id":"s1","customer_url":"https://kyc.test/ident/SECRET-TOKEN-123"}'


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[IdempotencyStore, sessionmaker[Session]]]:
    with database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        sessions = make_sessionmaker(engine)
        yield IdempotencyStore(sessions, SecretBox(Settings(data_dir=tmp_path))), sessions
        engine.dispose()


def test_the_same_request_replays_and_another_is_refused(store: tuple[IdempotencyStore, sessionmaker[Session]]) -> None:
    idem, _ = store
    h1, h2 = fingerprint("POST", "/v1/sessions", b'{"a":1}'), fingerprint("POST", "/v1/sessions", b'{"a":2}')
    assert idem.begin("t1", "k", h1) is None
    with pytest.raises(IdempotencyInProgress):
        idem.begin("t1", "k", h1)
    idem.complete("t1", "k", StoredResponse(201, BODY))
    assert idem.begin("t1", "k", h1) == StoredResponse(201, BODY)
    with pytest.raises(IdempotencyMismatch):
        idem.begin("t1", "k", h2)
    assert idem.begin("t2", "k", h2) is None, "keys are per tenant"


def test_a_json_body_is_compared_canonically() -> None:
    assert fingerprint("POST", "/p", b'{"a": 1, "b": [1, 2]}') == fingerprint("POST", "/p", b'{"b":[1,2],"a":1}')
    assert fingerprint("POST", "/p", b'{"a": 1}') != fingerprint("POST", "/q", b'{"a": 1}')
    assert fingerprint("POST", "/p", b"not json") != fingerprint("POST", "/p", b"not json!")


def test_concurrent_twins_claim_the_key_once(store: tuple[IdempotencyStore, sessionmaker[Session]]) -> None:
    idem, _ = store
    h = fingerprint("POST", "/v1/sessions", b"{}")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def twin() -> None:
        barrier.wait()
        try:
            outcomes.append("claimed" if idem.begin("t1", "race", h) is None else "replayed")
        except IdempotencyInProgress:
            outcomes.append("in_progress")

    threads = [threading.Thread(target=twin) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("claimed") == 1 and outcomes.count("in_progress") == 5


def test_abandon_releases_and_a_crashed_claim_is_taken_over(
    store: tuple[IdempotencyStore, sessionmaker[Session]],
) -> None:
    idem, sessions = store
    h = fingerprint("POST", "/v1/sessions", b"{}")
    assert idem.begin("t1", "a", h) is None
    idem.abandon("t1", "a")
    assert idem.begin("t1", "a", h) is None, "released: the retry runs again"
    assert idem.begin("t1", "crash", h) is None
    with sessions() as db:
        db.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == "crash")
                   .values(created_at=utcnow() - IN_PROGRESS_TIMEOUT - timedelta(seconds=1)))
        db.commit()
    assert idem.begin("t1", "crash", h) is None, "a claim older than the timeout is presumed crashed"


def test_keys_expire_after_the_ttl(store: tuple[IdempotencyStore, sessionmaker[Session]]) -> None:
    idem, sessions = store
    h = fingerprint("POST", "/v1/sessions", b"{}")
    assert idem.begin("t1", "old", h) is None
    idem.complete("t1", "old", StoredResponse(201, BODY))
    with sessions() as db:
        db.execute(update(IdempotencyRecord).values(created_at=utcnow() - IDEMPOTENCY_TTL - timedelta(seconds=1)))
        db.commit()
    other = fingerprint("POST", "/v1/sessions", b'{"x":1}')
    assert idem.begin("t1", "old", other) is None, "an expired key is free again"


def test_stored_responses_are_sealed_at_rest(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    idem = IdempotencyStore(make_sessionmaker(engine), SecretBox(settings))
    idem.begin("t1", "k", b"h" * 32)
    idem.complete("t1", "k", StoredResponse(201, BODY))
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("videoident.db*"))
    assert b"SECRET-TOKEN-123" not in raw


@pytest.mark.parametrize("key, ok", [("a", True), ("x" * 255, True), ("x" * 256, False), ("", False),
                                     ("has space", False), ("tab\t", False), ("ümlaut", False)])
def test_valid_keys(key: str, ok: bool) -> None:
    assert valid_key(key) is ok
