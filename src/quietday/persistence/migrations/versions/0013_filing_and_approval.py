"""filing and approval: a region's filing lead time, a case's trigger, a special plan's
approval, and the notices (检查通知) of triggered checks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quietday.domain.filing import TRIGGER_LABELS

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_plan = sa.table(
    "plan",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("exempt_reason", sa.String),
    sa.column("trigger", sa.String),
    sa.column("approval", sa.String),
)


def upgrade() -> None:
    # No table is rebuilt (SQLite's batch mode would drop `plan`, which other rows reference):
    # columns are added in place.
    conn = op.get_bind()
    op.add_column("region", sa.Column("filing_lead_days", sa.Integer(), nullable=True))
    op.add_column("plan", sa.Column("trigger", sa.String(length=16), nullable=True))
    op.add_column("plan", sa.Column("approval", sa.String(length=16), nullable=True))
    op.add_column("plan", sa.Column("approval_comment", sa.String(length=500), nullable=True))
    if conn.dialect.name == "sqlite":
        op.execute("ALTER TABLE plan ADD COLUMN approval_key_id INTEGER REFERENCES api_key (id)")
    else:
        op.add_column(
            "plan",
            sa.Column("approval_key_id", sa.Integer(), sa.ForeignKey("api_key.id"), nullable=True),
        )
    op.add_column("plan", sa.Column("approval_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "inspection_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=18), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "year", "seq", name="uq_notice_number"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("plan_id"),
    )
    op.create_index(
        op.f("ix_inspection_notice_agency_id"), "inspection_notice", ["agency_id"], unique=False
    )
    # Special plans filed before approval existed were scheduled as they stood: approved.
    conn.execute(_plan.update().where(_plan.c.kind == "special").values(approval="approved"))
    # A case's trigger, where its exemption's reason names one (`投诉举报`, `突发事件`...).
    for code, label in TRIGGER_LABELS.items():
        conn.execute(
            _plan.update()
            .where(
                _plan.c.kind == "case",
                _plan.c.trigger.is_(None),
                _plan.c.exempt_reason.contains(label, autoescape=True),
            )
            .values(trigger=code)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_inspection_notice_agency_id"), table_name="inspection_notice")
    op.drop_table("inspection_notice")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        for column in ("approval_at", "approval_key_id", "approval_comment", "approval", "trigger"):
            batch_op.drop_column(column)
    op.drop_column("region", "filing_lead_days")
