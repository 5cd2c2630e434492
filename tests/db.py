"""Real databases for the tests: a SQLite file and a PostgreSQL database at 127.0.0.1:5432,
each migrated once per session and emptied between tests (never mocked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa

from quietday.persistence import Engine, is_sqlite, make_engine, upgrade
from quietday.persistence.calendar import seed_official_years
from quietday.persistence.risk import seed_risk_policy
from quietday.persistence.tables import metadata

PG_ADMIN = os.environ.get("QUIETDAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def create_postgres_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN.split("@", 1)[1].rsplit("/", 1)[0]
    user = PG_ADMIN.split("//", 1)[1].split("@", 1)[0]
    return f"postgresql+psycopg://{user}@{host}/{name}"


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'quietday-test.db'}"


def migrated(url: str) -> Iterator[Engine]:
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def without_sqlite_triggers(conn: sa.Connection) -> Iterator[None]:
    """SQLite cannot disable a trigger: drop them all and create them again afterwards."""
    triggers = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    saved = list(triggers)
    for name, _ in saved:
        conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
    yield
    for _, sql in saved:
        conn.execute(sa.text(sql))


# procrastinate's tables (migration 0007, PostgreSQL only).
QUEUE_TABLES = [
    "procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
    "procrastinate_workers",
]  # fmt: skip


def empty(engine: Engine) -> None:
    """Every table emptied (on PostgreSQL the job queue's too), ids restarted, the publish
    lock row, the audit chain's genesis head, the seeded official calendar and the default
    risk-class policy back. The audit log refuses DELETE (and on
    PostgreSQL TRUNCATE) by triggers: here they are dropped for the transaction (SQLite) or
    turned off by the test superuser (PostgreSQL, `session_replication_role`)."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if is_sqlite(str(engine.url)):
            # Integer primary keys are rowids here: emptied tables count from 1 again.
            with without_sqlite_triggers(conn):
                for name in tables:
                    conn.execute(sa.text(f'DELETE FROM "{name}"'))
        else:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                sa.text(
                    "TRUNCATE "
                    + ", ".join(f'"{n}"' for n in tables + QUEUE_TABLES)
                    + " RESTART IDENTITY CASCADE"
                )
            )
        conn.execute(sa.text("INSERT INTO setting (key, value) VALUES ('publish', '{}')"))
        conn.execute(
            sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)"),
            {"genesis": "0" * 64},
        )
        seed_official_years(conn)
        seed_risk_policy(conn)
