"""A run from its request to its end: created (validated, queued), cancelled, failed, recovered
after a restart; its stored documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from quietday.domain.limits import MAX_HORIZON_DAYS
from quietday.domain.status import RunStage, RunStatus
from quietday.errors import ConflictError, InputError, Problem
from quietday.persistence import Engine, Session, session_scope
from quietday.persistence.registry import (
    RegionRepository,
)
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import RunRow, utcnow
from quietday.planning.audit import diff, record
from quietday.planning.calendar import provisional_years
from quietday.planning.keys import Actor

__all__ = [
    "RUNNER",
    "RunRequest",
    "cancel_run",
    "create_run",
    "fail_run",
    "record_failure",
    "recover_runs",
    "run_document",
]

RUNNER = "runner"  # the actor of what the worker records in the audit log


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
        run.status, run.stage = RunStatus.CANCELLED, RunStage.DONE
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
                run.status, run.stage = RunStatus.FAILED, RunStage.DONE
                run.error = "服务重启,运行中断,请重新提交"
                run.finished_at = utcnow()
                repo.add(run)
                record(session, "run.finish", f"run:{run.id}", diff(before, _state(run)))
            elif run.status == RunStatus.QUEUED:
                queued.append(int(run.id or 0))
        return sorted(queued)


def fail_run(session: Session, run_id: int, *, message: str, error: str) -> None:
    """Record a run as failed (an invalid instance, a crash, a lost worker)."""
    repo = RunRepository(session)
    run = repo.get_or_raise(run_id)
    before = _state(run)
    run.status, run.finished_at, run.message, run.error = RunStatus.FAILED, utcnow(), message, error
    run.stage = RunStage.DONE
    repo.add(run)
    record(session, "run.finish", f"run:{run_id}", diff(before, _state(run)))


def record_failure(engine: Engine, run_id: int, *, message: str, error: str) -> None:
    """`fail_run` in a unit of work of its own, by the runner (what the worker does on a crash)."""
    with session_scope(engine, actor=RUNNER) as session:
        fail_run(session, run_id, message=message, error=error)
