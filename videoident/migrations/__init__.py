"""Alembic migrations of every table on :data:`videoident.db.Base`.

``migrate(engine)`` runs ``upgrade head`` programmatically (at start-up, and in tests). The other table
modules register themselves by being imported in ``env.py`` (:data:`TABLE_MODULES`); a module that adds
tables after a revision exists adds its own revision on top.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

from videoident.db import Base

__all__ = ["migrate", "alembic_config", "target_metadata", "TABLE_MODULES"]

HERE = Path(__file__).resolve().parent
#: Modules that define tables on ``Base``; optional ones are skipped while they do not exist yet.
TABLE_MODULES = (
    "videoident.records",
    "videoident.tenants",
    "videoident.webhooks",
    "videoident.idempotency",
    "videoident.agents",
    "videoident.console_state",
)


def target_metadata() -> MetaData:
    """``Base.metadata`` with every table module imported."""
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base.metadata


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config(str(HERE.parent / "alembic.ini"))
    config.set_main_option("script_location", str(HERE))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)
