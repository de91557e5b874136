"""Shared fixtures of the core tests: a migrated database on SQLite (temp file) and on the real
PostgreSQL (a fresh ``videoident_test_<random>`` database per run, dropped afterwards), and a service."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from videoident.crypto import KeyRing
from videoident.db import Base, make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.notify import MemoryNotifier
from videoident.service import IdentService
from videoident.vault import EvidenceVault

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


class FakeClock:
    """A settable UTC clock (the service takes any callable)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped at the end."""
    if not _postgres_available():
        pytest.fail("PostgreSQL on 127.0.0.1:5432 is required for the storage tests (it runs on dev and CI)")
    name = f"videoident_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or the run's PostgreSQL database (emptied per test)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'core.db'}")
        migrate(eng)
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
