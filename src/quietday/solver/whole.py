"""One problem solved as a whole: candidates, greedy, local search, CP-SAT, explanations, figures.

With `method="cpsat"` the greedy schedule is polished by local search, then CP-SAT improves it:
one model of the whole problem when it is small enough to be searched (and possibly proved
optimal), otherwise neighbourhoods of a few enterprises at a time; a last local-search pass
places anything the search left free. Every stage starts from the previous schedule and keeps
it unless it finds a lexicographically better one, so a solve never ends below its greedy.

OR-Tools is imported only when a search starts (`_improve`): its Python layer loads pandas and
numpy (0.65 s and 80 MB on a quiet machine here), which a process that never searches (the web
app, `quietday check`, a greedy solve) does not need. Worker processes get it from the pool's
preloading (`quietday.solver.pool`). A process without it that has less time left after the
first local search than loading it takes makes no search (a county solved in a few seconds).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from quietday.domain.assemble import visits_from
from quietday.domain.bounds import visits_lower_bound
from quietday.domain.check import Metrics, measure, measure_assignment
from quietday.domain.explain import explain_unscheduled
from quietday.domain.model import InspectionId, Instance, Solution, SolveStats, Status
from quietday.domain.state import ScheduleState
from quietday.solver.config import (
    Progress,
    ProgressFn,
    SolverConfig,
    SolveResult,
    config_summary,
)
from quietday.solver.greedy import greedy
from quietday.solver.local import Schedule, polish
from quietday.solver.prepare import Prepared, prepare

if TYPE_CHECKING:
    from quietday.solver.cpsat import CpSatOutcome

__all__ = [
    "WHOLE_MODEL_CANDIDATES",
    "Scheduled",
    "gaps",
    "metrics_of",
    "objective_key",
    "schedule",
    "solve_whole",
    "summary",
]

# Wall time kept back for the explanations and the solution file.
_RESERVE_SHARE, _RESERVE_MAX = 0.1, 5.0
# Share of the budget the first local search may use before CP-SAT starts.
_POLISH_SHARE = 0.4
# Up to this many candidate (inspection, day) pairs one CP-SAT model holds the whole problem.
# Above it, CP-SAT's tree search over thousands of nearly independent enterprises stalls
# (measured: 20 random enterprises already not proved optimal in 5 s) and presolve alone eats
# the budget (260k pairs: 43 s on 2 cores), so neighbourhoods of a few enterprises are solved.
WHOLE_MODEL_CANDIDATES = 20_000
# Polishing stops when a round changes nothing; this bounds it in deterministic mode.
_POLISH_ROUNDS = 8
# Loading OR-Tools, in a process that has not (a pool's workers are forked with it loaded):
# 0.65 s here. With less time than that left, a search would end before it began.
_LOAD_SECONDS = 0.65


def metrics_of(instance: Instance, assignment: Mapping[InspectionId, date]) -> Metrics:
    """The objective's figures of an assignment (no explanations needed)."""
    return measure_assignment(instance, assignment)


def objective_key(m: Metrics) -> tuple[int, int, int]:
    return (m.total_priority, -m.visits, -m.moved)


def summary(m: Metrics) -> dict[str, int]:
    return {
        "scheduled": m.scheduled,
        "total_priority": m.total_priority,
        "visits": m.visits,
        "moved": m.moved,
    }


def gaps(
    visits: int, lower_bound: int, objective: float | None = None, bound: float | None = None
) -> dict[str, float | None]:
    """How far a schedule may be from the best: visits over their lower bound, and where
    CP-SAT proved a bound, the objective's relative distance to it (both 0 when proved)."""
    return {
        "visits_gap": round(visits / lower_bound - 1, 4) if lower_bound else 0.0,
        "objective_gap": (
            round(abs(objective - bound) / max(1.0, abs(objective)), 6)
            if objective is not None and bound is not None
            else None
        ),
    }


def _whole_status(outcome: CpSatOutcome, config: SolverConfig) -> Status:
    if outcome.stopped_by_cancel:
        return Status.CANCELLED
    if outcome.proven_optimal:
        return Status.OPTIMAL
    if outcome.status not in ("FEASIBLE", "UNKNOWN"):
        raise RuntimeError(f"CP-SAT answered {outcome.status} on a model that is always feasible")
    gap_reached = (
        config.relative_gap > 0
        and outcome.objective is not None
        and outcome.bound is not None
        and abs(outcome.objective - outcome.bound)
        <= config.relative_gap * max(1.0, abs(outcome.objective))
    )
    return Status.FEASIBLE if gap_reached else Status.TIME_LIMIT


# Each phase of one solve: the share of the solve done at its end (the search takes most of
# the time limit) and what a person is told of it.
_PHASES = {
    "prepare": (0.02, "候选日期已算出"),
    "greedy": (0.05, "贪心初排完成"),
    "polish": (0.2, "局部搜索完成"),
    "build": (0.25, "模型已建好,开始求解"),
    "search": (0.9, "求解完成"),
    "finish": (0.97, "收尾完成"),
    "explain": (1.0, "未排原因已说明"),
}


