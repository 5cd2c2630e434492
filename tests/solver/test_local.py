"""The local search's relieve move on days an agency has filled (capacity 1 here): an occupant
moved aside onto another of its visit days, an occupant of lower priority dropped; and a day
relieve remembers as stuck (neither worked) tried again once a move changes it, and still
given to what outranks its cheapest occupant; and a polish cut short at once still places
what fits (the finishing pass)."""

from __future__ import annotations

from datetime import date
from typing import Any

from helpers import doc, insp, load
from quietday.domain.model import InspectionId
from quietday.solver.local import Schedule, polish, relieve
from quietday.solver.prepare import prepare

D1, D2 = "2026-07-21", "2026-07-22"


def _agencies() -> list[dict[str, Any]]:
    return [
        {"id": "A", "name": "东湖区市场监督管理局", "region": "360102", "daily_capacity": 1},
        {"id": "B", "name": "东湖区消防救援大队", "region": "360102", "daily_capacity": 1},
    ]


def _enterprises(n: int) -> list[dict[str, Any]]:
    policy = {"region": "360102", "quiet_policy": "jx-1-20"}
    return [{"id": f"E{k}", "name": f"江西{k}号实业有限公司", **policy} for k in range(1, n + 1)]


def _on(day: str, **kw: Any) -> dict[str, Any]:
    return {"earliest": day, "latest": day, **kw}


def _relieved(
    inspections: list[dict[str, Any]], placed: dict[str, str], waiting: list[str]
) -> tuple[int, dict[InspectionId, date]]:
    inst = load(doc(agencies=_agencies(), enterprises=_enterprises(4), inspections=inspections))
    prepared = prepare(inst)
    s = Schedule(prepared, {InspectionId(i): date.fromisoformat(d) for i, d in placed.items()})
    n = relieve(s, [inst.by_id[InspectionId(i)] for i in waiting])
    return n, s.at


def _days(at: dict[InspectionId, date]) -> dict[str, str]:
    return {str(i): d.isoformat() for i, d in sorted(at.items())}


def test_an_occupant_with_another_visit_day_moves_aside() -> None:
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=9),
            insp("b1", agency="B", enterprise="E1", **_on(D2)),
            insp("w", enterprise="E2", **_on(D1)),
        ],
        {"a1": D1, "b1": D2},
        ["w"],
    )
    assert n == 1
    assert _days(at) == {"a1": D2, "b1": D2, "w": D1}


def test_an_occupant_of_lower_priority_is_dropped_and_a_higher_one_kept() -> None:
    w = insp("w", enterprise="E2", priority=3, **_on(D1))
    low = _relieved([insp("a1", enterprise="E1", priority=2), w], {"a1": D1}, ["w"])
    assert (low[0], _days(low[1])) == (1, {"w": D1})
    high = _relieved([insp("a1", enterprise="E1", priority=3), w], {"a1": D1}, ["w"])
    assert (high[0], _days(high[1])) == (0, {"a1": D1})


def test_a_stuck_day_is_tried_again_once_a_move_gives_its_occupant_another_day() -> None:
    # A's D1 is E1's a1, which cannot go aside (E1 has no other visit day) nor be dropped for
    # w1. Relieving w2 drops E3's b3 from B's D2 and so gives E1 a visit on D2: now a1 can go
    # there, and w3 (waiting for A's D1 too, after w1) takes its place.
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=10),
            insp("b3", agency="B", enterprise="E3", priority=1, **_on(D2)),
            insp("w1", enterprise="E2", priority=9, **_on(D1)),
            insp("w2", agency="B", enterprise="E1", priority=8, **_on(D2)),
            insp("w3", enterprise="E4", priority=7, **_on(D1)),
        ],
        {"a1": D1, "b3": D2},
        ["w1", "w2", "w3"],
    )
    assert n == 2
    assert _days(at) == {"a1": D2, "w2": D2, "w3": D1}


def test_a_stuck_day_still_goes_to_what_outranks_its_cheapest_occupant() -> None:
    # w1 finds A's D1 stuck (a1 cannot go aside, and outranks it); w2, after it, outranks a1.
    n, at = _relieved(
        [
            insp("a1", enterprise="E1", priority=5),
            insp("w1", enterprise="E2", priority=4, **_on(D1)),
            insp("w2", enterprise="E3", priority=6, **_on(D1)),
        ],
        {"a1": D1},
        ["w1", "w2"],
    )
    assert (n, _days(at)) == (1, {"w2": D1})


def test_a_polish_stopped_at_once_still_places_what_fits() -> None:
    inst = load(
        doc(
            agencies=_agencies(),
            enterprises=_enterprises(2),
            inspections=[
                insp("a1", enterprise="E1", **_on(D1)),
                insp("b1", agency="B", enterprise="E1"),
                insp("a2", enterprise="E2", **_on(D1)),
            ],
        )
    )
    placed, _ = polish(
        prepare(inst), {InspectionId("a1"): date.fromisoformat(D1)}, should_stop=lambda: True
    )
    assert _days(placed) == {"a1": D1, "b1": D1}
