"""inspector draw: certificates' validity and declared conflicts (回避)

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inspector", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certified_until", sa.Date(), nullable=True))
    op.create_table(
        "inspector_conflict",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inspector_id", sa.Integer(), sa.ForeignKey("inspector.id"), nullable=False),
        sa.Column(
            "enterprise_id", sa.String(length=18), sa.ForeignKey("enterprise.id"), nullable=False
        ),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.String(length=100), nullable=False),
        sa.UniqueConstraint(
            "inspector_id", "enterprise_id", name="uq_inspector_conflict_inspector_enterprise"
        ),
    )
    op.create_index("ix_inspector_conflict_inspector_id", "inspector_conflict", ["inspector_id"])
    op.create_index("ix_inspector_conflict_enterprise_id", "inspector_conflict", ["enterprise_id"])


def downgrade() -> None:
    op.drop_index("ix_inspector_conflict_enterprise_id", table_name="inspector_conflict")
    op.drop_index("ix_inspector_conflict_inspector_id", table_name="inspector_conflict")
    op.drop_table("inspector_conflict")
    with op.batch_alter_table("inspector", schema=None) as batch_op:
        batch_op.drop_column("certified_until")
