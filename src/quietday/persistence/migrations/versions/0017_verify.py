"""the public side of codes: an agency's legal basis (检查依据) and failed typed-code attempts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agency") as batch:
        batch.add_column(
            sa.Column("legal_basis", sa.String(length=500), nullable=False, server_default="")
        )
    op.create_table(
        "code_attempt",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "hour"),
    )


def downgrade() -> None:
    op.drop_table("code_attempt")
    with op.batch_alter_table("agency") as batch:
        batch.drop_column("legal_basis")
