"""audit rollups

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_rollup",
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("planned_visits", sa.Integer(), nullable=False),
        sa.Column("planned_joint_visits", sa.Integer(), nullable=False),
        sa.Column("planned_saved", sa.Float(), nullable=False),
        sa.Column("planned_routine", sa.Integer(), nullable=False),
        sa.Column("planned_special", sa.Integer(), nullable=False),
        sa.Column("planned_case", sa.Integer(), nullable=False),
        sa.Column("planned_requested", sa.Integer(), nullable=False),
        sa.Column("planned_special_case", sa.Integer(), nullable=False),
        sa.Column("actual_visits", sa.Integer(), nullable=False),
        sa.Column("actual_joint_visits", sa.Integer(), nullable=False),
        sa.Column("actual_saved", sa.Float(), nullable=False),
        sa.Column("actual_routine", sa.Integer(), nullable=False),
        sa.Column("actual_special", sa.Integer(), nullable=False),
        sa.Column("actual_case", sa.Integer(), nullable=False),
        sa.Column("actual_requested", sa.Integer(), nullable=False),
        sa.Column("actual_special_case", sa.Integer(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("dim", "subject", "month"),
    )


def downgrade() -> None:
    op.drop_table("audit_rollup")
