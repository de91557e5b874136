"""What the running service has stored: row counts of its tables and the files under its vault, so a test
can assert that a refused request stored nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.hardening.harness import Server

__all__ = ["Snapshot", "snapshot"]

#: Tables left out: webhook delivery bookkeeping moves on its own (retries of earlier tests' deliveries).
IGNORED_PREFIXES = ("alembic_", "webhook_")


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    vault_files: int


def libpq_url(server: Server) -> str:
    return server.database_url.replace("postgresql+psycopg://", "postgresql://")


def snapshot(server: Server) -> Snapshot:
    with psycopg.connect(libpq_url(server)) as conn:
        tables = [str(r[0]) for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            if not str(r[0]).startswith(IGNORED_PREFIXES)]
        rows = {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # type: ignore[index]
                for t in tables}
    vault = Path(server.data_dir) / "vault"
    files = sum(1 for p in vault.rglob("*") if p.is_file()) if vault.is_dir() else 0
    return Snapshot(rows, files)
