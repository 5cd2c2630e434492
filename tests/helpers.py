"""Tiny instances written as the spec's JSON, so every test also exercises the reader."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

from quietday.domain import Instance
from quietday.formats import parse_instance

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Q3 2026 with the Jiangxi quiet days (1-20): open days in July are 21-24 and 27-31.
BASE: dict[str, Any] = {
    "format": "quietday.instance/1",
    "name": "tiny",
    "horizon": {"start": "2026-07-01", "end": "2026-09-30"},
    "calendar": {"country": "CN", "extra_holidays": [], "extra_workdays": []},
    "quiet_policies": [
        {"id": "jx-1-20", "month_days": [[1, 20]]},
        {"id": "none"},
    ],
    "caps": {
        "agency_enterprise_per_year": None,
        "enterprise_per_month": None,
        "enterprise_per_year": None,
        "min_gap_days": 0,
    },
    "agencies": [
        {"id": "A", "name": "东湖区市场监督管理局", "region": "360102", "daily_capacity": 5},
        {"id": "B", "name": "东湖区消防救援大队", "region": "360102", "daily_capacity": 5},
    ],
    "enterprises": [
        {"id": "E1", "name": "江西一号实业有限公司", "region": "360102", "quiet_policy": "jx-1-20"},
        {"id": "E2", "name": "江西二号实业有限公司", "region": "360102", "quiet_policy": "jx-1-20"},
    ],
    "inspections": [],
    "history": [],
    "pinned": [],
    "previous": {},
}


def insp(
    iid: str,
    *,
    agency: str = "A",
    enterprise: str = "E1",
    kind: str = "routine",
    earliest: str = "2026-07-01",
    latest: str = "2026-07-31",
    priority: int = 1,
    exempt_reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": iid,
        "agency": agency,
        "enterprise": enterprise,
        "kind": kind,
        "items": ["X-0001"],
        "earliest": earliest,
        "latest": latest,
        "priority": priority,
        "exempt_reason": exempt_reason,
    }


def doc(**changes: Any) -> dict[str, Any]:
    """The base document with top-level keys replaced."""
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(changes))
    return d


def load(d: dict[str, Any]) -> Instance:
    return parse_instance(json.dumps(d, ensure_ascii=False))


def solve_doc(d: dict[str, Any], method: str = "cpsat", **config: Any) -> Any:
    """Solve a tiny document; the answer must pass the independent checker."""
    from quietday.domain import find_violations
    from quietday.solver import SolverConfig, solve

    inst = load(d)
    options: dict[str, Any] = {"time_limit": 10.0, "deterministic": True, "workers": 1}
    options.update(config)
    result = solve(inst, SolverConfig(method=method, **options))  # type: ignore[arg-type]
    assert find_violations(inst, result.solution) == []
    return result


def assignment_of(result: Any) -> dict[str, str]:
    return {i: v.date.isoformat() for v in result.solution.visits for i in v.inspections}


def reasons_of(result: Any) -> dict[str, str]:
    return {u.inspection: u.reason.value for u in result.solution.unscheduled}


def assert_flags_agree_with_check(engine: Any, year: int, tmp_path: Path) -> int:
    """`quietday check` on the year's check-ins (exported as an instance and a solution) and
    the rule flags stored on them agree: every flag is part of a breach the checker reports with
    the same code, and every breach flags one of its entries. The number of breaches."""
    import sqlalchemy as sa

    from quietday.persistence import session_scope
    from quietday.planning.checkins import RULE_FLAGS, actuals_documents
    from quietday.planning.files import check_files

    with session_scope(engine) as s:
        instance_text, solution_text = actuals_documents(s, year)
    (tmp_path / "actuals-instance.json").write_text(instance_text, encoding="utf-8")
    (tmp_path / "actuals-solution.json").write_text(solution_text, encoding="utf-8")
    report = check_files(tmp_path / "actuals-instance.json", tmp_path / "actuals-solution.json")
    with engine.connect() as db:
        stored = db.execute(
            sa.text(
                "SELECT f.check_in_id, f.code FROM check_in_flag f "
                "JOIN check_in c ON c.id = f.check_in_id WHERE c.day BETWEEN :a AND :b"
            ),
            {"a": date(year, 1, 1), "b": date(year, 12, 31)},
        ).all()
    flagged = {(f"C-{cid}", code) for cid, code in stored if code in RULE_FLAGS}
    involved = {(i, v.code) for v in report.violations for i in v.inspections}
    assert flagged <= involved, sorted(flagged - involved)
    for v in report.violations:
        assert any((i, v.code) in flagged for i in v.inspections), v
    return len(report.violations)
