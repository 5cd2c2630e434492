"""the record and the enterprise's view: cancelled plans leave their visits, a visit keeps what
its enterprise may see (its announceable plans) with its own sequence and stamps, runs may be
corrections of the record and
remember the published plans they freed

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

_plan = sa.table(
    "plan",
    sa.column("id", sa.Integer),
    sa.column("agency_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("items", sa.JSON),
    sa.column("priority", sa.Integer),
    sa.column("exempt_reason", sa.String),
    sa.column("unannounced", sa.Boolean),
    sa.column("status", sa.String),
    sa.column("visit_id", sa.Integer),
    sa.column("cancelled_visit_id", sa.Integer),
)
_visit = sa.table(
    "visit",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("sequence", sa.Integer),
    sa.column("announced", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("public_view", sa.JSON(none_as_null=True)),
    sa.column("public_sequence", sa.Integer),
    sa.column("public_created_at", sa.DateTime(timezone=True)),
    sa.column("public_updated_at", sa.DateTime(timezone=True)),
)


def _lead(plans: list[Any]) -> str:
    """牵头部门 as `planning.visits.lead_agency` chose it on this revision's day."""
    count: dict[str, list[int]] = {}
    for p in plans:
        c = count.setdefault(p.agency_id, [0, 0])
        c[0] += 1
        c[1] += p.priority
    return min(count, key=lambda a: (-count[a][0], -count[a][1], a))


def _view(plans: list[Any], status: str) -> dict[str, Any]:
    return {
        "status": status,
        "lead": _lead(plans),
        "plans": sorted(
            ({"agency": p.agency_id, "items": list(p.items or [])} for p in plans),
            key=lambda p: (p["agency"], p["items"]),
        ),
    }


def _fill_public_views(conn: sa.Connection) -> None:
    """Each visit's enterprise view from the plans in it (a cancelled visit's from the plans
    cancelled out of it), with the sequence and stamps its feeds showed so far."""
    members: dict[int, list[Any]] = defaultdict(list)
    for p in conn.execute(sa.select(_plan)):
        announceable = p.kind != "case" and not p.exempt_reason and not p.unannounced
        if not announceable:
            continue
        if p.status == "published" and p.visit_id is not None:
            members[p.visit_id].append(p)
        elif p.status == "cancelled" and p.cancelled_visit_id is not None:
            members[p.cancelled_visit_id].append(p)
    for v in conn.execute(sa.select(_visit)):
        plans = members.get(v.id)
        if not plans or not v.announced:
            continue
        conn.execute(
            _visit.update()
            .where(_visit.c.id == v.id)
            .values(
                public_view=_view(plans, "published" if v.status == "published" else "cancelled"),
                public_sequence=v.sequence,
                public_created_at=v.created_at,
                public_updated_at=v.updated_at,
            )
        )


def upgrade() -> None:
    # No table is rebuilt (SQLite's batch mode would drop `plan` and `visit`, which other rows
    # reference): columns are added and dropped in place (SQLite 3.35 and later).
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        op.execute("ALTER TABLE plan ADD COLUMN cancelled_visit_id INTEGER REFERENCES visit (id)")
    else:
        op.add_column(
            "plan",
            sa.Column("cancelled_visit_id", sa.Integer(), sa.ForeignKey("visit.id"), nullable=True),
        )
    op.create_index("ix_plan_cancelled_visit_id", "plan", ["cancelled_visit_id"], unique=False)
    op.add_column("visit", sa.Column("public_view", sa.JSON(), nullable=True))
    op.add_column(
        "visit", sa.Column("public_sequence", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "visit", sa.Column("public_created_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "visit", sa.Column("public_updated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "run", sa.Column("correction", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("run", sa.Column("freed_plans", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("run", sa.Column("asked_on", sa.Date(), nullable=True))
    conn.execute(
        _plan.update()
        .where(_plan.c.status == "cancelled", _plan.c.visit_id.is_not(None))
        .values(cancelled_visit_id=_plan.c.visit_id, visit_id=None)
    )
    _fill_public_views(conn)
    op.execute("ALTER TABLE visit DROP COLUMN announced")


def downgrade() -> None:
    op.add_column(
        "visit", sa.Column("announced", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    conn = op.get_bind()
    conn.execute(_visit.update().values(announced=_visit.c.public_view.is_not(None)))
    conn.execute(
        _plan.update()
        .where(_plan.c.status == "cancelled", _plan.c.cancelled_visit_id.is_not(None))
        .values(visit_id=_plan.c.cancelled_visit_id)
    )
    op.drop_column("run", "asked_on")
    op.drop_column("run", "freed_plans")
    op.drop_column("run", "correction")
    for column in ("public_updated_at", "public_created_at", "public_sequence", "public_view"):
        op.drop_column("visit", column)
    op.drop_index("ix_plan_cancelled_visit_id", table_name="plan")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_column("cancelled_visit_id")
