"""Shared fixtures of the core tests: a migrated database on SQLite (temp file) and on the real
PostgreSQL (a fresh ``videoident_test_<random>`` database per run, dropped afterwards), and a service."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine, text

from pipelines.layouts import Template
from pipelines.results import CheckResult, Reason, Verdict
from tests.conftest import fresh_postgres_database
from videoident.crypto import KeyRing
from videoident.db import Base, make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.notify import MemoryNotifier
from videoident.service import IdentService
from videoident.service_tan import REQUIRED_CHECKS
from videoident.states import Purpose
from videoident.vault import EvidenceKind, EvidenceVault
from videoident.views import ClaimedIdentity, Contact


class FakeClock:
    """A settable UTC clock (the service takes any callable)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run; dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def migrated_sqlite(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'core.db'}")
    migrate(engine)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or the run's PostgreSQL database (emptied per test).
    Modules whose subject is not storage override it with a SQLite-only ``engine`` fixture."""
    if request.param == "sqlite":
        eng = migrated_sqlite(tmp_path)
    else:
        eng = make_engine(request.getfixturevalue("postgres_url"))
        migrate(eng)
        _truncate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def notifier() -> MemoryNotifier:
    return MemoryNotifier()


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing("k1", secrets.token_bytes(32))


@pytest.fixture
def service(engine: Engine, tmp_path: Path, clock: FakeClock, notifier: MemoryNotifier,
            keyring: KeyRing) -> IdentService:
    return IdentService(make_sessionmaker(engine), keyring, EvidenceVault(tmp_path / "vault"), notifier,
                        clock=clock)


# ----------------------------------------------------------------------------- session helpers
CANARY_GIVEN = "Zebulonia"
CANARY_FAMILY = "Quaxtermann"
CANARY_DOCNO = "T22QX7F41"
CANARY_EMAIL = "zebulonia.quaxtermann@example.org"


def claimed() -> ClaimedIdentity:
    return ClaimedIdentity(CANARY_GIVEN, CANARY_FAMILY, date(1964, 8, 12), CANARY_DOCNO, "D")


def png(width: int = 856, height: int = 540, value: int = 200) -> bytes:
    image = np.full((height, width, 3), value, np.uint8)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def new_session(service: IdentService, tenant_id: str | None = None, contact: Contact | None = None
                ) -> tuple[str, str]:
    """A session in ``in_call`` with agent ``agent-1``; returns (session id, customer token)."""
    if tenant_id is None:
        tenant_id = service.create_tenant(f"bank-{secrets.token_hex(3)}", "Musterbank AG").id
    created = service.create_session(tenant_id, identity=claimed(), purpose=Purpose.ACCOUNT_OPENING,
                                     reference="order-4711", contact=contact or Contact(email=CANARY_EMAIL),
                                     callback_url="https://bank.example/hook")
    service.customer_joined(created.session.id)
    service.start_call(created.session.id, "agent-1")
    return created.session.id, created.customer_token


def complete_captures(service: IdentService, session_id: str, verdict: Verdict = Verdict.PASS) -> None:
    """Front, back and face stills and every required check, as the live session would record them."""
    service.store_evidence(session_id, EvidenceKind.FRONT, png(), "image/png", template=Template.DE_ID)
    service.store_evidence(session_id, EvidenceKind.BACK, png(), "image/png", template=Template.DE_ID)
    service.store_evidence(session_id, EvidenceKind.FACE, png(640, 480), "image/png")
    code = "ok" if verdict is Verdict.PASS else "not_ok"
    service.record_checks(session_id, [CheckResult(name, verdict, Reason(code, "checked"), 0.9)
                                       for name in REQUIRED_CHECKS])


def tan_from(notifier: MemoryNotifier, recipient: str = CANARY_EMAIL) -> str:
    message = notifier.last_to(recipient)
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.body)
    assert found
    return found.group(1)
