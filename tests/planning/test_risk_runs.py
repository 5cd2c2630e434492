"""Credit-risk classes in runs: an enterprise's caps are its class's, overridden by its own; a
generated province loaded with its classes, the policy applied to its plans."""

from __future__ import annotations

from datetime import date

from quietday.generate import GeneratorConfig, generate, registry
from quietday.persistence import Engine, session_scope
from quietday.persistence.plans import PlanFilter, PlanRepository
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.runs import RunRepository
from quietday.planning.frequency import frequency_page
from quietday.planning.keys import Actor
from quietday.planning.plans import PlanInput, create_plans
from quietday.planning.province import load_province
from quietday.planning.registry import update_enterprise
from quietday.planning.runs import RunRequest, build_instance, create_run, execute_run
from seed import AGENCIES, Seeded

HORIZON = (date(2026, 7, 1), date(2026, 12, 31))
EVE = date(2026, 6, 30)
# Two routine plans of one agency per enterprise, in windows no visit can join (quiet days are
# the 1st to the 20th of each month).
WINDOWS = ((date(2026, 7, 21), date(2026, 7, 31)), (date(2026, 9, 21), date(2026, 9, 30)))


def test_a_class_a_enterprise_gets_one_inspection_per_agency_a_year_while_the_default_is_two(
    engine: Engine, world: Seeded
) -> None:
    a_firm, b_firm, own_firm = world.enterprises[:3]
    agency = Actor(key_id=1, role="agency", agency_id=AGENCIES["A"][0])
    supervisor = Actor(key_id=1, role="supervisor", agency_id=None)
    with session_scope(engine, actor="test") as s:
        update_enterprise(s, a_firm, {"risk_class": "A", "risk_classified_on": date(2026, 6, 1)})
        update_enterprise(s, b_firm, {"risk_class": "B"})
        update_enterprise(
            s, own_firm, {"risk_class": "A", "cap_overrides": {"agency_enterprise_per_year": 2}}
        )
    with session_scope(engine, actor=agency.name) as s:
        made = create_plans(
            s,
            agency,
            [
                PlanInput(enterprise_id=e, kind="routine", earliest=first, latest=last)
                for e in (a_firm, b_firm, own_firm)
                for first, last in WINDOWS
            ],
            today=EVE,
        )
        plan_of = {int(row.id or 0): row.enterprise_id for row, _ in made}
        request = RunRequest(*HORIZON, time_limit=2, workers=1, deterministic=True)
        run_id = int(
            create_run(s, supervisor, request, today=EVE, max_time_limit=60, max_workers=2).id or 0
        )
        built = build_instance(s, RunRepository(s).get_or_raise(run_id)).instance
    assert built.caps.agency_enterprise_per_year == 2
    assert built.enterprises[a_firm].cap_overrides == {"agency_enterprise_per_year": 1}
    assert built.enterprises[b_firm].cap_overrides == {"agency_enterprise_per_year": 2}
    assert built.enterprises[own_firm].cap_overrides == {"agency_enterprise_per_year": 2}
    execute_run(engine, run_id)
    with session_scope(engine) as s:
        plans = PlanRepository(s).by_ids(plan_of).values()
        placed = {
            e: sum(1 for p in plans if p.enterprise_id == e and p.draft_date)
            for e in plan_of.values()
        }
        reasons = {p.reason for p in plans if p.enterprise_id == a_firm and not p.draft_date}
    assert placed == {a_firm: 1, b_firm: 2, own_firm: 2}
    assert reasons == {"cap"}


def test_the_province_loader_gives_generated_firms_their_classes_and_applies_the_policy(
    engine: Engine,
) -> None:
    config = GeneratorConfig(enterprises=300, seed=5, counties=2)
    province, profiles = generate(config), registry(config)
    with session_scope(engine, actor="test") as s:
        load_province(s, province, profiles=profiles)
    with session_scope(engine) as s:
        rows = {e.id: e for e in EnterpriseRepository(s).by_ids(province.enterprises)}
        remote = PlanRepository(s).page(PlanFilter(remote=True), after=None, limit=10**6)
        county = frequency_page(s, dim="county", period="2026-Q3", limit=500).rows
    assert {e: (r.risk_class, r.industry) for e, r in rows.items()} == {
        e: (p.risk, p.sector) for e, p in profiles.profiles.items()
    }
    assert {r.risk_classified_on for r in rows.values()} == {date(2026, 7, 1)}
    low = {e for e, r in rows.items() if r.low_risk}
    class_a = {e for e, r in rows.items() if r.risk_class == "A"}
    assert low <= class_a
    assert {e for e in class_a if province.enterprises[e].whitelisted} <= low
    assert 0 < len(low) < len(class_a)
    assert remote
    assert {(p.kind, p.enterprise_id in low) for p in remote} == {("routine", True)}
    routine_of_low = [
        i for i in province.inspections if i.kind.value == "routine" and i.enterprise in low
    ]
    assert len(remote) == len(routine_of_low)
    assert sum(r.planned_remote for r in county) == len(remote)
    assert sum(r.planned_visits for r in county) == 0
