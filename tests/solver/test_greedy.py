"""The greedy opens a door where its enterprise's waiting inspections can join it, and they join
at once, before another enterprise fills their agency's day (capacity 1 here)."""

from __future__ import annotations

from typing import Any

from helpers import doc, insp, load
from quietday.domain.check import measure_assignment
from quietday.solver.greedy import greedy
from quietday.solver.prepare import prepare


def _schedule(inspections: list[dict[str, Any]]) -> dict[str, str]:
    agencies = [
        {"id": a, "name": f"东湖区{a}局", "region": "360102", "daily_capacity": 1} for a in "AB"
    ]
    policy = {"region": "360102", "quiet_policy": "jx-1-20"}
    enterprises = [{"id": f"E{k}", "name": f"江西{k}号实业有限公司", **policy} for k in (1, 2, 3)]
    inst = load(doc(agencies=agencies, enterprises=enterprises, inspections=inspections))
    at = greedy(prepare(inst))
    assert measure_assignment(inst, at).scheduled == len(inspections)
    return {str(i): d.isoformat() for i, d in at.items()}


def test_a_waiting_inspection_joins_the_door_before_another_enterprise_takes_its_day() -> None:
    # By window end a1 comes first, then E2's b2, which alone would take B's 07-24.
    at = _schedule(
        [
            insp("a1", agency="A", earliest="2026-07-21", latest="2026-07-24", priority=2),
            insp("b2", agency="B", enterprise="E2", earliest="2026-07-21", latest="2026-07-24"),
            insp("b1", agency="B", earliest="2026-07-21", latest="2026-07-31"),
        ]
    )
    assert at["a1"] == at["b1"] == "2026-07-24"
    assert at["b2"] == "2026-07-23"


def test_the_door_opens_where_the_waiting_inspections_fit_not_on_the_latest_day() -> None:
    # E3's b3 (same window end, higher priority) takes B's 07-24 first; on 07-24 b1 could not
    # join a1, on 07-23 it can.
    at = _schedule(
        [
            insp(
                "b3",
                agency="B",
                enterprise="E3",
                earliest="2026-07-24",
                latest="2026-07-24",
                priority=3,
            ),
            insp("a1", agency="A", earliest="2026-07-21", latest="2026-07-24", priority=2),
            insp("b1", agency="B", earliest="2026-07-21", latest="2026-07-31"),
        ]
    )
    assert at == {"b3": "2026-07-24", "a1": "2026-07-23", "b1": "2026-07-23"}


def test_equal_candidate_days_are_held_once() -> None:
    """A province's unit has a few thousand distinct candidate days among hundreds of
    thousands of inspections: equal ones are one tuple and one set, which the greedy and the
    local search share."""
    history = [{"enterprise": "E2", "agency": "A", "date": "2026-07-22", "kind": "routine"}]
    inst = load(
        doc(
            inspections=[insp(f"P{k}", enterprise=f"E{1 + k % 2}") for k in range(6)],
            history=history,
            caps={"min_gap_days": 3},
        )
    )
    prepared = prepare(inst)
    by_enterprise: dict[str, list[Any]] = {"E1": [], "E2": []}
    for i in inst.inspections:
        by_enterprise[i.enterprise].append(prepared.candidates[i.id])
    e1, e2 = by_enterprise["E1"], by_enterprise["E2"]
    assert e1[0] != e2[0]  # E2's history closes days
    assert all(c is e1[0] for c in e1)
    assert all(c is e2[0] for c in e2)
    sets = prepared.candidate_sets
    assert sets["P0"] == frozenset(e1[0])
    assert sets["P0"] is sets["P2"]
    assert sets["P1"] is sets["P3"]
