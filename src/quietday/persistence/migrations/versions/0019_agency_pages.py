"""agency pages: uploads of plan sheets (what became of each, the marked sheet), and the pinyin
initials of enterprise names (backfilled), with a trigram index on names where PostgreSQL has
pg_trgm

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quietday.persistence.names import initials

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_BATCH = 5000


def _trigrams(bind: sa.Connection) -> bool:
    """pg_trgm is there, or can be made by this user."""
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'), "
            "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'), "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
    ).one()
    installed, available, superuser = found
    if installed:
        return True
    if available and superuser:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    return False


def upgrade() -> None:
    op.create_table(
        "agency_upload",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("marked", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_agency_upload_agency_id"), "agency_upload", ["agency_id"])
    op.create_index(op.f("ix_agency_upload_expires_at"), "agency_upload", ["expires_at"])
    with op.batch_alter_table("enterprise") as batch:
        batch.add_column(
            sa.Column("name_initials", sa.String(length=200), nullable=False, server_default="")
        )
    bind = op.get_bind()
    enterprise = sa.table(
        "enterprise", sa.column("id"), sa.column("name"), sa.column("name_initials")
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(enterprise.c.id, enterprise.c.name)
            .where(enterprise.c.id > after)
            .order_by(enterprise.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            enterprise.update()
            .where(enterprise.c.id == sa.bindparam("key"))
            .values(name_initials=sa.bindparam("value")),
            [{"key": i, "value": initials(name)} for i, name in rows],
        )
        after = rows[-1][0]
    op.create_index(op.f("ix_enterprise_name_initials"), "enterprise", ["name_initials"])
    if _trigrams(bind):
        op.execute(
            "CREATE INDEX ix_enterprise_name_trgm ON enterprise USING gin (name gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_enterprise_name_trgm")
    op.drop_index(op.f("ix_enterprise_name_initials"), table_name="enterprise")
    with op.batch_alter_table("enterprise") as batch:
        batch.drop_column("name_initials")
    op.drop_index(op.f("ix_agency_upload_expires_at"), table_name="agency_upload")
    op.drop_index(op.f("ix_agency_upload_agency_id"), table_name="agency_upload")
    op.drop_table("agency_upload")
