"""feed changes: PostgreSQL notifies `quietday_feeds` in the transaction of every change that
can alter what a feed token answers (API processes cache answers until then)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# (trigger, table, when it fires, FOR EACH ..., condition): what a feed's stamp reads (the
# visits, their inspectors, the plans in them, the name generation) and its token's liveness.
# PostgreSQL sends one notification per transaction and channel, however many rows fire; a
# plan submitted outside any visit (most inserts) notifies nothing.
TRIGGERS = [
    ("feed_changes_visit", "visit", "INSERT OR UPDATE OR DELETE OR TRUNCATE", "STATEMENT", ""),
    ("feed_changes_visit_inspector", "visit_inspector",
     "INSERT OR UPDATE OR DELETE OR TRUNCATE", "STATEMENT", ""),
    ("feed_changes_token", "feed_token", "UPDATE OR DELETE OR TRUNCATE", "STATEMENT", ""),
    # Once per statement that sets these columns (publishing sets 10^5 plans' visits at once;
    # a run's drafts set none of them).
    ("feed_changes_plan_moved", "plan", "UPDATE OF visit_id, cancelled_visit_id, agency_id",
     "STATEMENT", ""),
    ("feed_changes_plan_added", "plan", "INSERT", "ROW",
     "WHEN (NEW.visit_id IS NOT NULL OR NEW.cancelled_visit_id IS NOT NULL)"),
    ("feed_changes_plan_removed", "plan", "DELETE", "ROW",
     "WHEN (OLD.visit_id IS NOT NULL OR OLD.cancelled_visit_id IS NOT NULL)"),
    ("feed_changes_plan_truncated", "plan", "TRUNCATE", "STATEMENT", ""),
    ("feed_changes_generation", "setting", "INSERT OR UPDATE", "ROW",
     "WHEN (NEW.key = 'feed_generation')"),
    ("feed_changes_generation_removed", "setting", "DELETE", "ROW",
     "WHEN (OLD.key = 'feed_generation')"),
]  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: API processes watch PRAGMA data_version instead
    op.execute(
        """
        CREATE FUNCTION quietday_feed_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('quietday_feeds', '');
          RETURN NULL;
        END $$
        """
    )
    for name, table, events, each, condition in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {events} ON {table} FOR EACH {each} {condition}"
            " EXECUTE FUNCTION quietday_feed_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION quietday_feed_changed()")
