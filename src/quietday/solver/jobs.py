"""The decomposed solve's units of work, each a pure function of a picklable job, so that it
can run in this process, in a worker process of this machine, or on another machine's worker
(`quietday.planning.parts`): a part of one quarter solved whole (`solve_part`), and a unit's
last stage (`finish_unit`). `run_job` runs a job by its kind's name."""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from quietday.domain.assemble import visits_from
from quietday.domain.bounds import visits_lower_bound
from quietday.domain.check import Metrics, Violation, measure_assignment, placement_violations
from quietday.domain.explain import explain_unscheduled
from quietday.domain.model import InspectionId, Instance, Unscheduled, Visit
from quietday.domain.state import ScheduleState
from quietday.solver.config import SolverConfig
from quietday.solver.greedy import greedy
from quietday.solver.local import polish
from quietday.solver.prepare import Prepared, prepare
from quietday.solver.whole import gaps, metrics_of, objective_key, schedule

__all__ = [
    "JobKind",
    "PartDone",
    "PartJob",
    "UnitDone",
    "UnitJob",
    "finish_unit",
    "for_solving",
    "peak_rss_mib",
    "run_job",
    "solve_part",
]

JobKind = Literal["part", "unit"]

_REPAIR_ROUNDS = 4

# The cyclic collector's thresholds in a process that solves: generation 0 after 100,000 new
# objects instead of 700, the older ones less often. Such a process holds a province's instance
# for its whole life and frees a schedule's objects by reference counting; collecting walked the
# instance again and again (one 26,000-inspection part 22.1 -> 19.0 s, building a run's
# instance 5.1 -> 3.0 s, checking its schedule 4.9 -> 3.7 s).
_GC_THRESHOLDS = (100_000, 50, 100)


def for_solving() -> None:
    """Set this process's garbage collector for solving: call it where such a process starts."""
    gc.set_threshold(*_GC_THRESHOLDS)


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class PartJob:
    label: str
    instance: Instance
    config: SolverConfig
    # The unit this part is, whole (a one-quarter solve, the part's component uncut: its
    # problem is the unit's), with the unit's repair seconds: the part then finishes as that
    # unit in the same job, without a second process, instance and preparation.
    unit: str | None = None
    unit_seconds: float = 0.0


@dataclass(frozen=True)
class PartDone:
    label: str
    assignment: dict[InspectionId, date]
    greedy: dict[InspectionId, date]
    figures: dict[str, Any]
    unit: UnitDone | None = None


def solve_part(job: PartJob) -> PartDone:
    """In a worker process: one part of one quarter, solved whole, explanations left out; its
    last local search is not finished (its unit's repair pass finishes the schedule), unless
    the part is its unit (`job.unit`): then that search is the unit's repair pass, and the
    unit is finished here."""
    began = time.monotonic()
    inst = job.instance
    done = schedule(inst, job.config, finish=job.unit is not None)
    metrics = metrics_of(inst, done.assignment)
    free = [i for i in done.assignment if i not in inst.pins]
    lower = visits_lower_bound(inst, done.assignment)
    figures: dict[str, Any] = {
        "part": job.label,
        "inspections": len(inst.inspections),
        "candidates": done.extra["model"]["candidates"],
        "strategy": done.extra.get("strategy", "greedy"),
        "greedy": done.extra["greedy"],
        "scheduled": metrics.scheduled,
        "total_priority": metrics.total_priority,
        "visits": metrics.visits,
        "visits_lower_bound": lower,
        **gaps(metrics.visits, lower, done.extra.get("objective"), done.bound),
        "new_placed": len(free),
        "status": done.status.value,
        "objective_bound": done.bound,
        "priority_upper_bound": done.extra.get("priority_upper_bound"),
        "time_limit": job.config.time_limit,
        "timings": None if job.config.deterministic else done.timings,
        "seconds": None if job.config.deterministic else round(time.monotonic() - began, 3),
        "peak_rss_mib": None if job.config.deterministic else peak_rss_mib(),
    }
    unit = None
    if job.unit is not None:
        own = UnitJob(job.unit, inst, done.assignment, job.unit_seconds, job.config, done.greedy)
        unit = _finished(own, done.prepared, repaired=True, state=done.state)
    return PartDone(job.label, done.assignment, done.greedy, figures, unit)


