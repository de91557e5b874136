"""The console's per-call memory on the shared metadata (videoident/console_state.py): drawn security
features, the agent's confirmations and first checks views, shared by every worker.

Revision ID: 0005_console_memory
Revises: 0004_console_agents
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_console_memory"
down_revision: str | None = "0004_console_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_checks_views",
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("viewed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "session_id", name=op.f("pk_console_checks_views")),
    )
    op.create_table(
        "console_confirmations",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("item", sa.String(length=80), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "item", name=op.f("pk_console_confirmations")),
    )
    op.create_table(
        "console_drawn_features",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("template", sa.String(length=20), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_console_drawn_features")),
    )


def downgrade() -> None:
    op.drop_table("console_drawn_features")
    op.drop_table("console_confirmations")
    op.drop_table("console_checks_views")
