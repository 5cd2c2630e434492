"""The visits lower bound and the explanations of what stays unscheduled."""

from __future__ import annotations

from datetime import date

from helpers import doc, insp, load
from quietday.domain import Reason, explain_unscheduled, visits_lower_bound


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
