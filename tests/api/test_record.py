"""The past is a record: what was published (and checked in) before a run's horizon is history
for that run, never an inspection to place; publishing never moves a published plan, empties
a past visit or touches one with a check-in; runs start tomorrow unless they correct the record.
Over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import EVE, Clock
from flows import check_in, documents, start, submit, wait
from quietday.domain import find_violations
from quietday.domain.model import AgencyId, EnterpriseId
from quietday.persistence import Engine
from seed import AGENCIES, Seeded

A = AGENCIES["A"][0]
Q4 = {"horizon_start": "2026-10-02", "horizon_end": "2026-12-31"}


def china(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def plan_row(fc: TestClient, world: Seeded, pid: int) -> dict[str, Any]:
    r = fc.get(f"/api/v1/plans/{pid}", headers=world.auth())
    assert r.status_code == 200
    return dict(r.json())


def visits(fc: TestClient, world: Seeded) -> dict[int, dict[str, Any]]:
    items = fc.get("/api/v1/visits", params={"limit": 500}, headers=world.auth()).json()["items"]
    return {v["id"]: v for v in items}


def publish(fc: TestClient, world: Seeded, **run: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    done = wait(fc, world, start(fc, world, **run)["id"])
    assert done["status"] == "succeeded", done
    r = fc.post(f"/api/v1/runs/{done['id']}/publish", headers=world.auth())
    assert r.status_code == 200, r.text
    return done, dict(r.json())


def assert_consistent(engine: Engine) -> None:
    """Every published visit holds published plans of its own date; every published plan sits
    in a published visit of its date; no other plan is in a visit."""
    with engine.connect() as db:
        plans = db.execute(
            sa.text("SELECT id, status, visit_id, published_date, enterprise_id FROM plan")
        ).all()
        rows = db.execute(sa.text("SELECT id, status, day, enterprise_id FROM visit")).all()
    by_id = {v.id: v for v in rows}
    members = Counter(p.visit_id for p in plans if p.status == "published")
    for p in plans:
        if p.status == "published":
            visit = by_id[p.visit_id]
            assert (visit.status, visit.day, visit.enterprise_id) == (
                "published",
                p.published_date,
                p.enterprise_id,
            ), p
        else:
            assert (p.visit_id, p.published_date) == (None, None), p
    for v in rows:
        assert (v.status == "published") == (members[v.id] > 0), v


@pytest.mark.usefixtures("inspectors")
def test_what_was_published_before_a_run_is_its_history_and_stays_as_it_is(
    fc: TestClient, world: Seeded, clock: Clock, engine: Engine
) -> None:
    """A's plan at E1 and B's at E2 are published for July with windows open to December; A
    checks in on its July visit. Two runs over the fourth quarter leave both where they are,
    count July toward A's yearly cap of two at E1 (one of A's new plans, in October and in
    November, fits), and
    their schedules pass the checker."""
    clock.now = EVE
    window = {"earliest": "2026-07-01", "latest": "2026-12-31"}
    july_a = submit(fc, world, "A", 1, **window)
    july_b = submit(fc, world, "B", 2, **window)
    publish(fc, world)
    first = {pid: plan_row(fc, world, pid) for pid in (july_a, july_b)}
    day = date.fromisoformat(first[july_a]["published_date"])
    assert day.month in (7, 8, 9)
    clock.now = china(day)
    check_in(fc, world, "A", 1, f"{day}T10:00:00+08:00")
    clock.now = china(date(2026, 10, 1), 9)
    new = [
        submit(fc, world, "A", 1, earliest=f"2026-{month}-02", latest=f"2026-{month}-30")
        for month in (10, 11)
    ]
    record = visits(fc, world)
    for attempt in (1, 2):
        run, report = publish(fc, world, **Q4)
        assert {pid: plan_row(fc, world, pid) for pid in first} == first, attempt
        now = visits(fc, world)
        assert {k: now[k] for k in record} == record, attempt
        instance, solution = documents(fc, world, run["id"])
        placed = {i.id for i in instance.inspections}
        assert not placed & {f"P-{july_a}", f"P-{july_b}"}
        assert any(
            (h.enterprise, h.agency, h.date)
            == (EnterpriseId(world.enterprises[1]), AgencyId(A), day)
            for h in instance.history
        )
        assert find_violations(instance, solution) == []
        states = sorted(plan_row(fc, world, pid)["status"] for pid in new)
        assert states == ["published", "unscheduled"], (attempt, report)
        (refused,) = [
            plan_row(fc, world, pid)
            for pid in new
            if plan_row(fc, world, pid)["status"] == "unscheduled"
        ]
        assert refused["reason"] == "cap"
        assert_consistent(engine)
    # Published on the plan: its draft agrees with its published date.
    for pid in (july_a, *new):
        row = plan_row(fc, world, pid)
        if row["status"] == "published":
            assert row["draft"]["date"] == row["published_date"]


def test_a_run_starts_tomorrow_unless_it_corrects_the_record(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    clock.now = china(date(2026, 7, 1), 9)
    r = fc.post("/api/v1/runs", json={"horizon_start": "2026-07-01", "horizon_end": "2026-07-31"},
                headers=world.auth())  # fmt: skip
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "horizon_start"
    assert "2026-07-02" in r.json()["detail"]
    run = start(fc, world, horizon_start="2026-07-01", correction=True)
    assert run["correction"] is True
    # A run planned yesterday for today is stale by the time it is published.
    clock.now = EVE
    submit(fc, world, "A", 1)
    done = wait(fc, world, start(fc, world)["id"])
    clock.now = china(date(2026, 7, 1), 9)
    r = fc.post(f"/api/v1/runs/{done['id']}/publish", headers=world.auth())
    assert (r.status_code, r.json()["code"]) == (409, "horizon_started")


@pytest.mark.usefixtures("inspectors")
def test_a_correction_never_changes_a_visit_with_a_check_in(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    clock.now = EVE
    mine = submit(fc, world, "A", 1)
    publish(fc, world)
    day = date.fromisoformat(plan_row(fc, world, mine)["published_date"])
    clock.now = china(day)
    check_in(fc, world, "A", 1, f"{day}T10:00:00+08:00")
    (sealed,) = visits(fc, world).values()
    # The day itself: the plan is carried out, so it is the record.
    r = fc.post(f"/api/v1/plans/{mine}/cancel", headers=world.auth("A"))
    assert (r.status_code, r.json()["code"]) == (409, "plan_in_record")
    late = submit(fc, world, "B", 1, earliest=str(day), latest=str(day))
    _, report = publish(fc, world, horizon_start=str(day), horizon_end=str(day), correction=True)
    assert {(s["plan_id"], s["why"]) for s in report["skipped"]} == {(late, "checked_in")}
    assert visits(fc, world) == {sealed["id"]: sealed}
    assert plan_row(fc, world, late)["status"] == "submitted"


@pytest.mark.usefixtures("inspectors")
def test_a_plan_carried_out_early_is_history_not_a_pin(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """A checks in at E1 on 07-10, early for its visit published later in July, and may inspect
    E1 once a year: a run from 07-11 counts 07-10, leaves the July visit as it is, and does not
    fail on it (before, the plan was both history and a pin breaking the cap)."""
    clock.now = EVE
    mine = submit(fc, world, "A", 1, earliest="2026-07-01", latest="2026-07-31")
    publish(fc, world)
    before = plan_row(fc, world, mine)
    r = fc.patch(f"/api/v1/enterprises/{world.enterprises[1]}",
                 json={"cap_overrides": {"agency_enterprise_per_year": 1}}, headers=world.auth())  # fmt: skip
    assert r.status_code == 200, r.text
    clock.now = china(date(2026, 7, 10))
    early = check_in(fc, world, "A", 1, "2026-07-10T10:00:00+08:00")
    assert early["visit_id"] == before["visit_id"]
    later = submit(fc, world, "A", 1, earliest="2026-08-21", latest="2026-08-31")
    run, _ = publish(fc, world, horizon_start="2026-07-11")
    instance, _ = documents(fc, world, run["id"])
    assert f"P-{mine}" not in {i.id for i in instance.inspections}
    assert date(2026, 7, 10) in {h.date for h in instance.history}
    assert plan_row(fc, world, mine) == before
    assert plan_row(fc, world, later)["reason"] == "cap"


def test_a_published_plan_the_rules_no_longer_allow_is_placed_anew(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    """A blackout date set on a published visit's day: the next run frees that plan (it does not
    fail on an invalid pin), publishing moves it and cancels the visit it left."""
    mine = submit(fc, world, "A", 2)
    publish(fc, world)
    first = plan_row(fc, world, mine)
    r = fc.patch(f"/api/v1/enterprises/{world.enterprises[2]}",
                 json={"blackout": [first["published_date"]]}, headers=world.auth())  # fmt: skip
    assert r.status_code == 200, r.text
    run, report = publish(fc, world)
    assert run["freed_plans"] == [mine]
    moved = plan_row(fc, world, mine)
    assert moved["status"] == "published"
    assert moved["published_date"] != first["published_date"]
    assert visits(fc, world)[first["visit_id"]]["status"] == "cancelled"
    assert report["skipped"] == []
    assert_consistent(engine)
