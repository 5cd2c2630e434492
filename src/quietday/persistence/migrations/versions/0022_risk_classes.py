"""risk classes: an enterprise's credit-risk class (A-D) with its date, the 无感监管 flag and
its trade; a plan's remote (非现场) mode; what an inspection found (check_result)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("enterprise", sa.Column("risk_class", sa.String(length=1), nullable=True))
    op.add_column("enterprise", sa.Column("risk_classified_on", sa.Date(), nullable=True))
    op.add_column(
        "enterprise",
        sa.Column("low_risk", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "enterprise",
        sa.Column("industry", sa.String(length=64), nullable=False, server_default=""),
    )
    op.create_index("ix_enterprise_risk_class", "enterprise", ["risk_class"])
    op.create_index("ix_enterprise_industry", "enterprise", ["industry"])
    op.create_table(
        "check_result",
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plan.id"), primary_key=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("api_key.id"), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_check_result_day", "check_result", ["day"])
    op.add_column(
        "plan", sa.Column("remote", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_index("ix_check_result_day", table_name="check_result")
    op.drop_table("check_result")
    with op.batch_alter_table("plan") as batch:
        batch.drop_column("remote")
    op.drop_index("ix_enterprise_industry", table_name="enterprise")
    op.drop_index("ix_enterprise_risk_class", table_name="enterprise")
    with op.batch_alter_table("enterprise") as batch:
        batch.drop_column("industry")
        batch.drop_column("low_risk")
        batch.drop_column("risk_classified_on")
        batch.drop_column("risk_class")
