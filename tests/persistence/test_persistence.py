"""The schema comes from migrations and matches the tables; repositories on both databases."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from quietday.persistence import Engine, refresh_statistics, session_scope
from quietday.persistence.plans import PlanRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import metadata
from quietday.planning.keys import Actor
from quietday.planning.plans import PlanInput, create_plans
from seed import AGENCIES, Seeded


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    """The job queue's tables (migration 0007) are procrastinate's, not our metadata's; the
    trigram index on enterprise names (0019) exists only where PostgreSQL has pg_trgm."""
    if type_ == "index" and name == "ix_enterprise_name_trgm":
        return False
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _ours})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_the_row_publishing_locks_is_created_by_the_migration(engine: Engine) -> None:
    with session_scope(engine) as session:
        RunRepository(session).lock_publishing()
        assert SettingRepository(session).get("publish") is not None


def test_a_failed_unit_of_work_leaves_nothing(engine: Engine, world: Seeded) -> None:
    actor = Actor(key_id=1, role="agency", agency_id=AGENCIES["A"][0])
    plan = PlanInput(
        enterprise_id=world.enterprises[0],
        kind="routine",
        earliest=date(2026, 7, 1),
        latest=date(2026, 7, 31),
    )
    try:
        with session_scope(engine, actor=actor.name) as session:
            create_plans(session, actor, [plan], today=date(2026, 7, 1))
            raise RuntimeError("the request failed after the plans were flushed")
    except RuntimeError:
        pass
    with session_scope(engine) as session:
        assert PlanRepository(session).count() == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_statistics_are_gathered_on_sqlite(engine: Engine, world: Seeded) -> None:
    """After bulk writes the demo gathers the SQLite planner's statistics (PostgreSQL's
    autovacuum does): without them an indexed lookup can walk a whole table."""
    refresh_statistics(engine)
    with engine.connect() as conn:
        tables = {row[0] for row in conn.execute(sa.text("SELECT tbl FROM sqlite_stat1"))}
    assert {"enterprise", "agency"} <= tables
