"""A finished run's visits made the published schedule, in one transaction, the record kept."""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from quietday.domain.model import (
    Door,
    Solution,
    Unscheduled,
    Visit,
)
from quietday.domain.status import PlanStatus, RunStatus, VisitStatus
from quietday.errors import ConflictError
from quietday.formats import (
    parse_solution,
)
from quietday.persistence import Session
from quietday.persistence.mapping import (
    plan_id_of,
)
from quietday.persistence.plans import PlanRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import PlanRow, RunRow, VisitRow, utcnow
from quietday.persistence.visits import VisitRepository
from quietday.planning.audit import RowDigest, record
from quietday.planning.calendar import working_calendar
from quietday.planning.codes import revoke_stale
from quietday.planning.frequency import rebuild_rollups
from quietday.planning.plans import refresh_visit
from quietday.planning.visits import lead_agency, settle
from quietday.planning.webhooks import publish_events

__all__ = ["PublishReport", "Sorted", "Weighed", "publish_refusal", "publish_run", "weigh"]


@dataclass(frozen=True)
class PublishReport:
    run_id: int
    published: int
    visits: int
    unscheduled: int
    skipped: list[dict[str, Any]]


def _overlaps(a: RunRow, b: RunRow) -> bool:
    scope_a, scope_b = a.scope or "", b.scope or ""
    same_area = scope_a.startswith(scope_b) or scope_b.startswith(scope_a)
    return same_area and a.horizon_start <= b.horizon_end and b.horizon_start <= a.horizon_end


def _publishable(runs: RunRepository, run: RunRow, *, today: date) -> None:
    """Refuse a run that is not finished, whose horizon has begun (unless it is a correction),
    or over which an overlapping run was published since it started."""
    if run.status != RunStatus.SUCCEEDED or run.solution_gz is None:
        raise ConflictError(
            f"排期运行 {run.id} 状态为 {run.status},只有已完成的运行可以发布",
            code="run_not_publishable",
        )
    if run.horizon_start <= today and not run.correction:
        raise ConflictError(
            f"排期运行 {run.id} 的排期范围从 {run.horizon_start} 开始,已不在今天之后;请重新运行后再发布",
            code="horizon_started",
        )
    newer = [
        r
        for r in runs.published_since(run.started_at or run.created_at or utcnow())
        if r.id != run.id and _overlaps(r, run)
    ]
    if newer:
        raise ConflictError(
            f"排期运行 {newer[0].id} 在本次运行开始后已发布了重叠范围的排期;请重新运行后再发布",
            code="stale_run",
        )


def _calendar_unchanged(session: Session, run: RunRow, solution: Solution) -> None:
    """Refuse the run if a notice imported since made a day off of a day it placed visits on
    (it must run again)."""
    calendar, _ = working_calendar(session, range(run.horizon_start.year, run.horizon_end.year + 1))
    off = sorted({v.date for v in solution.visits if not calendar.is_working_day(v.date)})
    if off:
        raise ConflictError(
            f"排期运行 {run.id} 之后节假日安排有变: 它排在 {off[0]} 等 {len(off)} 天的入企"
            "现在是非工作日;请重新运行后再发布",
            code="calendar_changed",
        )


def _displaced(
    visits: VisitRepository, run: RunRow, plans: dict[int, PlanRow], *, today: date
) -> set[int]:
    """The published plans the run freed (the rules no longer allowed them where they were:
    `_settle_pins`) and still not the record (after today, no check-in): the run placed them
    anew, publishing moves them."""
    off = {
        pid: p
        for pid in run.freed_plans
        if (p := plans.get(pid)) is not None
        and p.status == PlanStatus.PUBLISHED
        and p.published_date is not None
        and today < p.published_date
    }
    sealed = visits.checked_in(p.visit_id for p in off.values() if p.visit_id is not None)
    return {pid for pid, p in off.items() if p.visit_id not in sealed}


