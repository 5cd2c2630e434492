"""job queue (procrastinate, PostgreSQL only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The distributed runner's queue: procrastinate's own schema, from the exactly pinned release
(`procrastinate==3.10.0` in pyproject.toml; a later release brings its own migrations, to be
added here as revisions of ours). SQLite runs solve in the API's own processes and has no queue.
"""

from __future__ import annotations

from importlib import resources

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(resources.files("procrastinate.sql").joinpath("schema.sql").read_text("utf-8"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE f record;
        BEGIN
            FOR f IN SELECT oid::regprocedure AS sig FROM pg_proc
                     WHERE proname LIKE 'procrastinate\\_%' LOOP
                EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE';
            END LOOP;
        END $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )
