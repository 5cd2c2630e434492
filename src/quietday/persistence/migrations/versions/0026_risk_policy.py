"""risk policy: what each credit-risk class means here (sampling ratio, yearly cap per agency
and enterprise, routine plans of 无感监管 enterprises remote), seeded with local defaults; the
audit's monthly remote (非现场) counts

The seeded figures (`DEFAULT_POLICY`: A 3 % and one inspection per agency a year with routine
checks of 无感监管 firms remote, B 5 % and 2, C 10 % and 2, D 20 % and no cap) are local
configuration, not national facts: supervisors change them (PUT /api/v1/risk-policy).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quietday.persistence.risk import DEFAULT_POLICY

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "risk_class_policy",
        sa.Column("risk_class", sa.String(length=1), primary_key=True),
        sa.Column("sampling_ratio", sa.Float(), nullable=False),
        sa.Column("agency_enterprise_per_year", sa.Integer(), nullable=True),
        sa.Column("remote_routine", sa.Boolean(), nullable=False),
    )
    op.bulk_insert(table, [dict(d) for d in DEFAULT_POLICY])
    for name in ("planned_remote", "actual_remote"):
        op.add_column(
            "audit_rollup", sa.Column(name, sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_rollup") as batch:
        batch.drop_column("actual_remote")
        batch.drop_column("planned_remote")
    op.drop_table("risk_class_policy")
