"""Each hard rule on a tiny instance, feasible and infeasible, by both methods; the checker
decides, and the reason given for what is left out names the rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from helpers import assignment_of, doc, insp, reasons_of, solve_doc

METHODS = ["greedy", "cpsat"]


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ent(eid: str, policy: str = "jx-1-20", **extra: Any) -> dict[str, Any]:
    return {"id": eid, "name": f"企业{eid}", "region": "360102", "quiet_policy": policy, **extra}


def test_window_all_quiet_days_is_no_allowed_day(method: str) -> None:
    r = solve_doc(
        doc(inspections=[insp("P-1", earliest="2026-07-01", latest="2026-07-20")]), method
    )
    assert reasons_of(r) == {"P-1": "no_allowed_day"}
    assert "全部为企业安静日" in r.solution.unscheduled[0].detail
    assert "每月1-20日" in r.solution.unscheduled[0].detail


def test_window_with_open_days_is_scheduled_on_one(method: str) -> None:
    r = solve_doc(
        doc(inspections=[insp("P-1", earliest="2026-07-01", latest="2026-07-31")]), method
    )
    assert "2026-07-21" <= assignment_of(r)["P-1"] <= "2026-07-31"


def test_national_day_week_has_no_working_day(method: str) -> None:
    d = doc(
        enterprises=[ent("E1", "none")],
        inspections=[insp("P-1", earliest="2026-10-01", latest="2026-10-07")],
    )
    d["horizon"] = {"start": "2026-10-01", "end": "2026-10-31"}
    r = solve_doc(d, method)
    assert reasons_of(r) == {"P-1": "no_allowed_day"}
    assert "没有工作日" in r.solution.unscheduled[0].detail


def test_make_up_saturday_is_usable(method: str) -> None:
    d = doc(
        enterprises=[ent("E1", "none")],
        inspections=[insp("P-1", earliest="2026-10-10", latest="2026-10-11")],
    )
    d["horizon"] = {"start": "2026-10-01", "end": "2026-10-31"}
    assert assignment_of(solve_doc(d, method)) == {"P-1": "2026-10-10"}


def test_exempt_inspection_may_use_quiet_days(method: str) -> None:
    d = doc(
        inspections=[
            insp(
                "P-1",
                kind="case",
                earliest="2026-07-01",
                latest="2026-07-20",
                exempt_reason="投诉举报",
            )
        ]
    )
    assert "2026-07-01" <= assignment_of(solve_doc(d, method))["P-1"] <= "2026-07-20"


def test_blackout_dates_are_quiet(method: str) -> None:
    d = doc(
        enterprises=[ent("E1", blackout=["2026-07-21", "2026-07-22"])],
        inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-23")],
    )
    assert assignment_of(solve_doc(d, method)) == {"P-1": "2026-07-23"}


def test_whitelisted_enterprise_gets_no_routine_inspection(method: str) -> None:
    d = doc(
        enterprises=[ent("E1", whitelisted=True)],
        inspections=[insp("P-1"), insp("P-2", kind="case", agency="B")],
    )
    r = solve_doc(d, method)
    assert reasons_of(r) == {"P-1": "whitelisted"}
    assert "P-2" in assignment_of(r)


def history(agency: str, day: str, kind: str = "routine", enterprise: str = "E1") -> dict[str, str]:
    return {"enterprise": enterprise, "agency": agency, "date": day, "kind": kind}


def test_agency_enterprise_year_cap_counts_history(method: str) -> None:
    d = doc(
        caps={"agency_enterprise_per_year": 1},
        inspections=[insp("P-1"), insp("P-2", agency="B")],
        history=[history("A", "2026-03-24")],
    )
    r = solve_doc(d, method)
    assert reasons_of(r) == {"P-1": "cap"}
    detail = r.solution.unscheduled[0].detail
    assert "东湖区市场监督管理局" in detail
    assert "2026-03-24(历史)" in detail


def test_uncapped_kinds_do_not_count(method: str) -> None:
    d = doc(
        caps={"agency_enterprise_per_year": 1},
        inspections=[
            insp("P-1"),
            insp("P-2", kind="requested", earliest="2026-08-01", latest="2026-08-31"),
        ],
        history=[history("A", "2026-03-24", kind="case")],
    )
    assert set(assignment_of(solve_doc(d, method))) == {"P-1", "P-2"}


def test_enterprise_month_cap_forces_a_joint_visit(method: str) -> None:
    d = doc(
        caps={"enterprise_per_month": 1},
        inspections=[
            insp("P-1"),
            insp("P-2", agency="B", earliest="2026-07-24", latest="2026-07-31"),
        ],
    )
    got = assignment_of(solve_doc(d, method))
    assert set(got) == {"P-1", "P-2"}
    assert got["P-1"] == got["P-2"]


def test_enterprise_month_cap_drops_the_lower_priority(method: str) -> None:
    d = doc(
        caps={"enterprise_per_month": 1},
        inspections=[
            insp("P-1", earliest="2026-07-21", latest="2026-07-23", priority=1),
            insp("P-2", agency="B", earliest="2026-07-27", latest="2026-07-31", priority=5),
        ],
    )
    r = solve_doc(d, method)
    (left,) = r.solution.unscheduled
    assert left.reason.value == "cap"
    assert "7 月" in left.detail
    if method == "cpsat":  # the greedy goes by window end, not by priority
        assert left.inspection == "P-1"


def test_enterprise_year_cap(method: str) -> None:
    d = doc(
        caps={"enterprise_per_year": 2},
        inspections=[insp("P-1", earliest="2026-08-01", latest="2026-08-31")],
        history=[history("B", "2026-03-24"), history("B", "2026-05-25", enterprise="E1")],
    )
    assert reasons_of(solve_doc(d, method)) == {"P-1": "cap"}


def test_min_gap_feasible_and_infeasible(method: str) -> None:
    gap = {"min_gap_days": 7}
    ok = doc(
        enterprises=[ent("E1", caps=gap), ent("E2")],
        inspections=[
            insp("P-1", earliest="2026-07-21", latest="2026-07-22"),
            insp("P-2", agency="B", earliest="2026-07-27", latest="2026-07-28"),
        ],
    )
    got = assignment_of(solve_doc(ok, method))
    if method == "cpsat":  # the greedy takes 07-22 first and then finds no room for P-2
        assert got == {"P-1": "2026-07-21", "P-2": "2026-07-28"}
    tight = doc(
        enterprises=[ent("E1", caps=gap), ent("E2")],
        inspections=[
            insp("P-1", earliest="2026-07-21", latest="2026-07-21", priority=3),
            insp("P-2", agency="B", earliest="2026-07-24", latest="2026-07-24"),
        ],
    )
    r = solve_doc(tight, method)
    assert reasons_of(r) == {"P-2": "min_gap"}
    assert "间隔不足 7 天" in r.solution.unscheduled[0].detail


def test_capacity_feasible_and_infeasible(method: str) -> None:
    one_day = doc(inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-21", priority=2),
                               insp("P-2", enterprise="E2", earliest="2026-07-21", latest="2026-07-21")])  # fmt: skip
    one_day["agencies"][0]["daily_capacity"] = 1
    r = solve_doc(one_day, method)
    assert reasons_of(r) == {"P-2": "capacity"}
    assert "东湖区市场监督管理局" in r.solution.unscheduled[0].detail
    two_days = doc(inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-22"),
                                insp("P-2", enterprise="E2", earliest="2026-07-21", latest="2026-07-22")])  # fmt: skip
    two_days["agencies"][0]["daily_capacity"] = 1
    assert set(assignment_of(solve_doc(two_days, method))) == {"P-1", "P-2"}


def test_capacity_by_date_overrides(method: str) -> None:
    d = doc(inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-22")])
    d["agencies"][0]["capacity_by_date"] = {"2026-07-22": 0}
    assert assignment_of(solve_doc(d, method)) == {"P-1": "2026-07-21"}
    d["agencies"][0]["capacity_by_date"] = {"2026-07-21": 0, "2026-07-22": 0}
    assert reasons_of(solve_doc(d, method)) == {"P-1": "capacity"}


def test_one_agency_at_one_enterprise_uses_one_unit(method: str) -> None:
    d = doc(inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-21"),
                         insp("P-2", earliest="2026-07-21", latest="2026-07-21")])  # fmt: skip
    d["agencies"][0]["daily_capacity"] = 1
    assert assignment_of(solve_doc(d, method)) == {"P-1": "2026-07-21", "P-2": "2026-07-21"}


def test_pins_hold_and_new_inspections_join_them(method: str) -> None:
    d = doc(
        inspections=[insp("P-1"), insp("P-2", agency="B")],
        pinned=[{"inspection": "P-1", "date": "2026-07-23"}],
    )
    r = solve_doc(d, method)
    assert assignment_of(r) == {"P-1": "2026-07-23", "P-2": "2026-07-23"}
    assert len(r.solution.visits) == 1


def test_mixed_blockers_mean_priority() -> None:
    """X could go on 07-21 (agency A full with HI-1) or 07-22 (too near HI-2 on 07-23)."""
    d = doc(
        enterprises=[ent("E1", caps={"min_gap_days": 2}), ent("E2")],
        inspections=[
            insp("X", earliest="2026-07-21", latest="2026-07-22", priority=1),
            insp("HI-1", enterprise="E2", earliest="2026-07-21", latest="2026-07-21", priority=9),
            insp("HI-2", agency="B", earliest="2026-07-23", latest="2026-07-23", priority=9),
        ],
    )
    d["agencies"][0]["daily_capacity"] = 1
    r = solve_doc(d, "cpsat")
    assert reasons_of(r) == {"X": "priority"}
    assert r.status.value == "optimal"
    detail = r.solution.unscheduled[0].detail
    assert "部门检查能力挡住 2026-07-21" in detail
    assert "最短间隔挡住 2026-07-22" in detail


def test_joint_visit_preferred_over_two_doors() -> None:
    d = doc(
        inspections=[
            insp("P-1"),
            insp("P-2", agency="B", earliest="2026-07-01", latest="2026-09-30"),
        ]
    )
    r = solve_doc(d, "cpsat")
    assert len(r.solution.visits) == 1
    assert r.solution.visits[0].lead_agency in {"A", "B"}


def test_previous_draft_kept_when_nothing_better() -> None:
    d = doc(inspections=[insp("P-1")], previous={"P-1": "2026-07-23"})
    r = solve_doc(d, "cpsat")
    assert assignment_of(r) == {"P-1": "2026-07-23"}
    assert r.metrics.moved == 0


def test_priority_beats_visits() -> None:
    """Two enterprises, agency capacity 1 on their only common day: the higher priority wins
    even though the other choice would join an existing visit."""
    d = doc(
        inspections=[
            insp("LOW", earliest="2026-07-21", latest="2026-07-21", priority=1),
            insp("B-E1", agency="B", earliest="2026-07-21", latest="2026-07-21"),
            insp("HIGH", enterprise="E2", earliest="2026-07-21", latest="2026-07-21", priority=2),
        ]
    )
    d["agencies"][0]["daily_capacity"] = 1
    r = solve_doc(d, "cpsat")
    assert reasons_of(r) == {"LOW": "capacity"}


def test_nothing_to_schedule(method: str) -> None:
    r = solve_doc(doc(inspections=[]), method)
    assert r.solution.visits == ()
    assert r.solution.unscheduled == ()


def test_everything_pinned(method: str) -> None:
    d = doc(
        inspections=[insp("P-1"), insp("P-2", enterprise="E2")],
        pinned=[
            {"inspection": "P-1", "date": "2026-07-21"},
            {"inspection": "P-2", "date": "2026-07-22"},
        ],
    )
    assert assignment_of(solve_doc(d, method)) == {"P-1": "2026-07-21", "P-2": "2026-07-22"}


def test_caps_count_per_calendar_year_across_a_new_year(method: str) -> None:
    d = doc(
        horizon={"start": "2026-12-01", "end": "2027-01-31"},
        calendar={"country": "CN", "extra_holidays": ["2027-01-01"], "extra_workdays": []},
        caps={"agency_enterprise_per_year": 1},
        inspections=[
            insp("P-1", earliest="2026-12-21", latest="2026-12-31"),
            insp("P-2", earliest="2027-01-21", latest="2027-01-29"),
        ],
        history=[{"enterprise": "E1", "agency": "A", "date": "2026-03-24", "kind": "routine"}],
    )
    r = solve_doc(d, method)
    assert reasons_of(r) == {"P-1": "cap"}
    assert "P-2" in assignment_of(r)


@pytest.mark.parametrize("method", METHODS)
def test_joining_a_history_date_adds_no_date(method: str) -> None:
    """History alone overfills July (two dates, cap one): joining one of its dates is allowed,
    by the solver and the checker alike."""
    d = doc(
        enterprises=[{"id": "E1", "name": "e", "region": "r", "quiet_policy": "none"}],
        caps={"enterprise_per_month": 1},
        inspections=[insp("P1", earliest="2026-07-21", latest="2026-07-31")],
        history=[
            {"enterprise": "E1", "agency": "B", "date": "2026-07-21", "kind": "routine"},
            {"enterprise": "E1", "agency": "B", "date": "2026-07-22", "kind": "routine"},
        ],
    )
    r = solve_doc(d, method)  # solve_doc asserts the checker agrees
    assert [v.date.isoformat() for v in r.solution.visits] in (["2026-07-21"], ["2026-07-22"])


def test_min_gap_counts_only_added_dates() -> None:
    d = doc(
        enterprises=[
            {
                "id": "E1",
                "name": "e",
                "region": "r",
                "quiet_policy": "none",
                "caps": {"min_gap_days": 5},
            }
        ],
        inspections=[insp("P1", earliest="2026-07-21", latest="2026-07-23")],
        history=[
            {"enterprise": "E1", "agency": "B", "date": "2026-07-21", "kind": "routine"},
            {"enterprise": "E1", "agency": "B", "date": "2026-07-22", "kind": "routine"},
        ],
    )
    r = solve_doc(d, "cpsat")
    assert r.solution.visits[0].date in (date(2026, 7, 21), date(2026, 7, 22))


def test_blocked_by_what_cannot_move_is_not_priority() -> None:
    d = doc(
        enterprises=[{"id": "E1", "name": "e", "region": "r", "quiet_policy": "none"}],
        caps={"enterprise_per_month": 1},
        inspections=[insp("P1", earliest="2026-07-31", latest="2026-08-03", priority=100)],
        history=[{"enterprise": "E1", "agency": "B", "date": "2026-07-02", "kind": "routine"}],
    )
    d["agencies"][0]["capacity_by_date"] = {"2026-08-03": 0}
    r = solve_doc(d, "cpsat")
    assert reasons_of(r) == {"P1": "cap"}
    assert "不能调整" in r.solution.unscheduled[0].detail
