"""at the door: a check-in keeps the enterprise's 监督码 it scanned, when, and why a scan came
after the entry; a door sign-in keeps the inspectors who signed in

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("check_in", sa.Column("enterprise_code", sa.String(length=1000), nullable=True))
    op.add_column("check_in", sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("check_in", sa.Column("late_reason", sa.String(length=200), nullable=True))
    op.add_column(
        "dashboard_session",
        sa.Column("inspector_ids", sa.JSON(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_session") as batch:
        batch.drop_column("inspector_ids")
    with op.batch_alter_table("check_in") as batch:
        batch.drop_column("late_reason")
        batch.drop_column("scanned_at")
        batch.drop_column("enterprise_code")