@dataclass(frozen=True)
class UnitJob:
    label: str
    instance: Instance
    assignment: dict[InspectionId, date]
    seconds: float
    config: SolverConfig
    # The unit's greedy when a part already made it: the unit is that part, uncut, and the
    # horizon one quarter, so the part's problem was the unit's.
    greedy: dict[InspectionId, date] | None


@dataclass(frozen=True)
class UnitDone:
    label: str
    visits: tuple[Visit, ...]
    unscheduled: list[Unscheduled]
    metrics: Metrics
    lower_bound: int
    greedy: Metrics
    figures: dict[str, Any]
    # The placement rules' violations of the unit's schedule (none, unless the solver errs).
    violations: tuple[Violation, ...]


def finish_unit(job: UnitJob) -> UnitDone:
    """In a worker process, one unit on its real capacities and whole horizon: the greedy
    (units are independent, so the greedies of all units are exactly the greedy of the whole
    problem), the repair pass on the parts' schedule (`job.seconds` of it), the better of the
    two, explanations, visits and figures (each unit's add up to the whole's)."""
    return _finished(job, None, repaired=False)


def _finished(
    job: UnitJob,
    prepared: Prepared | None,
    *,
    repaired: bool,
    state: ScheduleState | None = None,
) -> UnitDone:
    """`finish_unit`, with the unit's preparation when its part's job already made it, and
    without the repair pass when that job's last local search was it (`repaired`; `state`:
    the rule state that search left, if any)."""
    began = time.monotonic()
    inst, config = job.instance, job.config
    timings: dict[str, float] = {}

    def lap(phase: str) -> None:
        timings[phase] = round(time.monotonic() - began - sum(timings.values()), 3)

    deterministic = config.deterministic
    prepared = prepare(inst) if prepared is None else prepared
    lap("prepare")
    base = greedy(prepared) if job.greedy is None else job.greedy
    base_metrics = measure_assignment(inst, base)
    lap("greedy")
    best, filled, relieved, merged = base, 0, 0, 0
    if repaired:
        best = job.assignment
    elif config.method == "cpsat":
        stop_at = time.monotonic() + job.seconds
        repair = polish(
            prepared,
            job.assignment,
            rounds=_REPAIR_ROUNDS,
            should_stop=lambda: not deterministic and time.monotonic() > stop_at,
        )
        report = repair.report
        filled, relieved, merged = report.filled, report.relieved, report.merged
        if objective_key(measure_assignment(inst, repair.assignment)) >= objective_key(
            base_metrics
        ):
            best, state = repair.assignment, repair.state
        del repair  # the rule state is all the rest needs of the repair's indexes
        lap("repair")
    unscheduled = explain_unscheduled(inst, best, state=state)
    lap("explain")
    visits = visits_from(inst, best)
    metrics = measure_assignment(inst, best, unscheduled)
    violations = placement_violations(inst, best)
    lap("check")
    figures: dict[str, Any] = {
        "unit": job.label,
        "inspections": len(inst.inspections),
        "greedy": {"total_priority": base_metrics.total_priority, "visits": base_metrics.visits},
        "kept": "greedy" if best is base else "parts",
        "repair_seconds": None if deterministic else job.seconds,
        "filled": filled,
        "relieved": relieved,
        "merged": merged,
        "seconds": None if deterministic else round(time.monotonic() - began, 3),
        "timings": None if deterministic else timings,
        "peak_rss_mib": None if deterministic else peak_rss_mib(),
    }
    return UnitDone(
        job.label,
        visits,
        unscheduled,
        metrics,
        visits_lower_bound(inst, best),
        base_metrics,
        figures,
        tuple(violations),
    )


_WORK: dict[str, Callable[[Any], Any]] = {"part": solve_part, "unit": finish_unit}


def run_job(kind: JobKind, job: Any) -> Any:
    """Do one job of `kind` (a `PartJob` or a `UnitJob`) and give its result."""
    return _WORK[kind](job)
