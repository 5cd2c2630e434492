"""inspection codes (检查码): one signed code per agency and published visit

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inspection_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=18), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("short_code", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column("token", sa.String(length=1024), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"]),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("short_code"),
    )
    op.create_index("ix_inspection_code_visit_agency", "inspection_code", ["visit_id", "agency_id"])
    op.create_index(
        "ix_inspection_code_enterprise_day", "inspection_code", ["enterprise_id", "day"]
    )


def downgrade() -> None:
    op.drop_index("ix_inspection_code_enterprise_day", table_name="inspection_code")
    op.drop_index("ix_inspection_code_visit_agency", table_name="inspection_code")
    op.drop_table("inspection_code")
