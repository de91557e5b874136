"""Throw-away PostgreSQL databases for the test suite and the scale benchmark.

Both need a new, empty database per run on the local server (the development and CI machines run
PostgreSQL on 127.0.0.1:5432 with trust auth for user ``postgres``); this is the one place that creates
and drops them. The caller decides what an unreachable server means: the tests fail on CI and skip in a
user's clone, the benchmark reports why it cannot run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LOCAL_ADMIN_DSN", "scratch_postgres_database"]

#: The local server's maintenance database, as the machines' setup provides it (trust auth, user postgres).
LOCAL_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
#: 4 random bytes in the name: parallel runs (CI beside a benchmark) never collide, and a database left
#: by a killed run is recognisable by its prefix.
_NAME_BYTES = 4
_CONNECT_TIMEOUT_S = 3


@contextmanager
def scratch_postgres_database(prefix: str, admin_dsn: str = LOCAL_ADMIN_DSN) -> Iterator[str]:
    """Create ``<prefix>_<8 hex>`` and yield its SQLAlchemy URL (psycopg 3 driver); drop it afterwards,
    closing any connection still open to it (``WITH (FORCE)``).

    Raises ``psycopg.OperationalError`` when the server cannot be reached."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(_NAME_BYTES)}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        info = admin.info
        url = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
