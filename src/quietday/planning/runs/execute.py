"""A run solved: the instance built (or read back on a retry), solved outside the request with
its progress and cancel watched every second, checked, and its results stored."""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections.abc import Callable

from quietday.domain.check import Metrics, find_violations
from quietday.domain.model import (
    Solution,
    Status,
)
from quietday.domain.status import RunStage, RunStatus
from quietday.errors import InstanceError
from quietday.formats import (
    dump_instance,
    dump_solution,
    parse_instance,
)
from quietday.persistence import Engine, session_scope
from quietday.persistence.mapping import (
    plan_id_of,
)
from quietday.persistence.runs import PlanOutcome, RunRepository
from quietday.persistence.tables import utcnow
from quietday.planning.audit import record
from quietday.planning.runs.instance import build_instance
from quietday.planning.runs.lifecycle import RUNNER, record_failure
from quietday.solver import DEFAULT_PART_SIZE, JobPool, Progress, SolverConfig, solve

__all__ = ["execute_run"]

log = logging.getLogger(__name__)
_POLL = 1.0  # how often a solving run reads its cancel flag and writes its progress
# Progress while solving: the share of a wall-clock time limit spent counts up to 95 %; the
# solver's own word up to 99 % (checking and storing the result come after). The share solved
# is shown between the instance built and the check: 0-5 % building, 5-95 % solving, then the
# check (96 %) and storing the result (98 %).
_TIME_SHARE_CAP, _SOLVING_CAP = 0.95, 0.99
_BUILT, _SOLVED, _CHECKING, _STORING = 0.05, 0.95, 0.96, 0.98


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def _set_progress(
    engine: Engine, run_id: int, progress: float, message: str, stage: RunStage
) -> None:
    with session_scope(engine) as session:
        RunRepository(session).set_progress(run_id, progress, message, stage)


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
        shown = _BUILT + (_SOLVED - _BUILT) * self.shown
        return round(shown, 3), f"求解中,已用 {spent:.0f} 秒{said}"[:200]

    def _loop(self) -> None:
        written: tuple[float, str] | None = None
        while not self.done.wait(_POLL):
            with session_scope(self.engine) as session:
                runs = RunRepository(session)
                if runs.cancel_requested(self.run_id) is not False:
                    self.cancel.set()
                now = self._now()
                if now != written:
                    runs.set_progress(self.run_id, *now, RunStage.SOLVE)
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
        run.stage, run.progress, run.message = RunStage.BUILD, 0.01, "读取计划,构建排期实例"
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
        record_failure(engine, run_id, message="实例无效",
              error="\n".join(str(p) for p in exc.problems[:50]))  # fmt: skip
    except Exception as exc:
        log.exception("run %s failed", run_id)
        record_failure(engine, run_id, message="运行出错", error=f"{type(exc).__name__}: {exc}")


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
        run.stage, run.progress = RunStage.SOLVE, _BUILT
        run.message = (
            f"实例已建好: {len(instance.inspections):,} 项检查、"
            f"{len(instance.enterprises):,} 家企业,开始求解"
        )
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
    _set_progress(engine, run_id, _CHECKING, "求解完成,校验排期是否合规", RunStage.CHECK)
    violations = find_violations(instance, result.solution, placement=result.placement_violations)
    if violations:
        raise RuntimeError(
            "solver output breaks rules: " + "; ".join(str(v) for v in violations[:5])
        )
    _set_progress(engine, run_id, _STORING, "校验通过,保存排期结果", RunStage.STORE)
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
        run.progress, run.stage = 1.0, RunStage.DONE
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
