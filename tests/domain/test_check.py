"""The checker catches every kind of broken solution, each with its own code."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from helpers import doc, insp, load
from quietday.domain import (
    Instance,
    Reason,
    Solution,
    Unscheduled,
    Visit,
    find_violations,
    measure,
    visits_from,
)


def instance(**changes: Any) -> Instance:
    base: dict[str, Any] = {
        "inspections": [
            insp("P-1"),
            insp("P-2", agency="B"),
            insp("P-3", enterprise="E2"),
            insp("P-4", enterprise="E2", agency="B", kind="case", exempt_reason="投诉举报"),
        ]
    }
    base.update(changes)
    return load(doc(**base))


def with_dates(inst: Instance, dates: dict[str, str]) -> Solution:
    assignment = {k: date.fromisoformat(v) for k, v in dates.items()}
    missing = [i.id for i in inst.inspections if i.id not in assignment]
    return Solution(
        inst.name,
        visits_from(inst, assignment),  # type: ignore[arg-type]
        tuple(Unscheduled(i, Reason.CAPACITY, "") for i in missing),
    )


GOOD = {"P-1": "2026-07-21", "P-2": "2026-07-21", "P-3": "2026-07-22", "P-4": "2026-07-22"}


def codes(inst: Instance, sol: Solution) -> list[str]:
    return sorted({v.code for v in find_violations(inst, sol)})


def test_a_valid_solution_has_no_violation() -> None:
    inst = instance()
    sol = with_dates(inst, GOOD)
    assert find_violations(inst, sol) == []
    m = measure(inst, sol)
    assert (m.scheduled, m.visits, m.joint_visits, m.total_priority) == (4, 2, 2, 4)


@pytest.mark.parametrize(
    ("changes", "dates", "code"),
    [
        ({}, {"P-1": "2026-06-30"}, "outside_horizon"),
        ({}, {"P-1": "2026-08-21"}, "outside_window"),
        ({}, {"P-1": "2026-07-25"}, "not_working_day"),
        ({}, {"P-1": "2026-07-10"}, "quiet_day"),
        (
            {"caps": {"agency_enterprise_per_year": 1}},
            {"P-1": "2026-07-21", "P-2": "2026-07-21"},
            None,
        ),
        ({"caps": {"enterprise_per_month": 1}}, {"P-2": "2026-07-23"}, "cap_enterprise_month"),
        ({"caps": {"enterprise_per_year": 1}}, {"P-2": "2026-07-23"}, "cap_enterprise_year"),
        ({"caps": {"min_gap_days": 5}}, {"P-2": "2026-07-23"}, "min_gap"),
    ],
)
def test_placement_rules(changes: dict[str, Any], dates: dict[str, str], code: str | None) -> None:
    inst = instance(**changes)
    sol = with_dates(inst, {**GOOD, **dates})
    assert codes(inst, sol) == ([code] if code else [])


def test_exempt_reason_allows_quiet_days() -> None:
    inst = instance()
    assert codes(inst, with_dates(inst, {**GOOD, "P-4": "2026-07-10"})) == []


def test_agency_year_cap_counts_history_and_distinct_dates() -> None:
    hist = [{"enterprise": "E1", "agency": "A", "date": "2026-03-24", "kind": "routine"}]
    inst = instance(caps={"agency_enterprise_per_year": 1}, history=hist)
    (v,) = find_violations(inst, with_dates(inst, GOOD))
    assert v.code == "cap_agency_enterprise_year"
    assert "2026-03-24(历史)" in v.message
    assert v.inspections == ("P-1",)


def test_history_alone_over_a_cap_is_not_the_schedules_fault() -> None:
    hist = [
        {"enterprise": "E1", "agency": "A", "date": "2026-03-24", "kind": "routine"},
        {"enterprise": "E1", "agency": "A", "date": "2026-04-24", "kind": "routine"},
    ]
    inst = instance(caps={"agency_enterprise_per_year": 1}, history=hist)
    assert codes(inst, with_dates(inst, {"P-2": "2026-07-21", "P-3": "2026-07-22"})) == []


def test_whitelist_and_capacity() -> None:
    d = doc(inspections=[insp("P-1"), insp("P-2", enterprise="E2")])
    d["enterprises"][0]["whitelisted"] = True
    d["agencies"][0]["daily_capacity"] = 1
    inst = load(d)
    assert codes(inst, with_dates(inst, {"P-1": "2026-07-21", "P-2": "2026-07-21"})) == [
        "capacity",
        "whitelisted",
    ]


def test_structure_every_inspection_exactly_once() -> None:
    inst = instance()
    good = with_dates(inst, GOOD)
    doubled = Solution(inst.name, good.visits, (Unscheduled("P-1", Reason.CAP, ""),))  # type: ignore[arg-type]
    assert "duplicate_inspection" in codes(inst, doubled)
    missing = Solution(inst.name, good.visits[:1], ())
    assert codes(inst, missing) == ["missing_inspection"]
    ghost = Solution(inst.name, good.visits, (Unscheduled("P-9", Reason.CAP, ""),))  # type: ignore[arg-type]
    assert codes(inst, ghost) == ["unknown_inspection"]


def test_structure_visits_are_doors() -> None:
    inst = instance()
    day = date(2026, 7, 21)
    split = Solution(
        inst.name,
        (
            Visit("E1", day, ("P-1",), "A"),  # type: ignore[arg-type]
            Visit("E1", day, ("P-2",), "B"),  # type: ignore[arg-type]
            Visit("E1", date(2026, 7, 22), ("P-3", "P-4"), "B"),  # type: ignore[arg-type]
            Visit("E2", date(2026, 7, 23), (), "A"),  # type: ignore[arg-type]
        ),
        (),
    )
    assert codes(inst, split) == ["empty_visit", "visit_duplicate", "visit_enterprise_mismatch"]
    wrong_lead = Solution(inst.name, (Visit("E1", day, ("P-1", "P-2"), "X"),), ())  # type: ignore[arg-type]
    assert "lead_agency_invalid" in codes(inst, wrong_lead)


def test_pins_must_keep_their_date() -> None:
    inst = instance(pinned=[{"inspection": "P-1", "date": "2026-07-21"}])
    assert codes(inst, with_dates(inst, {**GOOD, "P-1": "2026-07-22", "P-2": "2026-07-22"})) == [
        "pin_moved"
    ]
    assert codes(inst, with_dates(inst, {k: v for k, v in GOOD.items() if k != "P-1"})) == [
        "pin_moved"
    ]


def test_moved_counts_previous_inspections_whose_date_changed() -> None:
    inst = instance(previous={"P-1": "2026-07-21", "P-3": "2026-07-23", "GONE": "2026-07-21"})
    m = measure(inst, with_dates(inst, {k: v for k, v in GOOD.items() if k != "P-2"}))
    assert m.moved == 1


def test_history_counts_only_with_the_dates_the_schedule_adds() -> None:
    """E2's history overfills July on its own: no breach while the schedule leaves E2 alone,
    one as soon as it adds a July date there; E1's dates are judged with E1's history only."""
    caps = {"enterprise_per_month": 1, "agency_enterprise_per_year": 1, "min_gap_days": 3}
    history = [
        {"enterprise": "E2", "agency": "A", "date": day, "kind": "routine"}
        for day in ("2026-07-01", "2026-07-02")
    ]
    inst = instance(
        caps=caps, history=history, inspections=[insp("P-1"), insp("P-3", enterprise="E2")]
    )
    alone = with_dates(inst, {"P-1": "2026-07-21"})
    assert find_violations(inst, alone) == []
    codes = {v.code for v in find_violations(inst, with_dates(inst, {"P-3": "2026-07-21"}))}
    assert codes == {"cap_enterprise_month", "cap_agency_enterprise_year"}
