"""sampling tasks (双随机): rounds with their committed seed and population snapshot, tasks
with their agencies, and the enterprises drawn with the plans filed for them

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sampling_round",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("coordination", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("draw_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("api_key.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drawn_by", sa.Integer(), sa.ForeignKey("api_key.id"), nullable=True),
        sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=True),
    )
    op.create_table(
        "sampling_task",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.Integer(), sa.ForeignKey("sampling_round.id"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_prefix", sa.String(length=12), nullable=False),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("ratios", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("earliest", sa.Date(), nullable=False),
        sa.Column("latest", sa.Date(), nullable=False),
        sa.Column("unannounced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sampling_task_round_id", "sampling_task", ["round_id"])
    op.create_table(
        "sampling_task_agency",
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("sampling_task.id"), primary_key=True),
        sa.Column("agency_id", sa.String(length=64), sa.ForeignKey("agency.id"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_sampling_task_agency_agency_id", "sampling_task_agency", ["agency_id"])
    op.create_table(
        "sampling_draw",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("sampling_task.id"), nullable=False),
        sa.Column("agency_id", sa.String(length=64), sa.ForeignKey("agency.id"), nullable=False),
        sa.Column(
            "enterprise_id", sa.String(length=18), sa.ForeignKey("enterprise.id"), nullable=False
        ),
        sa.Column("number", sa.Float(), nullable=False),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plan.id"), nullable=True),
        sa.UniqueConstraint("task_id", "agency_id", "enterprise_id", name="uq_sampling_draw"),
    )
    op.create_index("ix_sampling_draw_task_id", "sampling_draw", ["task_id"])
    op.create_index("ix_sampling_draw_plan_id", "sampling_draw", ["plan_id"])


def downgrade() -> None:
    op.drop_index("ix_sampling_draw_plan_id", table_name="sampling_draw")
    op.drop_index("ix_sampling_draw_task_id", table_name="sampling_draw")
    op.drop_table("sampling_draw")
    op.drop_index("ix_sampling_task_agency_agency_id", table_name="sampling_task_agency")
    op.drop_table("sampling_task_agency")
    op.drop_index("ix_sampling_task_round_id", table_name="sampling_task")
    op.drop_table("sampling_task")
    op.drop_table("sampling_round")
