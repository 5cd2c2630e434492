"""Remote checks (非现场): the policy makes the routine plans of 无感监管 enterprises remote at
intake; a remote plan opens no door (never in a run's instance, never a visit), is bound by
neither quiet days nor the filing lead time of an entry, and the frequency audit counts it
apart from visits."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi.testclient import TestClient

from conftest import Clock
from flows import HEADERS, as_csv, published, row
from quietday.domain.status import CheckOutcome, PlanStatus
from quietday.persistence import Engine, session_scope
from quietday.persistence.plans import PlanRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.visits import VisitRepository
from quietday.planning.frequency import frequency_page
from quietday.planning.keys import Actor
from quietday.planning.registry import put_region, update_enterprise
from quietday.planning.runs import RunRequest, build_instance, create_run, execute_run, publish_run
from seed import AGENCIES, Seeded

EVE = date(2026, 6, 30)
SUPERVISOR = Actor(key_id=1, role="supervisor", agency_id=None)


def _plan(client: TestClient, world: Seeded, enterprise: str, **fields: object) -> dict:
    body = {
        "enterprise_id": enterprise,
        "kind": "routine",
        "earliest": "2026-07-21",
        "latest": "2026-07-31",
        **fields,
    }
    r = client.post("/api/v1/plans", json=body, headers=world.auth("A"))
    return {**r.json(), "http": r.status_code}


def _classify(engine: Engine, enterprise: str, risk_class: str, *, low_risk: bool) -> None:
    with session_scope(engine, actor="test") as s:
        update_enterprise(s, enterprise, {"risk_class": risk_class, "low_risk": low_risk})


def test_the_policy_makes_routine_plans_of_low_risk_class_a_firms_remote_at_intake(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    low_a, low_b, plain_a = world.enterprises[:3]
    _classify(engine, low_a, "A", low_risk=True)
    _classify(engine, low_b, "B", low_risk=True)
    _classify(engine, plain_a, "A", low_risk=False)
    routine = _plan(client, world, low_a)
    assert routine["http"] == 201, routine
    assert routine["remote"] is True
    assert "非现场检查" in routine["remote_note"]
    assert "无需入企事前报备" in routine["remote_note"]
    special = _plan(client, world, low_a, kind="special", items=["ZX-1"])
    assert (special["remote"], special["remote_note"]) == (False, None)
    assert _plan(client, world, low_b)["remote"] is False  # class B: on site by the policy
    assert _plan(client, world, plain_a)["remote"] is False  # not on the 无感监管 list
    # A spreadsheet goes through the same intake; its 检查方式 column is read too.
    sheet = as_csv(
        [
            row(world, 1, **{"统一社会信用代码": low_a, "检查类型": "日常检查", "外部编号": "S-1"}),
            row(world, 3, **{"检查类型": "日常检查", "检查方式": "非现场", "外部编号": "S-2"}),
            row(world, 5, **{"检查类型": "日常检查", "外部编号": "S-3"}),
        ]
    )
    r = client.post(
        "/api/v1/plans/import", files={"file": ("p.csv", sheet)}, headers=world.auth("A")
    )
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/plans?remote=true&limit=500", headers=world.auth("A")).json()
    assert sorted(p["external_ref"] or "" for p in listed["items"]) == ["", "S-1", "S-2"]
    bad = as_csv([row(world, 1, **{"检查方式": "上门"})])
    r = client.post("/api/v1/plans/import", files={"file": ("p.csv", bad)}, headers=world.auth("A"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "第 2 行「检查方式」应为 现场 或 非现场: 上门"
    assert "检查方式" in HEADERS


def test_a_remote_plan_needs_no_filing_lead_and_quiet_days_do_not_refuse_it(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    with session_scope(engine, actor="test") as s:
        put_region(s, code="360102", name="东湖区", filing_lead_days=7)
    ent = world.enterprises[1]
    # Tomorrow, inside the quiet days of the 1st to the 20th.
    window = {"earliest": "2026-07-01", "latest": "2026-07-10"}
    on_site = _plan(client, world, ent, **window)
    assert on_site["http"] == 422
    assert on_site["errors"][0]["code"] == "filing_too_late"
    remote = _plan(client, world, ent, remote=True, **window)
    assert (remote["http"], remote["remote"]) == (201, True)
    # Made on site again, it is filed anew: the lead time applies.
    r = client.patch(
        f"/api/v1/plans/{remote['id']}", json={"remote": False}, headers=world.auth("A")
    )
    assert r.json()["errors"][0]["code"] == "filing_too_late"


def test_a_remote_plan_never_reaches_a_run_nor_a_visit(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    remote_firm, site_firm = world.enterprises[1], world.enterprises[2]
    remote = _plan(client, world, remote_firm, remote=True)
    on_site = _plan(client, world, site_firm)
    with session_scope(engine, actor="test") as s:
        request = RunRequest(
            date(2026, 7, 1), date(2026, 9, 30), time_limit=2, workers=1, deterministic=True
        )
        run_id = int(
            create_run(s, SUPERVISOR, request, today=EVE, max_time_limit=60, max_workers=2).id or 0
        )
        built = build_instance(s, RunRepository(s).get_or_raise(run_id))
    ids = {str(i.id) for i in built.instance.inspections}
    assert any(str(on_site["id"]) in i for i in ids)
    assert not any(str(remote["id"]) in i for i in ids)
    assert remote["id"] not in built.versions
    execute_run(engine, run_id)
    with session_scope(engine, actor="test") as s:
        publish_run(s, run_id, today=EVE)
    with session_scope(engine) as s:
        plans = PlanRepository(s).by_ids([remote["id"], on_site["id"]])
        visits = VisitRepository(s).page(after=None, limit=100)
        outcomes = {o.plan_id for o in RunRepository(s).plans(run_id)}
    assert plans[on_site["id"]].status == PlanStatus.PUBLISHED
    assert (plans[remote["id"]].status, plans[remote["id"]].visit_id) == (
        PlanStatus.SUBMITTED,
        None,
    )
    assert {v.enterprise_id for v in visits} == {site_firm}
    assert remote["id"] not in outcomes


def test_the_audit_counts_remote_checks_apart_from_visits(
    client: TestClient, engine: Engine, world: Seeded, clock: Clock
) -> None:
    agency, county = AGENCIES["A"][0], AGENCIES["A"][2]
    ent = world.enterprises[1]  # in the agency's county
    planned = _plan(client, world, ent, remote=True, earliest="2026-07-21", latest="2026-08-05")
    cancelled = _plan(client, world, ent, remote=True)
    client.post(f"/api/v1/plans/{cancelled['id']}/cancel", headers=world.auth("A"))
    clock.now = datetime(2026, 7, 25, 2, 0, tzinfo=UTC)
    done = {"outcome": CheckOutcome.NO_PROBLEM, "day": "2026-07-24"}
    r = client.post(f"/api/v1/plans/{planned['id']}/result", json=done, headers=world.auth("A"))
    assert r.status_code == 201, r.text

    def figures(dim: str, period: str) -> list[tuple[str, int, int, int, int]]:
        with session_scope(engine) as s:
            rows = frequency_page(s, dim=dim, period=period, limit=500).rows  # type: ignore[arg-type]
        return [
            (r.subject, r.planned_remote, r.actual_remote, r.planned_visits, r.actual_visits)
            for r in rows
            if r.planned_remote or r.actual_remote or r.planned_visits or r.actual_visits
        ]

    # Planned by the month the window ends (August), done by the result's day (July).
    assert figures("agency", "2026-07") == [(agency, 0, 1, 0, 0)]
    assert figures("agency", "2026-08") == [(agency, 1, 0, 0, 0)]
    assert figures("county", "2026-Q3") == [(county, 1, 1, 0, 0)]
    assert figures("enterprise", "2026") == [(ent, 1, 1, 0, 0)]
    exported = client.get(
        "/api/v1/audit/frequency?by=city&period=2026", headers=world.auth()
    ).json()["items"]
    assert [(r["planned_remote"], r["actual_remote"], r["actual_visits"]) for r in exported] == [
        (1, 1, 0)
    ]


def test_a_published_plan_made_remote_leaves_its_visit_for_good(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    ids = published(client, world)
    before = client.get(f"/api/v1/plans/{ids['alone']}", headers=world.auth("A")).json()
    assert before["visit_id"] is not None
    r = client.patch(
        f"/api/v1/plans/{ids['alone']}", json={"remote": True}, headers=world.auth("A")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["remote"], r.json()["status"], r.json()["visit_id"]) == (
        True,
        "submitted",
        None,
    )
    with session_scope(engine) as s:
        assert VisitRepository(s).get_or_raise(before["visit_id"]).status == "cancelled"
        rows = frequency_page(s, dim="agency", period="2026-07", limit=500).rows
    mine = next(x for x in rows if x.subject == AGENCIES["A"][0])
    assert (mine.planned_remote, mine.planned_visits) == (1, 2)
