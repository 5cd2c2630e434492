"""Random small instances: every answer passes the checker, CP-SAT never does worse than the
greedy, and where CP-SAT says optimal it matches a brute-force enumeration."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import doc, insp, load
from quietday.domain import find_violations, measure, placement_violations
from quietday.domain.model import Instance
from quietday.formats import dump_solution
from quietday.solver import SolverConfig, solve
from quietday.solver.prepare import prepare

JULY_OPEN = [date(2026, 7, d) for d in (21, 22, 23, 24, 27, 28, 29, 30, 31)]


@st.composite
def instances(draw: st.DrawFn, max_inspections: int = 8) -> dict[str, Any]:
    n_ent = draw(st.integers(1, 3))
    ents = [
        {
            "id": f"E{k}",
            "name": f"企业{k}",
            "region": "360102",
            "quiet_policy": draw(st.sampled_from(["jx-1-20", "none"])),
            "blackout": [
                d.isoformat() for d in draw(st.lists(st.sampled_from(JULY_OPEN), max_size=2))
            ],
            "whitelisted": draw(st.booleans()) and draw(st.booleans()),
            "caps": draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "min_gap_days": st.integers(0, 4),
                        "agency_enterprise_per_year": st.none() | st.integers(1, 2),
                    },
                )
            ),
        }
        for k in range(n_ent)
    ]
    items = []
    for k in range(draw(st.integers(1, max_inspections))):
        start = draw(st.integers(0, 25))
        length = draw(st.integers(0, 8))
        kind = draw(st.sampled_from(["routine", "routine", "special", "case", "requested"]))
        items.append(
            insp(
                f"P-{k}",
                agency=draw(st.sampled_from(["A", "B"])),
                enterprise=f"E{draw(st.integers(0, n_ent - 1))}",
                kind=kind,
                earliest=(date(2026, 7, 10) + timedelta(days=start)).isoformat(),
                latest=(date(2026, 7, 10) + timedelta(days=start + length)).isoformat(),
                priority=draw(st.integers(1, 5)),
                exempt_reason="投诉举报" if kind == "case" and draw(st.booleans()) else None,
            )
        )
    d = doc(
        horizon={"start": "2026-07-01", "end": "2026-08-10"},
        enterprises=ents,
        inspections=items,
        caps={
            "enterprise_per_month": draw(st.none() | st.integers(1, 2)),
            "agency_enterprise_per_year": draw(st.none() | st.integers(1, 3)),
        },
        history=[
            {
                "enterprise": f"E{draw(st.integers(0, n_ent - 1))}",
                "agency": "A",
                "date": "2026-03-24",
                "kind": "routine",
            }
            for _ in range(draw(st.integers(0, 1)))
        ],
        previous={
            it["id"]: draw(st.sampled_from(JULY_OPEN)).isoformat()
            for it in items
            if draw(st.booleans())
        },
    )
    for agency in d["agencies"]:
        agency["daily_capacity"] = draw(st.integers(1, 2))
    return d


def key(inst: Instance, solution: Any) -> tuple[int, int, int]:
    m = measure(inst, solution)
    return (m.total_priority, -m.visits, -m.moved)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances())
def test_every_answer_passes_the_checker(d: dict[str, Any]) -> None:
    inst = load(d)
    greedy = solve(inst, SolverConfig(method="greedy"))
    cpsat = solve(inst, SolverConfig(time_limit=5, deterministic=True, workers=1))
    for result in (greedy, cpsat):
        assert find_violations(inst, result.solution) == []
        listed = [i for v in result.solution.visits for i in v.inspections]
        listed += [u.inspection for u in result.solution.unscheduled]
        assert sorted(listed) == sorted(i.id for i in inst.inspections)
        assert result.visits_lower_bound <= result.metrics.visits
    assert key(inst, cpsat.solution) >= key(inst, greedy.solution)


def brute_force_best(inst: Instance) -> tuple[int, int, int]:
    prepared = prepare(inst)
    free = list(prepared.free)
    choices = [[None, *prepared.candidates[i.id]] for i in free]
    best: tuple[int, int, int] | None = None
    for combo in itertools.product(*choices):
        assignment = dict(prepared.pinned)
        assignment.update({i.id: d for i, d in zip(free, combo, strict=True) if d is not None})
        if placement_violations(inst, assignment):
            continue
        doors = {(inst.by_id[i].enterprise, d) for i, d in assignment.items()}
        moved = sum(
            1 for i, d in inst.previous.items() if i in inst.by_id and assignment.get(i) != d
        )
        k = (sum(inst.by_id[i].priority for i in assignment), -len(doors), -moved)
        best = k if best is None or k > best else best
    assert best is not None
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_inspections=4))
def test_optimal_means_optimal(d: dict[str, Any]) -> None:
    inst = load(d)
    prepared = prepare(inst)
    size = 1
    for i in prepared.free:
        size *= len(prepared.candidates[i.id]) + 1
    assume(size <= 20_000)
    result = solve(inst, SolverConfig(time_limit=5, deterministic=True, workers=1))
    assert result.status.value == "optimal"
    assert result.solution.stats is not None
    assert result.solution.stats.extra["objective_gap"] == 0
    assert key(inst, result.solution) == brute_force_best(inst)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_deterministic_mode_gives_the_same_bytes(d: dict[str, Any]) -> None:
    inst = load(d)
    config = SolverConfig(time_limit=3, deterministic=True, workers=2, seed=7)
    first = dump_solution(solve(inst, config).solution)
    assert dump_solution(solve(load(d), config).solution) == first