class _Run:
    """The figures and clock of one solve."""

    def __init__(
        self, config: SolverConfig, clock: Callable[[], float], on_progress: ProgressFn | None
    ) -> None:
        self.config = config
        self.clock = clock
        self.on_progress = on_progress
        self.started = clock()
        self.mark = self.started
        self.timings: dict[str, float] = {}
        self.extra: dict[str, Any] = {"method": config.method}
        reserve = min(_RESERVE_MAX, _RESERVE_SHARE * config.time_limit)
        self.deadline = self.started + config.time_limit - reserve

    def phase(self, name: str, message: str = "") -> None:
        now = self.clock()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now
        if self.on_progress is not None:
            done, said = _PHASES[name]
            self.on_progress(
                Progress(phase=name, seconds=now - self.started, message=message or said, done=done)
            )

    def left(self) -> float:
        return self.deadline - self.clock()


def _or_tools_loaded() -> bool:
    return "ortools.sat.python.cp_model" in sys.modules


def _search(
    run: _Run,
    prepared: Prepared,
    current: dict[InspectionId, date],
    cancel: threading.Event | None,
) -> tuple[dict[InspectionId, date] | None, Status, float | None]:
    """CP-SAT from `current`: one model of the whole problem when it is small enough,
    otherwise neighbourhoods of a few enterprises at a time. What it found (None: nothing),
    the status and the proved bound."""
    config = run.config
    # Only now: OR-Tools is loaded by a process that searches (see the module's docstring).
    from quietday.solver.cpsat import add_hint, build, search  # noqa: PLC0415
    from quietday.solver.lns import improve  # noqa: PLC0415
    from quietday.solver.model import Subproblem  # noqa: PLC0415

    status = Status.TIME_LIMIT
    bound: float | None = None
    found: dict[InspectionId, date] | None
    if prepared.candidate_count <= WHOLE_MODEL_CANDIDATES:
        run.extra["strategy"] = "whole"
        built = build(Subproblem.whole(prepared))
        add_hint(built, current)
        run.phase("build")
        outcome = search(
            built, config, seconds=run.left(), on_progress=run.on_progress, cancel=cancel
        )
        status = _whole_status(outcome, config)
        bound = outcome.bound
        found = outcome.assignment
        run.extra.update(
            objective=outcome.objective,
            objective_weights={
                "priority": built.objective.w_priority,
                "visits": built.objective.w_visits,
                "moved": 1,
            },
            priority_upper_bound=outcome.priority_bound,
            cpsat_status=outcome.status,
        )
    else:
        run.extra["strategy"] = "neighbourhoods"
        # Deterministic mode spends deterministic time, never what the wall clock left over.
        budget = config.time_limit if config.deterministic else max(0.0, run.left() * 0.8)
        found, lns = improve(
            prepared,
            current,
            config,
            seconds=budget,
            on_progress=run.on_progress,
            cancel=cancel,
            clock=run.clock,
        )
        if cancel is not None and cancel.is_set():
            status = Status.CANCELLED
        run.extra["neighbourhoods"] = {
            "iterations": lns.iterations,
            "accepted": lns.accepted,
            "improved": lns.improved,
        }
        run.timings["neighbourhood_build"] = lns.build_seconds
        run.timings["neighbourhood_search"] = lns.search_seconds
    return found, status, bound


def _improve(
    run: _Run,
    prepared: Prepared,
    start: dict[InspectionId, date],
    cancel: threading.Event | None,
    finish: bool,
) -> tuple[dict[InspectionId, date], Status, float | None, ScheduleState | None]:
    """Local search, then CP-SAT (whole model or neighbourhoods), then a last local search
    (with its finishing pass when `finish`; the first one's is left to the last). With the
    schedule, its status and bound, the last local search's rule state of it."""
    config = run.config
    instance = prepared.instance

    def stop_polish(limit: float) -> Callable[[], bool]:
        if config.deterministic:
            return lambda: cancel is not None and cancel.is_set()
        return lambda: run.clock() > limit or (cancel is not None and cancel.is_set())

    if not config.deterministic and run.left() <= 0:
        # The greedy used the time up (a large part of a province with a short limit): no
        # search, straight to the finishing pass, which places what fits (none for a part of a
        # longer solve: its unit's repair pass does that).
        run.extra["strategy"] = "out_of_time"
        if not finish:
            run.phase("finish")
            return dict(start), Status.TIME_LIMIT, None, None
        finished = polish(prepared, start, rounds=0)
        run.phase("finish")
        return finished.assignment, Status.TIME_LIMIT, None, finished.state

    polish_until = run.clock() + _POLISH_SHARE * run.left()
    polished = polish(
        prepared,
        start,
        rounds=_POLISH_ROUNDS,
        should_stop=stop_polish(polish_until),
        finish=False,
    )
    current, report = polished.assignment, polished.report
    run.extra["local_search"] = {
        "filled": report.filled,
        "relieved": report.relieved,
        "merged": report.merged,
        "rounds": report.rounds,
    }
    m = metrics_of(instance, current)
    run.phase("polish", f"局部搜索: 已排优先级 {m.total_priority}, 入企 {m.visits} 次")

    rounds = 0
    resume: dict[InspectionId, date] | Schedule
    if config.deterministic or run.left() > (0.0 if _or_tools_loaded() else _LOAD_SECONDS):
        del polished  # not the searched schedule's: no need to keep its indexes meanwhile
        found, status, bound = _search(run, prepared, current, cancel)
        run.phase("search")
        if found is not None and objective_key(metrics_of(instance, found)) >= objective_key(m):
            current = found
        resume = current
        rounds = 2
    else:
        # Less time left than loading OR-Tools takes: a search could not change anything, and
        # the polish has had its rounds; only the finishing pass is left.
        run.extra["strategy"] = "no_search"
        status, bound = Status.TIME_LIMIT, None
        resume = polished.schedule
    final = polish(
        prepared, resume, rounds=rounds, should_stop=stop_polish(run.deadline), finish=finish
    )
    run.phase("finish")
    return final.assignment, status, bound, final.state


