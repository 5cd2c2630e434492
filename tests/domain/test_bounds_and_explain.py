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
