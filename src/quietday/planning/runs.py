"""Solve runs: build the exact instance from the database, solve it outside the request, keep
instance and solution, and publish the visits in one transaction.

A run sees each plan at the version it had when the run started. Publishing skips (and reports)
plans cancelled or changed since; plans submitted during a run wait for the next one. Published
visits are pins for later runs, and a run cannot publish over a newer publication that overlaps
its scope and horizon.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, NamedTuple

from quietday.domain.check import Metrics, find_violations
from quietday.domain.limits import MAX_HORIZON_DAYS
from quietday.domain.model import (
    AgencyId,
    Door,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    InspectionId,
    Instance,
    Pin,
    PolicyId,
    Solution,
    Status,
    Unscheduled,
    Visit,
)
from quietday.domain.status import PlanStatus, RunStatus, VisitStatus
from quietday.errors import ConflictError, InputError, InstanceError, Problem
from quietday.formats import (
    dump_instance,
    dump_solution,
    parse_instance,
    parse_solution,
    pin_problems,
)
from quietday.persistence import Engine, Session, session_scope
from quietday.persistence.mapping import (
    agency_from_row,
    caps_from_setting,
    enterprise_from_row,
    history_from_plan,
    history_from_row,
    inspection_id,
    plan_id_of,
    plan_to_inspection,
    policy_from_row,
)
from quietday.persistence.repositories import (
    AgencyRepository,
    EnterpriseRepository,
    HistoryRepository,
    PlanFacts,
    PlanOutcome,
    PlanRepository,
    PolicyRepository,
    RegionRepository,
    RunRepository,
    SettingRepository,
    VisitRepository,
)
from quietday.persistence.tables import PlanRow, RunRow, VisitRow, utcnow
from quietday.planning.access import Actor
from quietday.planning.audit import RowDigest, diff, record
from quietday.planning.calendar import provisional_years, working_calendar
from quietday.planning.feeds import today_in_china
from quietday.planning.frequency import rebuild_rollups
from quietday.planning.plans import refresh_visit
from quietday.planning.registry import CAPS_SETTING
from quietday.planning.visits import lead_agency, settle
from quietday.solver import DEFAULT_PART_SIZE, JobPool, Progress, SolverConfig, solve

__all__ = [
    "RUNNER",
    "Built",
    "PublishReport",
    "RunRequest",
    "build_instance",
    "cancel_run",
    "create_run",
    "execute_run",
    "fail_run",
    "publish_run",
    "recover_runs",
    "run_document",
]

log = logging.getLogger(__name__)
RUNNER = "runner"  # the actor of what the worker records in the audit log
_POLL = 1.0  # how often a solving run reads its cancel flag and writes its progress
# Progress while solving: the share of a wall-clock time limit spent counts up to 95 %; the
# solver's own word up to 99 % (checking and storing the result come after).
_TIME_SHARE_CAP, _SOLVING_CAP = 0.95, 0.99


@dataclass(frozen=True, slots=True)
class RunRequest:
    horizon_start: date
    horizon_end: date
    scope: str | None = None
    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    deterministic: bool = False
    correction: bool = False


def create_run(
    session: Session,
    actor: Actor,
    request: RunRequest,
    *,
    today: date,
    max_time_limit: float,
    max_workers: int,
) -> RunRow:
    """A queued run. Its horizon starts tomorrow or later: what is dated today or earlier is the
    record, which only a run marked `correction` may plan over (and even then published plans
    are pins and checked-in visits stay as they are)."""
    problems: list[Problem] = []
    if request.horizon_start <= today and not request.correction:
        problems.append(
            Problem(
                "horizon_in_past",
                "horizon_start",
                f"排期范围应从明天({today + timedelta(days=1)})或以后开始;更正历史记录请设 correction",
            )
        )
    if request.horizon_end < request.horizon_start:
        problems.append(
            Problem("horizon_inverted", "horizon_end", "horizon_end 早于 horizon_start")
        )
    elif (request.horizon_end - request.horizon_start).days >= MAX_HORIZON_DAYS:
        problems.append(
            Problem("horizon_too_long", "horizon_end", f"排期范围不超过 {MAX_HORIZON_DAYS} 天")
        )
    if request.scope is not None and RegionRepository(session).get(request.scope) is None:
        problems.append(Problem("unknown_region", "scope", f"行政区划 {request.scope} 不存在"))
    if not 0 < request.time_limit <= max_time_limit:
        problems.append(
            Problem(
                "time_limit_range", "time_limit", f"time_limit 应在 0 至 {max_time_limit} 秒之间"
            )
        )
    if not 1 <= request.workers <= max_workers:
        problems.append(
            Problem("workers_range", "workers", f"workers 应在 1 至 {max_workers} 之间")
        )
    if problems:
        raise InputError(problems)
    years = range(request.horizon_start.year, request.horizon_end.year + 1)
    run = RunRepository(session).add(
        RunRow(
            status=RunStatus.QUEUED,
            scope=request.scope,
            horizon_start=request.horizon_start,
            horizon_end=request.horizon_end,
            time_limit=request.time_limit,
            workers=request.workers,
            seed=request.seed,
            deterministic=request.deterministic,
            correction=request.correction,
            asked_on=today,
            requested_by=actor.key_id,
            message="排队等待",
            provisional_years=provisional_years(session, years),
        )
    )
    record(
        session,
        "run.create",
        f"run:{run.id}",
        run.model_dump(
            include={
                "scope", "horizon_start", "horizon_end", "time_limit", "workers", "seed",
                "deterministic", "correction", "provisional_years",
            }
        ),
    )  # fmt: skip
    return run


@dataclass
class _Gathered:
    plans: dict[int, PlanFacts] = field(default_factory=dict)
    in_scope: set[int] = field(default_factory=set)


class Built(NamedTuple):
    instance: Instance
    versions: dict[int, int]
    provisional_years: list[int]
    freed_plans: list[int]


def build_instance(session: Session, run: RunRow) -> Built:
    """The instance a run solves, the version of each in-scope plan it saw, and the years it
    plans on the provisional calendar (no State Council notice stored for them yet).

    In scope: live plans whose window meets the horizon, of enterprises in the scope, but not
    the record: a plan published for a day outside the horizon, or carried out before it (its
    agency checked in on its visit), is history, never an inspection to place, whatever its
    window. Pinned: published plans dated in the horizon, out-of-scope ones of the same agencies
    included (they use the agencies' capacity), except those on a day the calendar now says is
    off (a notice imported since they were published): in scope they are free again, for this
    run to place anew; out of scope they are left out. History, within a year of the horizon
    (caps are per calendar year, gaps reach across): imported past inspections, published plans
    dated outside the horizon, and check-ins before it.
    """
    start, end = run.horizon_start, run.horizon_end
    # What happened by the day the run was asked for is the record (a run asked today plans
    # from tomorrow on, unless it corrects the record).
    asked_on = run.asked_on or today_in_china(run.created_at or utcnow())
    plans_repo = PlanRepository(session)
    got = _Gathered()
    for row in plans_repo.for_run(start=start, end=end, scope=run.scope, done_by=asked_on):
        got.plans[row.id] = row
        got.in_scope.add(row.id)
    agencies = {row.agency_id for row in got.plans.values()}
    for row in plans_repo.published_between(
        start=start, end=end, agency_ids=agencies, done_by=asked_on
    ):
        got.plans.setdefault(row.id, row)
    ent_ids = {row.enterprise_id for row in got.plans.values()}
    reach_back, reach_on = start - timedelta(days=366), end + timedelta(days=366)
    past = HistoryRepository(session)
    history = {
        history_from_row(h)
        for h in [
            *past.of(ent_ids, start=reach_back, end=start - timedelta(days=1)),
            *past.checked_in(ent_ids, start=reach_back, end=asked_on),
        ]
    }
    for row in plans_repo.published_of(ent_ids, start=reach_back, end=reach_on, done_by=asked_on):
        day = row.published_date
        if day is not None and not start <= day <= end:
            history.add(history_from_plan(row, day))
    ordered_history = sorted(history, key=lambda h: (h.date, h.enterprise, h.agency, h.kind.value))
    agency_ids = (
        agencies
        | {row.agency_id for row in got.plans.values()}
        | {h.agency for h in ordered_history}
    )
    agency_rows = AgencyRepository(session).by_ids(agency_ids)
    capacity = defaultdict(list)
    for c in AgencyRepository(session).capacities(agency_ids, start, end):
        capacity[c.agency_id].append(c)
    enterprises = {
        e.id: enterprise_from_row(e) for e in EnterpriseRepository(session).facts(ent_ids)
    }
    policies = {
        PolicyId(p.id): policy_from_row(p)
        for p in PolicyRepository(session).by_ids(e.quiet_policy for e in enterprises.values())
    }
    settings = SettingRepository(session)
    calendar, provisional = working_calendar(session, range(start.year, end.year + 1))

    def published_here(p: PlanFacts) -> bool:
        return (
            p.status == PlanStatus.PUBLISHED
            and p.published_date is not None
            and start <= p.published_date <= end
        )

    ordered = [
        p
        for p in (got.plans[k] for k in sorted(got.plans))
        if p.id in got.in_scope or published_here(p)
    ]
    instance = Instance(
        name=f"run-{run.id}",
        horizon=Horizon(start, end),
        calendar=calendar,
        quiet_policies=dict(sorted(policies.items())),
        caps=caps_from_setting(settings.value(CAPS_SETTING)),
        agencies={
            AgencyId(a.id): agency_from_row(a, capacity[a.id])
            for a in sorted(agency_rows, key=lambda a: a.id)
        },
        enterprises={EnterpriseId(k): v for k, v in sorted(enterprises.items())},
        inspections=tuple(plan_to_inspection(p) for p in ordered),
        history=tuple(ordered_history),
        pinned=tuple(
            Pin(inspection_id(p.id), p.published_date)
            for p in ordered
            if published_here(p) and p.published_date is not None
        ),
        previous={
            inspection_id(p.id): p.draft_date
            for p in ordered
            if p.draft_date is not None
            and p.status != PlanStatus.PUBLISHED
            and start <= p.draft_date <= end
        },
    )
    sealed = VisitRepository(session).checked_in(
        p.visit_id for p in ordered if published_here(p) and p.visit_id is not None
    )
    record = {
        inspection_id(p.id)
        for p in ordered
        if published_here(p)
        and (
            (p.published_date is not None and p.published_date <= asked_on) or p.visit_id in sealed
        )
    }
    in_scope = {inspection_id(pid) for pid in got.in_scope}
    instance, freed, kept = _settle_pins(instance, record=record, in_scope=in_scope)
    versions = {
        pid: got.plans[pid].version
        for pid in sorted(got.in_scope)
        if inspection_id(pid) not in kept
    }
    return Built(
        instance, versions, sorted(provisional), sorted(p for i in freed if (p := plan_id_of(i)))
    )


def _settle_pins(
    instance: Instance, *, record: set[InspectionId], in_scope: set[InspectionId]
) -> tuple[Instance, set[InspectionId], set[InspectionId]]:
    """Published plans the rules no longer allow where they are (a notice made their day off,
    a blackout date or a check-in came since): a plan of the record (dated on or before the
    day the run was asked for, or in a visit with a check-in) becomes history as it stands; any
    other is no longer pinned: in scope it is free for this run to place anew (`freed`, which
    publishing may move), out of scope it is left out. Returns the settled instance, the freed
    and the kept-as-history inspections."""
    freed: set[InspectionId] = set()
    kept: set[InspectionId] = set()
    while problems := pin_problems(instance):
        bad = {InspectionId(str(p.record)) for p in problems}
        of = {i.id: i for i in instance.inspections if i.id in bad}
        as_history = {i for i in bad if i in record}
        dropped = as_history | {i for i in bad - record if i not in in_scope}
        kept |= as_history
        freed |= bad - record - dropped
        day = {p.inspection: p.date for p in instance.pinned}
        instance = replace(
            instance,
            pinned=tuple(p for p in instance.pinned if p.inspection not in bad),
            inspections=tuple(i for i in instance.inspections if i.id not in dropped),
            history=tuple(
                sorted(
                    [
                        *instance.history,
                        *(
                            HistoryEntry(of[i].enterprise, of[i].agency, day[i], of[i].kind)
                            for i in sorted(as_history)
                        ),
                    ],
                    key=lambda h: (h.date, h.enterprise, h.agency, h.kind.value),
                )
            ),
        )
    return instance, freed, kept


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def run_document(session: Session, run_id: int, which: str) -> bytes:
    """The stored `instance` or `solution` of a run, as gzip-compressed JSON."""
    run = RunRepository(session).get_or_raise(run_id)
    blob = run.instance_gz if which == "instance" else run.solution_gz
    if blob is None:
        raise ConflictError(
            f"排期运行 {run_id} 还没有{'实例' if which == 'instance' else '解'}", code="not_ready"
        )
    return blob


def cancel_run(session: Session, run_id: int) -> RunRow:
    repo = RunRepository(session)
    run = repo.lock(run_id)
    before = _state(run)
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.CANCELLED
        run.finished_at = utcnow()
        run.message = "已取消"
    elif run.status == RunStatus.RUNNING:
        run.cancel_requested = True
        run.message = "正在取消"
    else:
        return run
    repo.add(run)
    record(session, "run.cancel", f"run:{run_id}", diff(before, _state(run)))
    return run


def _state(run: RunRow) -> dict[str, Any]:
    return run.model_dump(include={"status", "cancel_requested", "finished_at", "error"})


def recover_runs(engine: Engine) -> list[int]:
    """After a restart: runs left running died with the old process; queued ones go again."""
    with session_scope(engine, actor=RUNNER) as session:
        repo = RunRepository(session)
        queued: list[int] = []
        for run in repo.list(limit=10_000, after=None):
            if run.status == RunStatus.RUNNING:
                before = _state(run)
                run.status = RunStatus.FAILED
                run.error = "服务重启,运行中断,请重新提交"
                run.finished_at = utcnow()
                repo.add(run)
                record(session, "run.finish", f"run:{run.id}", diff(before, _state(run)))
            elif run.status == RunStatus.QUEUED:
                queued.append(int(run.id or 0))
        return sorted(queued)


def _set_progress(engine: Engine, run_id: int, progress: float, message: str) -> None:
    with session_scope(engine) as session:
        RunRepository(session).set_progress(run_id, progress, message)


def fail_run(session: Session, run_id: int, *, message: str, error: str) -> None:
    """Record a run as failed (an invalid instance, a crash, a lost worker)."""
    repo = RunRepository(session)
    run = repo.get_or_raise(run_id)
    before = _state(run)
    run.status, run.finished_at, run.message, run.error = RunStatus.FAILED, utcnow(), message, error
    repo.add(run)
    record(session, "run.finish", f"run:{run_id}", diff(before, _state(run)))


def _fail(engine: Engine, run_id: int, *, message: str, error: str) -> None:
    with session_scope(engine, actor=RUNNER) as session:
        fail_run(session, run_id, message=message, error=error)


class _Watch:
    """A solve's companion thread: every second it reads whether the run was asked to stop and
    writes the run's progress (not a change the audit log keeps): the share the solver last
    said it had done or, with a wall-clock time limit, the share of it spent, whichever is
    more, never going back; and the solver's last word, in Chinese."""

    def __init__(
        self, engine: Engine, run_id: int, *, budget: float | None, clock: Callable[[], float]
    ) -> None:
        self.engine, self.run_id, self.budget, self.clock = engine, run_id, budget, clock
        self.started = clock()
        self.latest: Progress | None = None
        self.shown = 0.0
        self.cancel, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def report(self, progress: Progress) -> None:
        self.latest = progress

    def __enter__(self) -> _Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _now(self) -> tuple[float, str]:
        spent = self.clock() - self.started
        latest = self.latest
        share = latest.done if latest is not None and latest.done is not None else 0.0
        if self.budget:
            share = max(share, min(_TIME_SHARE_CAP, spent / self.budget))
        self.shown = max(self.shown, min(_SOLVING_CAP, share))
        said = f": {latest.message}" if latest is not None and latest.message else ""
        return round(self.shown, 3), f"求解中,已用 {spent:.0f} 秒{said}"[:200]

    def _loop(self) -> None:
        written: tuple[float, str] | None = None
        while not self.done.wait(_POLL):
            with session_scope(self.engine) as session:
                runs = RunRepository(session)
                if runs.cancel_requested(self.run_id) is not False:
                    self.cancel.set()
                now = self._now()
                if now != written:
                    runs.set_progress(self.run_id, *now)
                    written = now


def execute_run(
    engine: Engine,
    run_id: int,
    *,
    retry: bool = False,
    clock: Callable[[], float] = time.monotonic,
    pool: JobPool | None = None,
    part_size: int = DEFAULT_PART_SIZE,
) -> None:
    """The worker's whole job for one run; every outcome is recorded on the run, none raised.

    `retry`: the queue hands the job again because the worker that had it died; a run it left
    running starts over, on the instance that worker stored if it got that far. `pool`: where a
    decomposed solve's parts run (default: in this process), and how large they may be."""
    with session_scope(engine, actor=RUNNER) as session:
        run = RunRepository(session).lock(run_id)
        again = retry and run.status == RunStatus.RUNNING
        if run.status != RunStatus.QUEUED and not again:
            return
        run.status = RunStatus.RUNNING
        run.started_at = utcnow()
        run.message = "读取计划"
        session.add(run)
        record(
            session,
            "run.retry" if again else "run.start",
            f"run:{run_id}",
            {"started_at": run.started_at},
        )
    try:
        _execute(engine, run_id, clock, pool, part_size)
    except InstanceError as exc:
        _fail(engine, run_id, message="实例无效",
              error="\n".join(str(p) for p in exc.problems[:50]))  # fmt: skip
    except Exception as exc:
        log.exception("run %s failed", run_id)
        _fail(engine, run_id, message="运行出错", error=f"{type(exc).__name__}: {exc}")


def _execute(
    engine: Engine,
    run_id: int,
    clock: Callable[[], float],
    pool: JobPool | None,
    part_size: int,
) -> None:
    with session_scope(engine) as session:
        repo = RunRepository(session)
        run = repo.get_or_raise(run_id)
        stored = run.instance_gz
        if stored is None:
            instance, versions, run.provisional_years, run.freed_plans = build_instance(
                session, run
            )
            run.instance_gz = _gz(dump_instance(instance))
            repo.add_plans(run_id, versions)
        else:
            instance = parse_instance(gzip.decompress(stored))
            versions = repo.plan_versions(run_id)
        run.message = "求解中"
        session.add(run)
        config = SolverConfig(
            time_limit=run.time_limit,
            workers=run.workers,
            seed=run.seed,
            deterministic=run.deterministic,
            part_size=part_size,
        )
    watch = _Watch(
        engine, run_id, budget=None if config.deterministic else config.time_limit, clock=clock
    )
    with watch:
        result = solve(
            instance, config, on_progress=watch.report, cancel=watch.cancel, clock=clock, pool=pool
        )
    _set_progress(engine, run_id, _SOLVING_CAP, "求解完成,校验并保存结果")
    violations = find_violations(instance, result.solution)
    if violations:
        raise RuntimeError(
            "solver output breaks rules: " + "; ".join(str(v) for v in violations[:5])
        )
    _store_result(
        engine,
        run_id,
        result.solution,
        result.metrics,
        versions,
        cancelled=result.status == Status.CANCELLED,
    )


def _store_result(
    engine: Engine,
    run_id: int,
    solution: Solution,
    m: Metrics,
    versions: dict[int, int],
    *,
    cancelled: bool,
) -> None:
    stats = solution.stats
    dates = {plan_id_of(i): v.date for v in solution.visits for i in v.inspections}
    reasons = {plan_id_of(u.inspection): u for u in solution.unscheduled}
    with session_scope(engine, actor=RUNNER) as session:
        runs = RunRepository(session)
        run = runs.get_or_raise(run_id)
        run.solution_gz = _gz(dump_solution(solution))
        run.summary = {
            "inspections": m.inspections,
            "scheduled": m.scheduled,
            "total_priority": m.total_priority,
            "visits": m.visits,
            "joint_visits": m.joint_visits,
            "joint_rate": round(m.joint_rate, 4),
            "unscheduled_by_reason": dict(m.unscheduled_by_reason),
            "visits_lower_bound": (stats.extra.get("visits_lower_bound") if stats else None),
            "solver_status": stats.status.value if stats else None,
            "wall_seconds": stats.wall_seconds if stats else None,
        }
        runs.store_outcomes(
            run_id,
            [
                PlanOutcome(
                    pid,
                    version,
                    dates.get(pid),
                    reasons[pid].reason.value if pid in reasons else None,
                    reasons[pid].detail if pid in reasons else None,
                )
                for pid, version in versions.items()
            ],
        )
        run.status = RunStatus.CANCELLED if cancelled else RunStatus.SUCCEEDED
        run.progress = 1.0
        run.finished_at = utcnow()
        run.message = "已取消(保留已找到的排期)" if cancelled else "完成"
        session.add(run)
        session.flush()
        record(
            session,
            "run.finish",
            f"run:{run_id}",
            {
                "status": run.status,
                "summary": run.summary,
                "instance": _digest_blob(run.instance_gz),
                "solution": _digest_blob(run.solution_gz),
            },
        )


def _digest_blob(blob: bytes | None) -> str | None:
    """The SHA-256 of a stored document (as JSON, not its gzip bytes): the log pins it."""
    return hashlib.sha256(gzip.decompress(blob)).hexdigest() if blob is not None else None


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
class _Sorted:
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
) -> _Sorted:
    """`seen`: the version of each plan the run saw. A published plan stays where it is (the
    run pinned those in its horizon; the rest are history) unless it is `displaced` (its day
    became a day off), and a visit with a check-in stays as it is."""
    out = _Sorted()

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
    solution = parse_solution(gzip.decompress(run.solution_gz or b""))
    _calendar_unchanged(session, run, solution)
    seen = {rp.plan_id: rp.version for rp in runs.plans(run_id)}
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
    groups = sorted_.groups
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
