"""run controls: a run records the stage it is at (build, solve, check, store), beside its
progress and message

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(length=16), nullable=False, server_default="queued")
        )
    op.execute("UPDATE run SET stage = 'done' WHERE status NOT IN ('queued', 'running')")


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("stage")