@dataclass
class Sorted:
    """A run's solution against the plans as they are now: what to publish, what becomes
    unscheduled, and what is skipped (and why)."""

    groups: list[tuple[Visit, list[PlanRow]]] = field(default_factory=list)
    unscheduled: list[tuple[PlanRow, Unscheduled]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _sort(
    solution: Solution,
    *,
    seen: dict[int, int],
    plans: dict[int, PlanRow],
    existing: dict[tuple[str, date], VisitRow],
    checked_in: set[int],
    displaced: set[int],
) -> Sorted:
    """`seen`: the version of each plan the run saw. A published plan stays where it is (the
    run pinned those in its horizon; the rest are history) unless it is `displaced` (its day
    became a day off), and a visit with a check-in stays as it is."""
    out = Sorted()

    def skip(pid: int, why: str, detail: str) -> None:
        out.skipped.append({"plan_id": pid, "why": why, "detail": detail})

    def usable(pid: int | None, door: Door | None) -> PlanRow | None:
        if pid is None or pid not in seen:
            return None  # not this run's to publish (a pinned plan of another scope)
        row = plans[pid]
        if row.status == PlanStatus.CANCELLED:
            skip(pid, "cancelled", "运行开始后已取消")
        elif row.version != seen[pid]:
            skip(pid, "changed", "运行开始后已修改,等待下次排期")
        elif (
            row.status == PlanStatus.PUBLISHED
            and door != (row.enterprise_id, row.published_date)
            and pid not in displaced
        ):
            skip(pid, "published", f"已发布于 {row.published_date},保持不变")
        else:
            return row
        return None

    for visit in solution.visits:
        door: Door = (visit.enterprise, visit.date)
        rows = [r for r in (usable(plan_id_of(i), door) for i in visit.inspections) if r]
        sealed = existing.get(door)
        if sealed is not None and sealed.id in checked_in:
            for r in rows:
                if r.visit_id != sealed.id:
                    skip(
                        int(r.id or 0),
                        "checked_in",
                        f"{visit.date} 的入企已有入企记录,不再加入检查",
                    )
        elif rows:
            out.groups.append((visit, rows))
    for u in solution.unscheduled:
        row = usable(plan_id_of(u.inspection), None)
        if row is not None:
            out.unscheduled.append((row, u))
    return out


@dataclass(frozen=True)
class Weighed:
    """A finished run's solution against the plans and visits as they are now (read only):
    what publishing it would do."""

    solution: Solution
    plans: dict[int, PlanRow]
    existing: dict[tuple[str, date], VisitRow]
    sorted: Sorted


def weigh(session: Session, run: RunRow, *, today: date) -> Weighed:
    """What publishing `run` would do now; reads only (the preview shows it, publishing does it)."""
    solution = parse_solution(gzip.decompress(run.solution_gz or b""))
    seen = {rp.plan_id: rp.version for rp in RunRepository(session).plans(int(run.id or 0))}
    visits = VisitRepository(session)
    existing = visits.at_many({(v.enterprise, v.date) for v in solution.visits})
    checked_in = visits.checked_in(int(v.id or 0) for v in existing.values())
    plans = PlanRepository(session).by_ids(seen)
    displaced = _displaced(visits, run, plans, today=today)
    sorted_ = _sort(
        solution,
        seen=seen,
        plans=plans,
        existing=existing,
        checked_in=checked_in,
        displaced=displaced,
    )
    return Weighed(solution, plans, existing, sorted_)


def publish_refusal(session: Session, run: RunRow, *, today: date) -> ConflictError | None:
    """Why publishing `run` now would be refused (as `publish_run` would say), or None."""
    try:
        _publishable(RunRepository(session), run, today=today)
        _calendar_unchanged(session, run, parse_solution(gzip.decompress(run.solution_gz or b"")))
    except ConflictError as exc:
        return exc
    return None


def publish_run(session: Session, run_id: int, *, today: date) -> PublishReport:
    """Make a finished run's visits the published schedule, in the caller's one transaction.

    The record stays as it is: a run whose horizon has begun is published only if it is a
    correction; a published plan is never moved or unscheduled, unless the run freed it (the
    rules no longer allowed its day: a notice made it a day off, a blackout date came since)
    and it is still after today without a check-in; no plan joins a visit with a check-in. A
    run solved before a notice that makes one of its visits' days off is refused."""
    runs = RunRepository(session)
    runs.lock_publishing()
    run = runs.lock(run_id)
    _publishable(runs, run, today=today)
    weighed = weigh(session, run, today=today)
    _calendar_unchanged(session, run, weighed.solution)
    visits = VisitRepository(session)
    existing, sorted_ = weighed.existing, weighed.sorted
    groups = sorted_.groups
    before = {int(v.id or 0): (str(v.status), v.sequence) for v in existing.values()}
    published, vacated = _publish_visits(session, run_id, groups, existing)
    touched = len(groups)
    unscheduled_rows: list[PlanRow] = []
    for row, u in sorted_.unscheduled:
        unscheduled_rows.append(row)
        if row.visit_id is not None:  # displaced, and no working day left for it
            vacated.add(row.visit_id)
            row.visit_id = row.published_date = None
        row.status, row.reason, row.detail = PlanStatus.UNSCHEDULED, u.reason.value, u.detail
        row.draft_run_id, row.draft_date = run_id, None
        row.updated_at = utcnow()
        session.add(row)
    session.flush()
    for visit_id in sorted(vacated):
        refresh_visit(session, visits.get_or_raise(visit_id))
    revoke_stale(session, (int(v.id or 0) for v in existing.values()))
    unscheduled = len(unscheduled_rows)
    skipped = sorted_.skipped
    run.status = RunStatus.PUBLISHED
    run.published_at = utcnow()
    run.message = "已发布"
    session.add(run)
    session.flush()
    rebuild_rollups(session, run.horizon_start, run.horizon_end)
    report = PublishReport(
        int(run.id or 0),
        published,
        touched,
        unscheduled,
        sorted(skipped, key=lambda s: s["plan_id"]),
    )
    publish_events(
        session,
        run,
        visits=[
            visits.get_or_raise(vid)
            for vid in sorted({int(rs[0].visit_id or 0) for _, rs in groups})
        ],
        before=before,
        members=lambda ids: _members(session, ids),
        counts={"published": published, "visits": touched, "unscheduled": unscheduled},
    )
    schedule = RowDigest()
    outcome = sorted(
        [(int(r.id or 0), {"visit_id": r.visit_id, "date": r.published_date}) for _, rs in groups for r in rs]
        + [(int(r.id or 0), {"status": r.status, "reason": r.reason}) for r in unscheduled_rows],
        key=lambda item: item[0],
    )  # fmt: skip
    schedule.add_all((pid, {"plan_id": pid, **what}) for pid, what in outcome)
    record(
        session,
        "run.publish",
        f"run:{run_id}",
        {
            "published": published,
            "visits": touched,
            "unscheduled": unscheduled,
            "skipped": [s["plan_id"] for s in report.skipped],
            "plans": schedule.summary(),
            **({"vacated_visits": sorted(vacated)} if vacated else {}),
        },
    )
    return report


def _members(session: Session, visit_ids: Sequence[int]) -> dict[int, list[PlanRow]]:
    """The plans published in these visits, by visit."""
    out: dict[int, list[PlanRow]] = defaultdict(list)
    for row in PlanRepository(session).in_visits(visit_ids):
        if row.status == PlanStatus.PUBLISHED:
            out[int(row.visit_id or 0)].append(row)
    return out


def _publish_visits(
    session: Session,
    run_id: int,
    groups: list[tuple[Visit, list[PlanRow]]],
    existing: dict[tuple[str, date], VisitRow],
) -> tuple[int, set[int]]:
    """Put each group of plans into the published visit of its enterprise and date (reusing a
    visit that exists, reviving a cancelled one); a visit that changes gets a higher sequence.
    A plan leaves a visit here only when its day became a day off (`_displaced`). Queries are
    batched: the visits there are (`existing`) were read with the solution, then their members.
    The number of plans placed, and the visits that plans left."""
    members: dict[int, list[PlanRow]] = defaultdict(list)
    for row in PlanRepository(session).in_visits(int(v.id or 0) for v in existing.values()):
        if row.status == PlanStatus.PUBLISHED:
            members[int(row.visit_id or 0)].append(row)
    now = utcnow()
    rows_by_visit: list[tuple[VisitRow, list[PlanRow]]] = []
    for v, rows in groups:
        visit = existing.get((v.enterprise, v.date))
        if visit is None:
            visit = VisitRow(
                enterprise_id=v.enterprise,
                day=v.date,
                lead_agency_id=lead_agency(rows),
                run_id=run_id,
            )
            session.add(visit)
        rows_by_visit.append((visit, rows))
    session.flush()
    moved = 0
    vacated: set[int] = set()
    for visit, rows in rows_by_visit:
        vid = int(visit.id or 0)
        changed = visit.status != VisitStatus.PUBLISHED
        for row in rows:
            if row.visit_id == vid and row.status == PlanStatus.PUBLISHED:
                continue
            if row.visit_id is not None:
                vacated.add(row.visit_id)
            row.visit_id, row.published_date, row.status = vid, visit.day, PlanStatus.PUBLISHED
            row.draft_run_id, row.draft_date = run_id, visit.day
            row.reason = row.detail = None
            row.updated_at = now
            session.add(row)
            moved += 1
            changed = True
        together = {r.id: r for r in [*members[vid], *rows]}
        settle(visit, list(together.values()), now=now, changed=changed)
        if changed:
            visit.run_id = run_id
        session.add(visit)
    session.flush()
    return moved, vacated
