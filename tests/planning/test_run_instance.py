"""What a run reads and writes in bulk. The instance it builds from the database is the one it
stores: a worker that solves the built instance and one that retries on the stored text (parsed
back) solve the same problem. Its outcomes become drafts only of plans still as it saw them.
Its row loads without those documents, which load when read."""

from __future__ import annotations

import gzip
from datetime import date

import sqlalchemy as sa

from quietday.formats import dump_instance, parse_instance
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, session_scope
from quietday.persistence.plans import PlanRepository
from quietday.persistence.runs import PlanOutcome, RunRepository
from quietday.planning.keys import Actor, create_key
from quietday.planning.plans import PlanInput, create_plans
from quietday.planning.province import load_province
from quietday.planning.registry import set_agency_capacity, update_enterprise
from quietday.planning.runs import (
    RunRequest,
    build_instance,
    create_run,
    execute_run,
    publish_run,
)
from seed import AGENCIES, Seeded

HORIZON = (date(2026, 7, 1), date(2026, 9, 30))
EVE = date(2026, 6, 30)  # the day the tests plan on


def _run(engine: Engine, actor: Actor, scope: str | None) -> int:
    with session_scope(engine, actor="test") as s:
        request = RunRequest(*HORIZON, scope=scope, time_limit=2, workers=1, deterministic=True)
        run_id = int(
            create_run(s, actor, request, today=EVE, max_time_limit=60, max_workers=2).id or 0
        )
    execute_run(engine, run_id)
    return run_id


def test_the_built_instance_parses_back_from_its_stored_text(engine: Engine) -> None:
    province = generate(GeneratorConfig(enterprises=300, seed=5, counties=2))
    with session_scope(engine, actor="test") as s:
        load_province(s, province)
        key, _ = create_key(s, role="supervisor")
        first = province.enterprises[province.inspections[0].enterprise]
        update_enterprise(s, first.id, {"blackout": [date(2026, 8, 3)],
                                        "cap_overrides": {"enterprise_per_month": 1}})  # fmt: skip
        set_agency_capacity(s, next(iter(province.agencies)), date(2026, 8, 4), 0)
    actor = Actor(key_id=int(key.id or 0), role="supervisor", agency_id=None)
    # One county's schedule published (pins), then the province's left as drafts (previous).
    published = _run(engine, actor, scope=first.region)
    with session_scope(engine, actor="test") as s:
        publish_run(s, published, today=EVE)
    _run(engine, actor, scope=None)
    with session_scope(engine, actor="test") as s:
        request = RunRequest(*HORIZON, time_limit=2, workers=1, deterministic=True)
        run = create_run(s, actor, request, today=EVE, max_time_limit=60, max_workers=2)
        built, versions, provisional, freed = build_instance(
            s, RunRepository(s).get_or_raise(run.id)
        )
    assert (provisional, freed) == ([], [])
    assert built.pinned
    assert built.previous
    assert built.history
    assert len(versions) == len(built.inspections) > 0
    assert built.enterprises[first.id].blackout == {date(2026, 8, 3)}
    again = parse_instance(dump_instance(built))
    assert again == built
    for mapping in ("quiet_policies", "agencies", "enterprises", "previous"):
        assert list(getattr(again, mapping).items()) == list(getattr(built, mapping).items())


def test_outcomes_become_drafts_of_the_plans_still_at_the_version_the_run_saw(
    engine: Engine, world: Seeded
) -> None:
    agency = Actor(key_id=1, role="agency", agency_id=AGENCIES["A"][0])
    supervisor = Actor(key_id=1, role="supervisor", agency_id=None)
    with session_scope(engine, actor=agency.name) as s:
        made = create_plans(s, agency, [
            PlanInput(enterprise_id=e, kind="routine", earliest=HORIZON[0], latest=HORIZON[1])
            for e in world.enterprises[:4]
        ], today=HORIZON[0])  # fmt: skip
        ids = [int(row.id or 0) for row, _ in made]
        request = RunRequest(*HORIZON, time_limit=2, workers=1, deterministic=True)
        run_id = int(
            create_run(s, supervisor, request, today=EVE, max_time_limit=60, max_workers=2).id or 0
        )
        RunRepository(s).add_plans(run_id, dict.fromkeys(ids, 1))
    with session_scope(engine, actor=agency.name) as s:
        rows = PlanRepository(s).by_ids(ids)
        rows[ids[1]].version = 2  # changed while the run solved
        rows[ids[2]].status = "published"
        s.add_all([rows[ids[1]], rows[ids[2]]])
    outcomes = [
        PlanOutcome(ids[0], 1, date(2026, 7, 21), None, None),
        PlanOutcome(ids[1], 1, date(2026, 7, 22), None, None),
        PlanOutcome(ids[2], 1, date(2026, 7, 23), None, None),
        PlanOutcome(ids[3], 1, None, "capacity", "机构当日检查能力已满"),
    ]
    with session_scope(engine, actor="test") as s:
        RunRepository(s).store_outcomes(run_id, outcomes)
    with session_scope(engine) as s:
        stored = [
            PlanOutcome(r.plan_id, r.version, r.day, r.reason, r.detail)
            for r in RunRepository(s).plans(run_id)
        ]
        drafts = {
            pid: (row.draft_run_id, row.draft_date, row.reason, row.detail)
            for pid, row in PlanRepository(s).by_ids(ids).items()
        }
    assert stored == outcomes
    assert drafts == {
        ids[0]: (run_id, date(2026, 7, 21), None, None),
        ids[1]: (None, None, None, None),
        ids[2]: (None, None, None, None),
        ids[3]: (run_id, None, "capacity", "机构当日检查能力已满"),
    }


def test_a_run_row_loads_without_its_documents_until_they_are_read(engine: Engine) -> None:
    province = generate(GeneratorConfig(enterprises=60, seed=7, counties=1))
    with session_scope(engine, actor="test") as s:
        load_province(s, province)
        key, _ = create_key(s, role="supervisor")
    actor = Actor(key_id=int(key.id or 0), role="supervisor", agency_id=None)
    run_id = _run(engine, actor, scope=None)
    with session_scope(engine) as s:
        runs = RunRepository(s)
        rows = [runs.get_or_raise(run_id), runs.lock(run_id), *runs.list(limit=5, after=None)]
        assert all(sa.inspect(r).unloaded >= {"instance_gz", "solution_gz"} for r in rows)
        assert runs.cancel_requested(run_id) is False
        row = rows[0]
        assert row.status == "succeeded"
        assert parse_instance(gzip.decompress(row.instance_gz or b"")).inspections
        assert "instance_gz" not in sa.inspect(row).unloaded
    with session_scope(engine) as s:
        assert RunRepository(s).cancel_requested(run_id + 1) is None
