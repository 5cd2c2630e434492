"""Defects found by review, kept fixed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import FIXTURES, doc, insp, load, reasons_of, solve_doc
from quietday.cli import app
from quietday.domain import (
    Agency,
    Caps,
    Enterprise,
    Horizon,
    Inspection,
    Instance,
    Kind,
    QuietPolicy,
    WorkingCalendar,
)
from quietday.domain.explain import explain_unscheduled
from quietday.errors import InstanceError, SolutionError
from quietday.formats import parse_instance, parse_solution
from quietday.official import official_calendar


@pytest.mark.parametrize("method", ["greedy", "cpsat"])
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


@pytest.mark.parametrize(
    ("agency_change", "code"),
    [
        ({"daily_capacity": None}, "wrong_type"),
        ({"capacity_by_date": {"2026-07-24": None}}, "wrong_type"),
    ],
)
def test_null_capacity_is_a_named_error(agency_change: dict[str, object], code: str) -> None:
    d = doc(inspections=[insp("P1")])
    d["agencies"][0].update(agency_change)
    with pytest.raises(InstanceError) as err:
        load(d)
    (p,) = err.value.problems
    assert (p.code, p.path, p.record) == (code, "agencies[0]", "A")


@pytest.mark.parametrize(
    "stats",
    [
        {"status": "optimal", "scheduled": "abc"},
        {"status": "optimal", "scheduled": {"a": 1}},
        {"status": [], "scheduled": 1},
        {"status": "optimal", "wall_seconds": "fast"},
    ],
)
def test_malformed_stats_are_refused_cleanly(stats: dict[str, object]) -> None:
    text = json.dumps(
        {
            "format": "quietday.solution/1",
            "instance": "x",
            "visits": [],
            "unscheduled": [],
            "stats": stats,
        }
    )
    with pytest.raises(SolutionError):
        parse_solution(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "quietday.instance/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"format": "quietday.instance/1", "x": ' + "1" * 5000 + "}",
        '{"format": "quietday.instance/1", "name": "P\\ud800"}',
    ],
)
def test_hostile_json_is_refused_cleanly(text: str) -> None:
    with pytest.raises(InstanceError):
        parse_instance(text)


def test_unwritable_out_is_refused_before_solving(tmp_path: Path) -> None:
    runner = CliRunner()
    instance = str(FIXTURES / "spec-example-valid.json")
    for out in (tmp_path / "missing" / "s.json", tmp_path):
        r = runner.invoke(app, ["solve", instance, "--out", str(out)])
        assert r.exit_code == 2
        assert "无法写入" in r.output
    assert list(tmp_path.iterdir()) == []
