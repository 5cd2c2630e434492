"""The solver's entry point, and the decomposed solve of problems too large for one model.

A problem that fits one part and one quarter is solved whole (`quietday.solver.solve`). A larger
one is cut (`quietday.solver.partition`) and solved quarter by quarter; in each quarter the parts
run side by side in worker processes, each a full solve of its own (greedy warm start, local
search, CP-SAT) with a time budget in proportion to its size. The last stage takes each unit that
no rule links to the rest (a part, or a component that was cut, with its real capacities and the
whole horizon): a repair pass (local search: fill, relieve, merge) gives away the capacity one
part's share left unused and joins visits across quarters; the unit keeps the better of that and
its own greedy (the units' greedies together are exactly the greedy of the whole problem, so the
result is never below it); then its unscheduled inspections are explained and its visits and
figures made. Units are independent, so their explanations and figures hold for the whole.

Determinism: parts are built, budgeted and merged in a fixed order; in deterministic mode each
part's budget is deterministic time derived from sizes alone, so the same instance and limits
give the same schedule whatever the number of processes.
"""

from __future__ import annotations

import heapq
import multiprocessing
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar

from quietday.domain.assemble import visits_from
from quietday.domain.bounds import visits_lower_bound
from quietday.domain.check import Metrics, measure
from quietday.domain.explain import explain_unscheduled
from quietday.domain.model import (
    EnterpriseId,
    Horizon,
    InspectionId,
    Instance,
    Solution,
    SolveStats,
    Status,
    Unscheduled,
    Visit,
)
from quietday.solver.config import (
    Progress,
    ProgressFn,
    SolverConfig,
    SolveResult,
    config_summary,
)
from quietday.solver.greedy import greedy
from quietday.solver.local import polish
from quietday.solver.partition import Part, PartPlan, plan_parts, slice_of
from quietday.solver.prepare import prepare
from quietday.solver.solve import (
    gaps,
    metrics_of,
    objective_key,
    schedule,
    solve_whole,
    summary,
)

__all__ = ["solve"]

# Share of the wall budget kept for the repair pass, the explanations and the figures.
_FINISH_SHARE = 0.35
# Share of what is left at the last stage that the units' repair passes may use together.
_REPAIR_SHARE = 0.25
_MIN_PART_SECONDS = 1.0
_MIN_DETERMINISTIC = 0.05
_REPAIR_ROUNDS = 4


def solve(
    instance: Instance,
    config: SolverConfig | None = None,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SolveResult:
    """Schedule `instance` within `config`'s limits; the status is in the result, never raised.

    More than `config.part_size` inspections or a horizon longer than a quarter: decomposed."""
    config = config or SolverConfig()
    started = clock()
    plan = plan_parts(instance, config.part_size)
    if not plan.decomposed:
        return solve_whole(instance, config, on_progress=on_progress, cancel=cancel, clock=clock)
    return _Decomposed(
        instance,
        plan,
        config,
        on_progress=on_progress,
        cancel=cancel,
        clock=clock,
        started=started,
    ).run()


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class _PartJob:
    label: str
    instance: Instance
    config: SolverConfig


@dataclass(frozen=True)
class _PartDone:
    label: str
    assignment: dict[InspectionId, date]
    greedy: dict[InspectionId, date]
    figures: dict[str, Any]


def _solve_part(job: _PartJob) -> _PartDone:
    """In a worker process: one part of one quarter, solved whole, explanations left out."""
    began = time.monotonic()
    inst = job.instance
    done = schedule(inst, job.config)
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
        "peak_rss_mib": None if job.config.deterministic else _peak_rss_mib(),
    }
    return _PartDone(job.label, done.assignment, done.greedy, figures)


@dataclass(frozen=True)
class _UnitJob:
    label: str
    instance: Instance
    assignment: dict[InspectionId, date]
    seconds: float
    config: SolverConfig
    # The unit's greedy when a part already made it: the unit is that part, uncut, and the
    # horizon one quarter, so the part's problem was the unit's.
    greedy: dict[InspectionId, date] | None


@dataclass(frozen=True)
class _UnitDone:
    label: str
    visits: tuple[Visit, ...]
    unscheduled: list[Unscheduled]
    metrics: Metrics
    lower_bound: int
    greedy: Metrics
    figures: dict[str, Any]


