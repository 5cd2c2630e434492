"""The visits lower bound and the explanations of what stays unscheduled."""

from __future__ import annotations

from datetime import date

from helpers import doc, insp, load
from quietday.domain import (
    Agency,
    Caps,
    Enterprise,
    Horizon,
    Inspection,
    Instance,
    Kind,
    QuietPolicy,
    Reason,
    WorkingCalendar,
    explain_unscheduled,
    visits_lower_bound,
)
from quietday.official import official_calendar


def test_lower_bound_stabs_overlapping_windows_once() -> None:
    inst = load(
        doc(
            inspections=[
                insp("P-1", earliest="2026-07-01", latest="2026-07-31"),
                insp("P-2", agency="B", earliest="2026-07-24", latest="2026-08-31"),
                insp("P-3", agency="B", earliest="2026-09-01", latest="2026-09-30"),
                insp("P-4", enterprise="E2"),
            ]
        )
    )
    assert visits_lower_bound(inst, ["P-1", "P-2", "P-3", "P-4"]) == 3  # type: ignore[list-item]
    assert visits_lower_bound(inst, ["P-1", "P-3"]) == 2  # type: ignore[list-item]
    assert visits_lower_bound(inst, []) == 0


def test_lower_bound_uses_pins_as_points() -> None:
    inst = load(
        doc(
            inspections=[
                insp("P-1"),
                insp("P-2", agency="B", earliest="2026-07-24", latest="2026-07-31"),
            ],
            pinned=[{"inspection": "P-1", "date": "2026-07-21"}],
        )
    )
    assert visits_lower_bound(inst, ["P-1", "P-2"]) == 2  # type: ignore[list-item]


def test_a_free_day_left_means_not_solved() -> None:
    inst = load(doc(inspections=[insp("P-1", earliest="2026-07-21", latest="2026-07-22")]))
    (u,) = explain_unscheduled(inst, {})
    assert u.reason == Reason.NOT_SOLVED
    assert "2026-07-21、2026-07-22" in u.detail


def test_capacity_detail_names_agency_days_and_load() -> None:
    d = doc(
        inspections=[
            insp("P-1", earliest="2026-07-21", latest="2026-07-22"),
            insp("P-2", enterprise="E2", earliest="2026-07-21", latest="2026-07-22"),
        ]
    )
    d["agencies"][0]["daily_capacity"] = 1
    d["agencies"][0]["capacity_by_date"] = {"2026-07-22": 0}
    inst = load(d)
    (u,) = explain_unscheduled(inst, {"P-2": date(2026, 7, 21)})  # type: ignore[dict-item]
    assert u.reason == Reason.CAPACITY
    assert u.detail.startswith(
        "东湖区市场监督管理局 在窗口内可用的 2026-07-21、2026-07-22 检查能力均已用满"
    )


def test_window_outside_the_horizon_explained_when_built_directly() -> None:
    """The reader refuses such windows; an instance built in code still gets a clear reason."""
    inst = Instance(
        name="x",
        horizon=Horizon(date(2026, 7, 1), date(2026, 7, 31)),
        calendar=WorkingCalendar(official_calendar("CN", [2026])),
        quiet_policies={"none": QuietPolicy("none")},  # type: ignore[dict-item]
        caps=Caps(),
        agencies={"A": Agency("A", "甲局", "r", 1)},  # type: ignore[arg-type,dict-item]
        enterprises={"E1": Enterprise("E1", "e", "r", "none")},  # type: ignore[arg-type,dict-item]
        inspections=(
            Inspection("P1", "A", "E1", Kind.ROUTINE, date(2026, 10, 5), date(2026, 10, 9)),
        ),  # type: ignore[arg-type]
    )
    (u,) = explain_unscheduled(inst, {})
    assert u.reason.value == "no_allowed_day"
    assert "没有交集" in u.detail


def _mixed(a1_latest: str, *, pinned: bool = False) -> tuple[Instance, dict[str, date]]:
    """E2's w (priority 1) may come on D1 or D2: A's only unit on D1 is E1's a1, and E2's b2
    on D3 is too close to D2 (two days' gap): capacity blocks one day, the gap the other."""
    d1, d3 = "2026-07-21", "2026-07-23"
    inst = load(
        doc(
            caps={**doc()["caps"], "min_gap_days": 2},
            agencies=[
                {
                    "id": "A",
                    "name": "东湖区市场监督管理局",
                    "region": "360102",
                    "daily_capacity": 1,
                },
                {"id": "B", "name": "东湖区消防救援大队", "region": "360102", "daily_capacity": 1},
            ],
            inspections=[
                insp("a1", enterprise="E1", priority=9, earliest=d1, latest=a1_latest),
                insp("b2", agency="B", enterprise="E2", priority=9, earliest=d3, latest=d3),
                insp("w", enterprise="E2", earliest=d1, latest="2026-07-22"),
            ],
            pinned=[{"inspection": "a1", "date": d1}, {"inspection": "b2", "date": d3}]
            if pinned
            else [],
        )
    )
    return inst, {"a1": date(2026, 7, 21), "b2": date(2026, 7, 23)}


def test_priority_only_where_no_single_move_places_it() -> None:
    inst, at = _mixed("2026-07-21")
    (u,) = explain_unscheduled(inst, at)  # type: ignore[arg-type]
    assert u.reason == Reason.PRIORITY
    assert "不同规则挡住了不同日期" in u.detail
    assert "最短间隔挡住 2026-07-22" in u.detail
    assert "部门检查能力挡住 2026-07-21" in u.detail


def test_a_single_move_left_means_not_solved_and_names_it() -> None:
    inst, at = _mixed("2026-07-24")
    (u,) = explain_unscheduled(inst, at)  # type: ignore[arg-type]
    assert u.reason == Reason.NOT_SOLVED
    assert "把 a1 从 2026-07-21 挪到 2026-07-22 后可排在 2026-07-21" in u.detail


def test_rules_on_different_days_that_nothing_can_move_name_the_main_one_and_each_day() -> None:
    inst, at = _mixed("2026-07-24", pinned=True)
    (u,) = explain_unscheduled(inst, at)  # type: ignore[arg-type]
    assert u.reason == Reason.MIN_GAP  # one day each: the first in the rules' order
    assert "以最短间隔为主(1/2 天)" in u.detail
    assert "部门检查能力挡住 2026-07-21" in u.detail
