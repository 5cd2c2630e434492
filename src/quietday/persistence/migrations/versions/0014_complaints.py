"""complaints (投诉) of enterprises, handled by supervisors

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=18), nullable=False),
        sa.Column("check_in_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("agency_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("feed_token_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reply", sa.String(length=1000), nullable=True),
        sa.Column("handled_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["check_in_id"], ["check_in.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.ForeignKeyConstraint(["feed_token_id"], ["feed_token.id"]),
        sa.ForeignKeyConstraint(["handled_by"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_check_in_id"), ["check_in_id"], unique=False)
        batch_op.create_index(
            "ix_complaint_enterprise_created", ["enterprise_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_complaint_status_created", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_status_created")
        batch_op.drop_index("ix_complaint_enterprise_created")
        batch_op.drop_index(batch_op.f("ix_complaint_check_in_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_agency_id"))
    op.drop_table("complaint")
