# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""Alembic upgrade head builds exactly the tables the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tests.test_core_support import engine, postgres_url  # noqa: F401 - fixtures
from videoident.migrations import migrate, target_metadata


def test_upgrade_head_matches_every_table_of_the_metadata(engine: Engine) -> None:  # noqa: F811
    metadata = target_metadata()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert {"tenants", "ident_sessions", "check_results", "evidence_items", "tan_challenges", "data_keys",
            "audit_events", "outbox_events"} <= tables


def test_migrate_is_idempotent(engine: Engine) -> None:  # noqa: F811
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None


def test_upgrading_keeps_existing_rows_and_downgrade_works(engine: Engine) -> None:
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text

    from videoident.migrations import alembic_config

    command.downgrade(alembic_config(engine), "0001_core")
    assert "review_comment_enc" not in {c["name"] for c in inspect(engine).get_columns("ident_sessions")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, display_name, masking_profile, retention_days, "
                          "unsuccessful_retention_days, created_at) VALUES ('t-1', 'old', 'Old Bank', 'default', "
                          "1830, 90, :now)"), {"now": datetime.now(UTC).replace(tzinfo=None)})
    migrate(engine)
    assert "review_comment_enc" in {c["name"] for c in inspect(engine).get_columns("ident_sessions")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT display_name FROM tenants WHERE id = 't-1'")).scalar_one() == "Old Bank"
