"""Alembic environment: runs against the engine handed over by ``migrate(engine)``, or ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from videoident.db import make_engine
from videoident.migrations import target_metadata

config = context.config
metadata = target_metadata()


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=...")
    return make_engine(url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("videoident migrations run online only")
run_migrations_online()
