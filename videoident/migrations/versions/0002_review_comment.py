"""The four-eyes reviewer's comment gets its own sealed column (it no longer overwrites the agent's).

Revision ID: 0002_review_comment
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_review_comment"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ident_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_comment_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ident_sessions", schema=None) as batch_op:
        batch_op.drop_column("review_comment_enc")
