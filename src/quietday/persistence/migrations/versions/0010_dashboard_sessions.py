"""dashboard sessions (signing out ends a session on the server)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_dashboard_session_key_id"), "dashboard_session", ["key_id"])
    op.create_index(op.f("ix_dashboard_session_expires_at"), "dashboard_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_session_expires_at"), table_name="dashboard_session")
    op.drop_index(op.f("ix_dashboard_session_key_id"), table_name="dashboard_session")
    op.drop_table("dashboard_session")
