"""official calendar: the State Council's notices by year, and the years a run planned
provisionally

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

The table is seeded here with the notices the pinned `holidays` package holds (2001 to 2026 in
0.109), so that a database keeps planning on exactly the calendar it planned on before: from
now on the supervisor's imports change it, a newer package does not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quietday.persistence.calendar import package_seed
from quietday.persistence.tables import utcnow

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "official_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("workdays", sa.JSON(), nullable=False),
        sa.Column("papers", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.bulk_insert(table, package_seed(utcnow()))
    # In place, not SQLite's batch mode, which would rebuild `run` under the rows referencing it.
    op.add_column(
        "run", sa.Column("provisional_years", sa.JSON(), nullable=False, server_default="[]")
    )


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("provisional_years")
    op.drop_table("official_year")
