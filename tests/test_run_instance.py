"""The instance a run builds from the database is the one it stores: a worker that solves the
built instance and one that retries on the stored text (parsed back) solve the same problem."""

from __future__ import annotations

from datetime import date

from quietday.formats import dump_instance, parse_instance
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import Engine, session_scope
from quietday.persistence.repositories import RunRepository
from quietday.planning.access import Actor, create_key
from quietday.planning.province import load_province
from quietday.planning.registry import set_agency_capacity, update_enterprise
from quietday.planning.runs import (
    RunRequest,
    build_instance,
    create_run,
    execute_run,
    publish_run,
)

HORIZON = (date(2026, 7, 1), date(2026, 9, 30))


def _run(engine: Engine, actor: Actor, scope: str | None) -> int:
    with session_scope(engine, actor="test") as s:
        request = RunRequest(*HORIZON, scope=scope, time_limit=2, workers=1, deterministic=True)
        run_id = int(create_run(s, actor, request, max_time_limit=60, max_workers=2).id or 0)
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
        publish_run(s, published)
    _run(engine, actor, scope=None)
    with session_scope(engine, actor="test") as s:
        request = RunRequest(*HORIZON, time_limit=2, workers=1, deterministic=True)
        run = create_run(s, actor, request, max_time_limit=60, max_workers=2)
        built, versions = build_instance(s, RunRepository(s).get_or_raise(run.id))
    assert built.pinned
    assert built.previous
    assert built.history
    assert len(versions) == len(built.inspections) > 0
    assert built.enterprises[first.id].blackout == {date(2026, 8, 3)}
    again = parse_instance(dump_instance(built))
    assert again == built
    for mapping in ("quiet_policies", "agencies", "enterprises", "previous"):
        assert list(getattr(again, mapping).items()) == list(getattr(built, mapping).items())