@dataclass(frozen=True)
class Scheduled:
    """An assignment before explanations: what a whole solve and a decomposed part both make."""

    assignment: dict[InspectionId, date]
    status: Status
    bound: float | None
    greedy: dict[InspectionId, date]
    greedy_metrics: Metrics
    timings: dict[str, float]
    extra: dict[str, Any]
    started: float
    prepared: Prepared
    # The rule state of `assignment` when the last local search left one (not to be changed).
    state: ScheduleState | None


def schedule(
    instance: Instance,
    config: SolverConfig,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    finish: bool = True,
) -> Scheduled:
    """Greedy, then (for `cpsat`) local search and CP-SAT: every placed inspection's date.
    Without `finish`, the last local search may leave what fits unplaced when time is up: for
    a part, whose unit's repair pass places it."""
    run = _Run(config, clock, on_progress)
    prepared = prepare(instance)
    run.phase("prepare")
    greedy_assignment = greedy(prepared)
    greedy_metrics = metrics_of(instance, greedy_assignment)
    run.phase(
        "greedy",
        f"贪心: 已排优先级 {greedy_metrics.total_priority}, 入企 {greedy_metrics.visits} 次",
    )
    run.extra["greedy"] = summary(greedy_metrics)
    run.extra["model"] = {"candidates": prepared.candidate_count, "free": len(prepared.free)}

    assignment, status, bound, state = greedy_assignment, Status.FEASIBLE, None, None
    if config.method == "cpsat":
        assignment, status, bound, state = _improve(
            run, prepared, greedy_assignment, cancel, finish
        )
    return Scheduled(
        assignment,
        status,
        bound,
        greedy_assignment,
        greedy_metrics,
        run.timings,
        run.extra,
        run.started,
        prepared,
        state,
    )


def solve_whole(
    instance: Instance,
    config: SolverConfig,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SolveResult:
    """Schedule `instance` as one problem, explain what is left, and measure the result."""
    done = schedule(instance, config, on_progress=on_progress, cancel=cancel, clock=clock)
    assignment = done.assignment
    mark = clock()
    unscheduled = explain_unscheduled(instance, assignment, state=done.state)
    visits = visits_from(instance, assignment)
    done.timings["explain"] = round(clock() - mark, 3)
    if on_progress is not None:
        said_done, said = _PHASES["explain"]
        on_progress(
            Progress(phase="explain", seconds=clock() - done.started, message=said, done=said_done)
        )
    solution = Solution(instance.name, visits, tuple(unscheduled))
    metrics = measure(instance, solution)
    lower = visits_lower_bound(instance, assignment)
    extra = done.extra
    extra.update(
        total_priority=metrics.total_priority,
        possible_priority=metrics.possible_priority,
        joint_visits=metrics.joint_visits,
        moved=metrics.moved,
        visits_lower_bound=lower,
        **gaps(metrics.visits, lower, extra.get("objective"), done.bound),
        unscheduled_by_reason=dict(metrics.unscheduled_by_reason),
        config=config_summary(config),
        timings=None if config.deterministic else dict(done.timings),
    )
    stats = SolveStats(
        status=done.status,
        scheduled=metrics.scheduled,
        visits=metrics.visits,
        wall_seconds=None if config.deterministic else round(clock() - done.started, 3),
        objective_bound=done.bound,
        extra=extra,
    )
    return SolveResult(
        solution=Solution(instance.name, visits, tuple(unscheduled), stats),
        status=done.status,
        metrics=metrics,
        greedy_metrics=done.greedy_metrics,
        visits_lower_bound=lower,
        timings=done.timings,
    )
