"""Migrations that move data, from the revision before to the head, on a SQLite file and on
the real PostgreSQL server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import require
from db import create_postgres_database, drop_postgres_database, postgres_available, sqlite_url
from quietday.official import PACKAGE_SOURCE, official_calendar, official_years
from quietday.persistence import make_engine, session_scope, upgrade
from quietday.persistence.calendar import OfficialYearRepository
from quietday.persistence.runs import RunRepository

A, B = "360102-SCJG", "360102-XFJY"
ENT = "91360102MA00000231"
STAMP = "2026-07-01 02:30:00+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    require(postgres_available(), "PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"quietday_migrate_{os.getpid()}"
    try:
        yield create_postgres_database(name)
    finally:
        drop_postgres_database(name)


def _insert(db: sa.Connection, table: str, **values: object) -> None:
    names = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    db.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)


def _plan(db: sa.Connection, pid: int, agency: str, visit: int, **values: object) -> None:
    row: dict[str, object] = {
        "id": pid, "agency_id": agency, "enterprise_id": ENT, "kind": "routine",
        "items": json.dumps([f"X-{pid}"]), "earliest": "2026-07-01", "latest": "2026-09-30",
        "priority": 1, "unannounced": False, "status": "published", "version": 1,
        "visit_id": visit, "created_at": STAMP, "updated_at": STAMP,
    }  # fmt: skip
    row.update(values)
    _insert(db, "plan", **row)


def test_0012_moves_cancelled_plans_out_and_gives_each_visit_its_public_side(url: str) -> None:
    """Visit 1: A's routine plan and B's complaint case; 2: cancelled, A's plan cancelled in it;
    3: B's case alone. After 0012 each visit's public side is its announceable plans (none:
    null), with the sequence and stamps its feeds showed, and a cancelled plan has left its
    visit but remembers it."""
    upgrade(url, "0008")
    engine = make_engine(url)
    with engine.begin() as db:
        _insert(db, "region", code="360102", name="东湖区", level="county")
        _insert(db, "quiet_policy", id="none", name="", month_days="[]", weekdays="[]", dates="[]")
        for agency in (A, B):
            _insert(db, "agency", id=agency, name=agency, region_code="360102",
                    daily_capacity=3, active=True)  # fmt: skip
        _insert(db, "enterprise", id=ENT, name="江西测试有限公司", region_code="360102",
                quiet_policy_id="none", whitelisted=False, blackout="[]",
                cap_overrides="{}")  # fmt: skip
        for vid, status, announced, day in [
            (1, "published", True, "2026-07-21"),
            (2, "cancelled", True, "2026-07-22"),
            (3, "published", False, "2026-07-23"),
        ]:
            _insert(db, "visit", id=vid, enterprise_id=ENT, day=day, lead_agency_id=B,
                    status=status, sequence=vid + 1, announced=announced, created_at=STAMP,
                    updated_at=STAMP)  # fmt: skip
        _plan(db, 1, A, 1)
        _plan(db, 2, B, 1, kind="case", exempt_reason="投诉举报")
        _plan(db, 3, A, 2, status="cancelled")
        _plan(db, 4, B, 3, kind="case", exempt_reason="投诉举报")
    upgrade(url)
    with engine.connect() as db:
        visits = {
            v.id: v
            for v in db.execute(
                sa.text("SELECT id, public_view, public_sequence, public_updated_at FROM visit")
            )
        }
        plans = {
            p.id: (p.visit_id, p.cancelled_visit_id)
            for p in db.execute(sa.text("SELECT id, visit_id, cancelled_visit_id FROM plan"))
        }
    engine.dispose()

    def view(vid: int) -> object:
        raw = visits[vid].public_view
        return json.loads(raw) if isinstance(raw, str) else raw

    assert view(1) == {"status": "published", "lead": A, "plans": [{"agency": A, "items": ["X-1"]}]}
    assert view(2) == {"status": "cancelled", "lead": A, "plans": [{"agency": A, "items": ["X-3"]}]}
    assert view(3) is None
    assert [visits[v].public_sequence for v in (1, 2)] == [2, 3]
    assert visits[1].public_updated_at is not None
    assert plans == {1: (1, None), 2: (1, None), 3: (None, 2), 4: (3, None)}


def test_0009_seeds_the_calendar_from_the_package_and_keeps_runs(url: str) -> None:
    """A database at 0008 with a run: after 0009 the run planned no year provisionally, and
    every notice year of the pinned `holidays` package is stored as the package gives it."""
    upgrade(url, "0008")
    engine = make_engine(url)
    with engine.begin() as db:
        _insert(
            db, "run", id=1, status="published", horizon_start="2026-07-01",
            horizon_end="2026-09-30", time_limit=5, workers=1, seed=0, deterministic=False,
            progress=1, message="", cancel_requested=False, created_at=STAMP, summary="{}",
        )  # fmt: skip
    upgrade(url)
    with session_scope(engine) as s:
        assert RunRepository(s).get_or_raise(1).provisional_years == []
        stored = {r.year: r for r in OfficialYearRepository(s).list()}
    engine.dispose()
    assert set(stored) == set(official_years("CN"))
    notice = official_calendar("CN", [2026])
    assert stored[2026].holidays == {d.isoformat(): notice.names[d] for d in notice.holidays}
    assert set(stored[2026].workdays) == {d.isoformat() for d in notice.workdays}
    assert stored[2026].source == PACKAGE_SOURCE
    assert stored[2026].imported_by == "migration 0009"
