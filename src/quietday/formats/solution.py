"""`quietday.solution/1`: read (every problem collected) and written (one record per line,
keys in a fixed order)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from quietday.domain.model import (
    AgencyId,
    EnterpriseId,
    InspectionId,
    Reason,
    Solution,
    SolveStats,
    Status,
    Unscheduled,
    Visit,
)
from quietday.errors import SolutionError
from quietday.formats.reader import (
    MISSING,
    Member,
    Reader,
    document_file,
    layout,
    read_members,
    write_atomically,
)

__all__ = [
    "SOLUTION_FORMAT",
    "dump_solution",
    "load_solution",
    "parse_solution",
    "solution_to_dict",
    "write_solution",
]

SOLUTION_FORMAT = "quietday.solution/1"


def _visits(r: Reader, doc: Mapping[str, Any]) -> list[Visit]:
    out: list[Visit] = []
    for path, item in r.records(doc, "visits", required=True):
        ent = r.get(item, "enterprise", str, path=path)
        day = r.get_day(item, "date", path=path)
        iids = r.get(item, "inspections", list, path=path)
        lead = r.get(item, "lead_agency", str, path=path)
        if iids is not MISSING and not all(isinstance(i, str) for i in iids):
            r.add("wrong_type", path, "inspections 应为字符串数组")
            continue
        if MISSING in (ent, iids, lead) or day is None:
            continue
        out.append(
            Visit(EnterpriseId(ent), day, tuple(InspectionId(i) for i in iids), AgencyId(lead))
        )
    return out


def _unscheduled(r: Reader, doc: Mapping[str, Any]) -> list[Unscheduled]:
    out: list[Unscheduled] = []
    reasons = {x.value for x in Reason}
    for path, item in r.records(doc, "unscheduled", required=True):
        iid = r.get(item, "inspection", str, path=path)
        reason = r.get(item, "reason", str, path=path, record=iid if iid is not MISSING else None)
        detail = r.get(item, "detail", str, path=path, default="")
        if reason is not MISSING and reason not in reasons:
            r.add("unknown_reason", path, f"reason {reason} 不是规范中的原因", iid)
            continue
        if MISSING not in (iid, reason, detail):
            out.append(Unscheduled(InspectionId(iid), Reason(reason), detail))
    return out


def _stats(r: Reader, doc: Mapping[str, Any]) -> SolveStats | None:
    obj = r.get(doc, "stats", dict, path="stats", default=None, nullable=True)
    if obj is None or obj is MISSING:
        return None
    status = obj.get("status")
    if not isinstance(status, str) or status not in {s.value for s in Status}:
        r.add(
            "unknown_status",
            "stats",
            f"status {str(status)[:40]!r} 应为 optimal、feasible、time_limit 或 cancelled",
        )
        return None
    scheduled = r.count(obj, "scheduled", path="stats", record=None, default=0)
    visits = r.count(obj, "visits", path="stats", record=None, default=0)
    numbers: dict[str, float | None] = {}
    for key in ("wall_seconds", "objective_bound"):
        value = obj.get(key)
        ok = value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
        if not ok:
            r.add("wrong_type", "stats", f"{key} 应为有限的数字或 null")
        numbers[key] = float(value) if ok and value is not None else None
    known = {"status", "wall_seconds", "scheduled", "visits", "objective_bound"}
    return SolveStats(
        status=Status(status),
        scheduled=scheduled or 0,
        visits=visits or 0,
        wall_seconds=numbers["wall_seconds"],
        objective_bound=numbers["objective_bound"],
        extra={k: v for k, v in obj.items() if k not in known},
    )


class _Read:
    """What a solution document's members are read into, each as it comes."""

    def __init__(self) -> None:
        self.r = Reader()
        self.name = ""
        self.visits: list[Visit] = []
        self.unscheduled: list[Unscheduled] = []
        self.stats: SolveStats | None = None

    def members(self) -> list[Member]:
        r = self.r
        return [
            Member("instance", self._name),
            Member("visits", lambda doc: self.visits.extend(_visits(r, doc)), records=True),
            Member(
                "unscheduled",
                lambda doc: self.unscheduled.extend(_unscheduled(r, doc)),
                records=True,
            ),
            Member("stats", self._stats),
        ]

    def _name(self, doc: Mapping[str, Any]) -> None:
        self.name = self.r.get(doc, "instance", str, path="instance", default="")

    def _stats(self, doc: Mapping[str, Any]) -> None:
        self.stats = _stats(self.r, doc)


def parse_solution(source: str | bytes | Callable[[int], bytes]) -> Solution:
    """A `Solution` from JSON text (or a function reading its bytes a piece at a time), or
    `SolutionError`; whether it is valid is the checker's call."""
    got = _Read()
    read_members(source, SolutionError, SOLUTION_FORMAT, got.members())
    if got.r.problems:
        raise SolutionError(got.r.problems)
    return Solution(
        instance=got.name,
        visits=tuple(got.visits),
        unscheduled=tuple(got.unscheduled),
        stats=got.stats,
    )


def load_solution(path: str | Path) -> Solution:
    with document_file(path, SolutionError) as read:
        return parse_solution(read)


def _stats_dict(stats: SolveStats) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": stats.status.value,
        "wall_seconds": stats.wall_seconds,
        "scheduled": stats.scheduled,
        "visits": stats.visits,
        "objective_bound": stats.objective_bound,
    }
    out.update(stats.extra)
    return out


def _visit_dict(v: Visit) -> dict[str, Any]:
    return {
        "enterprise": v.enterprise,
        "date": v.date.isoformat(),
        "inspections": list(v.inspections),
        "lead_agency": v.lead_agency,
    }


def _unscheduled_dict(u: Unscheduled) -> dict[str, Any]:
    return {"inspection": u.inspection, "reason": u.reason.value, "detail": u.detail}


def solution_to_dict(solution: Solution) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": SOLUTION_FORMAT,
        "instance": solution.instance,
        "visits": [_visit_dict(v) for v in solution.visits],
        "unscheduled": [_unscheduled_dict(u) for u in solution.unscheduled],
    }
    if solution.stats is not None:
        out["stats"] = _stats_dict(solution.stats)
    return out


def _solution_chunks(solution: Solution) -> Iterator[str]:
    head = {"format": SOLUTION_FORMAT, "instance": solution.instance}
    lists = {
        "visits": map(_visit_dict, solution.visits),
        "unscheduled": map(_unscheduled_dict, solution.unscheduled),
    }
    tail = {"stats": _stats_dict(solution.stats)} if solution.stats is not None else {}
    return layout(head, lists, tail)


def dump_solution(solution: Solution) -> str:
    return "".join(_solution_chunks(solution))


def write_solution(solution: Solution, path: str | Path) -> None:
    write_atomically(Path(path), _solution_chunks(solution))