def _finish_unit(job: _UnitJob) -> _UnitDone:
    """In a worker process, one unit on its real capacities and whole horizon: the greedy
    (units are independent, so the greedies of all units are exactly the greedy of the whole
    problem), the repair pass on the parts' schedule (`job.seconds` of it), the better of the
    two, explanations, visits and figures (each unit's add up to the whole's)."""
    began = time.monotonic()
    deterministic = job.config.deterministic
    inst = job.instance
    prepared = prepare(inst)
    base = greedy(prepared) if job.greedy is None else job.greedy
    base_visits = visits_from(inst, base)
    base_metrics = measure(inst, Solution(inst.name, base_visits, ()))
    best, visits, filled, relieved, merged = base, base_visits, 0, 0, 0
    if job.config.method == "cpsat":
        stop_at = time.monotonic() + job.seconds
        repaired, report = polish(
            prepared,
            job.assignment,
            rounds=_REPAIR_ROUNDS,
            should_stop=lambda: not deterministic and time.monotonic() > stop_at,
        )
        filled, relieved, merged = report.filled, report.relieved, report.merged
        repaired_visits = visits_from(inst, repaired)
        repaired_metrics = measure(inst, Solution(inst.name, repaired_visits, ()))
        if objective_key(repaired_metrics) >= objective_key(base_metrics):
            best, visits = repaired, repaired_visits
    unscheduled = explain_unscheduled(inst, best)
    metrics = measure(inst, Solution(inst.name, visits, tuple(unscheduled)))
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
        "peak_rss_mib": None if deterministic else _peak_rss_mib(),
    }
    return _UnitDone(
        job.label,
        visits,
        unscheduled,
        metrics,
        visits_lower_bound(inst, best),
        base_metrics,
        figures,
    )


def _makespan(sizes: Sequence[int], processes: int) -> int:
    """When the last job ends if each takes time in proportion to its size and they are
    handed, largest first, to whichever of `processes` is free first (as `_run_jobs` does)."""
    ends = [0] * max(1, min(processes, len(sizes)))
    for size in sorted(sizes, reverse=True):
        heapq.heapreplace(ends, ends[0] + size)
    return max(ends)


J = TypeVar("J")
R = TypeVar("R")


def _run_jobs(
    jobs: Sequence[J], work: Callable[[J], R], processes: int, cancel: threading.Event | None
) -> Iterator[R]:
    """Results as they finish (in any order), largest jobs submitted first. One
    fresh process per job, forked from a server that has the solver loaded, so each job's
    peak memory is its own and a crash takes only that job."""
    if processes == 1 or len(jobs) == 1:
        for job in jobs:
            if cancel is not None and cancel.is_set():
                return
            yield work(job)
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["quietday.solver.decompose"])
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx, max_tasks_per_child=1) as pool:
        pending: list[Future[R]] = [pool.submit(work, job) for job in jobs]
        for future in as_completed(pending):
            if cancel is not None and cancel.is_set():
                for rest in pending:
                    rest.cancel()
                return
            yield future.result()


