"""check-ins, their flags and ratings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=18), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("exempt_reason", sa.String(length=200), nullable=True),
        sa.Column("certificates", sa.JSON(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["api_key.id"],
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprise.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("check_in", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_in_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_in_day"), ["day"], unique=False)
        batch_op.create_index("ix_check_in_enterprise_day", ["enterprise_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_in_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "check_in_flag",
        sa.Column("check_in_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_in_id"],
            ["check_in.id"],
        ),
        sa.PrimaryKeyConstraint("check_in_id", "code"),
    )
    op.create_table(
        "check_in_rating",
        sa.Column("check_in_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("feed_token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_in_id"],
            ["check_in.id"],
        ),
        sa.ForeignKeyConstraint(
            ["feed_token_id"],
            ["feed_token.id"],
        ),
        sa.PrimaryKeyConstraint("check_in_id"),
    )


def downgrade() -> None:
    op.drop_table("check_in_rating")
    op.drop_table("check_in_flag")
    with op.batch_alter_table("check_in", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_in_visit_id"))
        batch_op.drop_index("ix_check_in_enterprise_day")
        batch_op.drop_index(batch_op.f("ix_check_in_day"))
        batch_op.drop_index(batch_op.f("ix_check_in_agency_id"))

    op.drop_table("check_in")
