"""feedback by inspection code: a rating may come from the verification page (no feed token),
and says which way it came

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_in_rating") as batch:
        batch.alter_column("feed_token_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="subscribe")
        )


def downgrade() -> None:
    op.execute("DELETE FROM check_in_rating WHERE feed_token_id IS NULL")
    with op.batch_alter_table("check_in_rating") as batch:
        batch.drop_column("channel")
        batch.alter_column("feed_token_id", existing_type=sa.Integer(), nullable=False)