class _Decomposed:
    def __init__(
        self,
        instance: Instance,
        plan: PartPlan,
        config: SolverConfig,
        *,
        on_progress: ProgressFn | None,
        cancel: threading.Event | None,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        self.instance = instance
        self.plan = plan
        self.config = config
        self.on_progress = on_progress
        self.cancel = cancel
        self.clock = clock
        self.started = started
        self.timings: dict[str, float] = {}
        # Each part's greedy by its index, kept when the horizon is one quarter (see _UnitJob).
        self.part_greedy: dict[int, dict[InspectionId, date]] = {}
        self.mark = started
        self.solve_deadline = started + config.time_limit * (1 - _FINISH_SHARE)

    def phase(self, name: str, message: str) -> None:
        now = self.clock()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now
        self.say(name, message)

    def say(self, phase: str, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(phase=phase, seconds=self.clock() - self.started, message=message)
            )

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def part_budget(self, size: int, slice_sizes: Sequence[int], slices_left: int) -> float:
        """Deterministic time in proportion to size (all parts together: `time_limit`), or
        the wall time left for this quarter, shared by size so that the parts, run largest
        first on the processes, all end by the quarter's deadline."""
        cfg = self.config
        if cfg.deterministic:
            per_slice = cfg.time_limit / len(self.plan.slices)
            return max(_MIN_DETERMINISTIC, per_slice * size / max(1, sum(slice_sizes)))
        per_slice = max(0.0, self.solve_deadline - self.clock()) / slices_left
        share = per_slice * size / max(1, _makespan(slice_sizes, cfg.processes))
        return max(_MIN_PART_SECONDS, share)

    def solve_slice(
        self, k: int, horizon: Horizon, placed: dict[InspectionId, date]
    ) -> list[dict[str, Any]]:
        cfg = self.config
        slices = self.plan.slices
        subs = [
            (
                part,
                slice_of(
                    self.instance, part, horizon, placed=placed, name=f"q{k + 1}-p{part.index}"
                ),
            )
            for part in self.plan.parts
        ]
        subs = [(p, s) for p, s in subs if s.inspections]
        sizes = [len(s.inspections) for _, s in subs]
        # Deterministic search is interleaved on one thread: its workers do not load the cores,
        # and keeping their number makes the schedule independent of `processes`.
        workers = cfg.workers if cfg.deterministic else max(1, cfg.workers // cfg.processes)
        part_config = replace(cfg, workers=workers, processes=1)
        jobs = [
            _PartJob(
                label=sub.name,
                instance=sub,
                config=replace(
                    part_config,
                    time_limit=self.part_budget(len(sub.inspections), sizes, len(slices) - k),
                ),
            )
            for _, sub in sorted(subs, key=lambda ps: (-len(ps[1].inspections), ps[0].index))
        ]
        index_of = {sub.name: part.index for part, sub in subs}
        del subs
        figures: dict[str, dict[str, Any]] = {}
        results: dict[str, dict[InspectionId, date]] = {}
        one_slice = len(slices) == 1
        for n, done in enumerate(_run_jobs(jobs, _solve_part, cfg.processes, self.cancel), 1):
            results[done.label] = done.assignment
            if one_slice:
                self.part_greedy[index_of[done.label]] = done.greedy
            figures[done.label] = done.figures
            f = done.figures
            self.say(
                "part",
                f"第 {k + 1}/{len(slices)} 季度 部分 {n}/{len(jobs)} ({done.label}): "
                f"检查 {f['inspections']:,} 项, 已排 {f['scheduled']:,}, 入企 {f['visits']:,} 次"
                f"(下界 {f['visits_lower_bound']:,}, 贪心 {f['greedy']['visits']:,})",
            )
        for label in sorted(results):
            placed.update(results[label])
        return [figures[label] for label in sorted(figures)]

    def units(self) -> list[tuple[str, frozenset[EnterpriseId], list[Part]]]:
        """Independent units for the last stage: each cut component whole, each other part."""
        by_component: dict[int, list[Part]] = {}
        out: list[tuple[str, frozenset[EnterpriseId], list[Part]]] = []
        for part in self.plan.parts:
            if part.component in self.plan.split_components:
                by_component.setdefault(part.component, []).append(part)
            else:
                out.append((f"p{part.index}", part.enterprises, [part]))
        for comp, parts in sorted(by_component.items()):
            ents = frozenset().union(*(p.enterprises for p in parts))
            out.append((f"c{comp}", ents, parts))
        return out

    def finish(self, placed: Mapping[InspectionId, date]) -> _Finished:
        cfg = self.config
        whole = self.instance.horizon
        units = self.units()
        total = sum(sum(p.size for p in parts) for _, _, parts in units) or 1
        left = max(0.0, self.started + cfg.time_limit - self.clock())
        repair = _REPAIR_SHARE * left * min(cfg.processes, len(units))
        jobs = []
        for label, ents, parts in units:
            merged = Part(
                index=-1,
                component=parts[0].component,
                enterprises=ents,
                inspections=tuple(i for p in parts for i in p.inspections),
                history=tuple(h for p in parts for h in p.history),
            )
            sub = slice_of(self.instance, merged, whole, placed={}, name=label)
            mine = {i.id: placed[i.id] for i in sub.inspections if i.id in placed}
            seconds = round(repair * len(sub.inspections) / total, 3)
            uncut = parts[0].component not in self.plan.split_components
            made = self.part_greedy.get(parts[0].index) if uncut else None
            jobs.append(_UnitJob(label, sub, mine, seconds, cfg, made))
        jobs.sort(key=lambda j: (-len(j.instance.inspections), j.label))
        done_units: list[_UnitDone] = []
        for done in _run_jobs(jobs, _finish_unit, cfg.processes, None):
            done_units.append(done)
            self.say("unit", f"单元 {done.label} 修复与解释完成")
        done_units.sort(key=lambda d: d.label)
        unscheduled = {u.inspection: u for d in done_units for u in d.unscheduled}
        return _Finished(
            visits=tuple(
                heapq.merge(*(d.visits for d in done_units), key=lambda v: (v.date, v.enterprise))
            ),
            unscheduled=tuple(
                unscheduled[i.id] for i in self.instance.inspections if i.id in unscheduled
            ),
            metrics=_summed([d.metrics for d in done_units]),
            greedy=_summed([d.greedy for d in done_units]),
            lower_bound=sum(d.lower_bound for d in done_units),
            figures=[d.figures for d in done_units],
        )

    def run(self) -> SolveResult:
        cfg = self.config
        inst = self.instance
        plan = self.plan
        self.phase(
            "partition",
            f"分解: {len(plan.parts)} 个部分({len(plan.split_components)} 个联通块按县区切分), "
            f"{len(plan.slices)} 个季度",
        )
        placed: dict[InspectionId, date] = {}
        part_figures: list[dict[str, Any]] = []
        for k, horizon in enumerate(plan.slices):
            if self.cancelled() or cfg.method == "greedy":
                break
            part_figures += self.solve_slice(k, horizon, placed)
            self.phase(f"slice_{k + 1}", f"第 {k + 1} 季度完成: 累计已排 {len(placed):,} 项")
        status = Status.CANCELLED if self.cancelled() else self._status(part_figures)
        fin = self.finish(placed)
        self.phase("repair_explain", "修复与解释完成")
        metrics, lower, greedy_metrics = fin.metrics, fin.lower_bound, fin.greedy
        extra: dict[str, Any] = {
            "method": cfg.method,
            "strategy": "decomposed",
            "decomposition": {
                "parts": len(plan.parts),
                "split_components": len(plan.split_components),
                "quarters": len(plan.slices),
                "part_size": cfg.part_size,
                "processes": cfg.processes,
            },
            "greedy": summary(greedy_metrics),
            "total_priority": metrics.total_priority,
            "possible_priority": metrics.possible_priority,
            "joint_visits": metrics.joint_visits,
            "moved": metrics.moved,
            "visits_lower_bound": lower,
            **gaps(metrics.visits, lower),
            "unscheduled_by_reason": dict(metrics.unscheduled_by_reason),
            "config": config_summary(cfg),
            "parts": part_figures,
            "units": fin.figures,
            "timings": None if cfg.deterministic else dict(self.timings),
            "peak_rss_mib": None if cfg.deterministic else _peak_rss_mib(),
        }
        stats = SolveStats(
            status=status,
            scheduled=metrics.scheduled,
            visits=metrics.visits,
            wall_seconds=None if cfg.deterministic else round(self.clock() - self.started, 3),
            objective_bound=None,
            extra=extra,
        )
        return SolveResult(
            solution=Solution(inst.name, fin.visits, fin.unscheduled, stats),
            status=status,
            metrics=metrics,
            greedy_metrics=greedy_metrics,
            visits_lower_bound=lower,
            timings=self.timings,
        )

    @staticmethod
    def _status(part_figures: Sequence[Mapping[str, Any]]) -> Status:
        """Never optimal: a part is optimal at best for its share and quarter, not for the
        whole. A part stopped by its time limit makes the whole a time-limit result."""
        states = {f["status"] for f in part_figures}
        return Status.TIME_LIMIT if Status.TIME_LIMIT.value in states else Status.FEASIBLE


@dataclass(frozen=True)
class _Finished:
    visits: tuple[Visit, ...]
    unscheduled: tuple[Unscheduled, ...]
    metrics: Metrics
    greedy: Metrics
    lower_bound: int
    figures: list[dict[str, Any]]


def _summed(parts: Sequence[Metrics]) -> Metrics:
    """The figures of independent units added up (visits and caps never span two units)."""
    reasons: Counter[str] = Counter()
    for m in parts:
        reasons.update(m.unscheduled_by_reason)
    return Metrics(
        inspections=sum(m.inspections for m in parts),
        scheduled=sum(m.scheduled for m in parts),
        total_priority=sum(m.total_priority for m in parts),
        possible_priority=sum(m.possible_priority for m in parts),
        visits=sum(m.visits for m in parts),
        joint_visits=sum(m.joint_visits for m in parts),
        moved=sum(m.moved for m in parts),
        unscheduled_by_reason=dict(sorted(reasons.items())),
    )
