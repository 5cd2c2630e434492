"""The decomposed solve of problems too large for one model (`quietday.solver.solve` decides).

A problem that fits one part and one quarter is solved whole (`quietday.solver.whole`). A larger
one is cut (`quietday.solver.partition`) and solved quarter by quarter; in each quarter the parts
run side by side on a pool (`quietday.solver.pool`: processes of this machine, or queue workers
anywhere), each a full solve of its own (greedy warm start, local
search, CP-SAT) with a time budget in proportion to its size. The last stage takes each unit that
no rule links to the rest (a part, or a component that was cut, with its real capacities and the
whole horizon): a repair pass (local search: fill, relieve, merge) gives away the capacity one
part's share left unused and joins visits across quarters; the unit keeps the better of that and
its own greedy (the units' greedies together are exactly the greedy of the whole problem, so the
result is never below it); then its unscheduled inspections are explained and its visits and
figures made. Units are independent, so their explanations and figures hold for the whole. In
a one-quarter solve a unit's last stage starts as soon as its own parts are done (the parts
still solving keep the other processes busy); its job is the one it would get after all parts.

Determinism: parts are built, budgeted and merged in a fixed order; in deterministic mode each
part's budget is deterministic time derived from sizes alone, so the same instance and limits
give the same schedule whatever the number of processes.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from quietday.domain.check import Metrics, Violation
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
from quietday.solver.jobs import JobKind, PartDone, PartJob, UnitDone, UnitJob, peak_rss_mib
from quietday.solver.partition import Part, PartPlan, select, slice_of, sub_instance
from quietday.solver.pool import FollowUps, JobPool
from quietday.solver.whole import gaps, summary

__all__ = ["Decomposed"]

# Share of the wall budget kept for the repair pass, the explanations and the figures (of what
# the units' own work leaves, when the last stage is a stage of its own).
_FINISH_SHARE = 0.35
# Seconds per inspection a unit's last stage takes outside its repair budget (preparation, greedy,
# finishing pass, explanations, placement check) when its parts were solved quarter by quarter.
# On this 2-core machine, over the province year's units (31k-289k inspections): 118-167 us on
# average in six runs, 73-220 us per unit (the larger, the dearer; the less the quarters
# searched, the more the finishing pass does). What the estimate misses comes out of the finish
# share.
_UNIT_SECONDS_PER_INSPECTION = 150e-6
# Share of what is left at the last stage that the units' repair passes may use together.
_REPAIR_SHARE = 0.25
_MIN_PART_SECONDS = 0.25
_MIN_DETERMINISTIC = 0.05


def _makespan(sizes: Sequence[int], processes: int) -> int:
    """When the last job ends if each takes time in proportion to its size and they are
    handed, largest first, to whichever of `processes` is free first (as the pools do)."""
    ends = [0] * max(1, min(processes, len(sizes)))
    for size in sorted(sizes, reverse=True):
        heapq.heapreplace(ends, ends[0] + size)
    return max(ends)


class Decomposed:
    def __init__(
        self,
        instance: Instance,
        plan: PartPlan,
        config: SolverConfig,
        pool: JobPool,
        *,
        on_progress: ProgressFn | None,
        cancel: threading.Event | None,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        self.instance = instance
        self.plan = plan
        self.config = config
        self.pool = pool
        self.on_progress = on_progress
        self.cancel = cancel
        self.clock = clock
        self.started = started
        self.timings: dict[str, float] = {}
        # Each part's greedy by its index, kept when the horizon is one quarter (see UnitJob).
        self.part_greedy: dict[int, dict[InspectionId, date]] = {}
        # Units finished while parts still ran (one quarter: a unit needs only its parts).
        self.early_units: list[UnitDone] = []
        self.plan_size = sum(p.size for p in plan.parts) or 1
        # Progress: jobs done of those expected (every part in every quarter, then the units).
        self.jobs_done = 0
        units = {p.component if p.component in plan.split_components else -1 - p.index
                 for p in plan.parts}  # fmt: skip
        self.jobs_expected = len(plan.parts) * len(plan.slices) + len(units) or 1
        self.mark = started
        # The units' own work once every quarter is solved (none after a one-quarter solve: a
        # unit finishes in its part's job or as soon as its parts are done), kept out of the
        # quarters' time with the finish share of the rest.
        self.last_stage = 0.0
        if len(plan.slices) > 1:
            sizes = [sum(len(p.inspections) for p in parts) for _, _, parts in self.units()]
            self.last_stage = _UNIT_SECONDS_PER_INSPECTION * _makespan(sizes, pool.width)
        spare = max(0.0, config.time_limit - self.last_stage)
        self.solve_deadline = started + spare * (1 - _FINISH_SHARE)

    def phase(self, name: str, message: str) -> None:
        now = self.clock()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now
        self.say(name, message)

    def say(self, phase: str, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    phase=phase,
                    seconds=self.clock() - self.started,
                    message=message,
                    done=min(1.0, self.jobs_done / self.jobs_expected),
                )
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
        share = per_slice * size / max(1, _makespan(slice_sizes, self.pool.width))
        return max(_MIN_PART_SECONDS, share)

    def solve_slice(
        self, k: int, horizon: Horizon, placed: dict[InspectionId, date]
    ) -> list[dict[str, Any]]:
        cfg = self.config
        slices = self.plan.slices
        chosen = [
            (part, f"q{k + 1}-p{part.index}", members)
            for part in self.plan.parts
            if (members := select(self.instance, part, horizon, placed=placed)).inspections
        ]
        chosen.sort(key=lambda c: (-len(c[2].inspections), c[0].index))
        sizes = [len(c[2].inspections) for c in chosen]
        budgets = [self.part_budget(size, sizes, len(slices) - k) for size in sizes]
        # Deterministic search is interleaved on one thread: its workers do not load the cores,
        # and keeping their number makes the schedule independent of `processes`.
        workers = cfg.workers if cfg.deterministic else max(1, cfg.workers // self.pool.width)
        part_config = replace(cfg, workers=workers, processes=1)
        one_slice = len(slices) == 1
        # In a one-quarter solve a part of an uncut component is its unit: it finishes as one.
        units = len(self.units())
        left = self.config.time_limit - (self.solve_deadline - self.started)

        def jobs() -> Iterator[PartJob]:
            """Each part's job, made only when the pool takes it: the first ones solve while
            this process makes the others' instances."""
            for (part, label, members), size, budget in zip(chosen, sizes, budgets, strict=True):
                own = self.own_unit(part) if one_slice else None
                yield PartJob(
                    label=label,
                    instance=sub_instance(self.instance, members, name=label),
                    config=replace(part_config, time_limit=budget),
                    unit=own,
                    unit_seconds=self.repair_seconds(size, left, units) if own else 0,
                )

        index_of = {label: part.index for part, label, _ in chosen}
        count = len(chosen)
        figures: dict[str, dict[str, Any]] = {}
        results: dict[str, dict[InspectionId, date]] = {}
        n = 0
        then = self._ready_units(index_of) if one_slice else None
        for done in self.pool.run("part", jobs(), self.cancel, then):
            self.jobs_done += 1
            if isinstance(done, PartDone) and done.unit is not None:
                self.jobs_done += 1
                self.early_units.append(done.unit)
                self.say("unit", f"单元 {done.unit.label} 修复与解释完成")
            if isinstance(done, UnitDone):
                self.early_units.append(done)
                self.say("unit", f"单元 {done.label} 修复与解释完成")
                continue
            n += 1
            results[done.label] = done.assignment
            figures[done.label] = done.figures
            f = done.figures
            self.say(
                "part",
                f"第 {k + 1}/{len(slices)} 季度 部分 {n}/{count} ({done.label}): "
                f"检查 {f['inspections']:,} 项, 已排 {f['scheduled']:,}, 入企 {f['visits']:,} 次"
                f"(下界 {f['visits_lower_bound']:,}, 贪心 {f['greedy']['visits']:,})",
            )
        for label in sorted(results):
            placed.update(results[label])
        return [figures[label] for label in sorted(figures)]

    def own_unit(self, part: Part) -> str | None:
        """The label of the unit that is `part` alone (its component uncut), else None."""
        return None if part.component in self.plan.split_components else f"p{part.index}"

    def units(self) -> list[tuple[str, frozenset[EnterpriseId], list[Part]]]:
        """Independent units for the last stage: each cut component whole, each other part."""
        by_component: dict[int, list[Part]] = {}
        out: list[tuple[str, frozenset[EnterpriseId], list[Part]]] = []
        for part in self.plan.parts:
            own = self.own_unit(part)
            if own is None:
                by_component.setdefault(part.component, []).append(part)
            else:
                out.append((own, part.enterprises, [part]))
        for comp, parts in sorted(by_component.items()):
            ents = frozenset().union(*(p.enterprises for p in parts))
            out.append((f"c{comp}", ents, parts))
        return out

    def _ready_units(self, index_of: Mapping[str, int]) -> FollowUps:
        """Follow-ups of the parts of a one-quarter solve: each unit's last stage as soon as
        its parts are done, with the same job the last stage would give it after all parts
        (a unit's repair budget: what the finish share leaves it once the parts are due)."""
        done: dict[int, dict[InspectionId, date]] = {}
        units = self.units()
        # Units that are one part finish in that part's job.
        started = {label for p in self.plan.parts if (label := self.own_unit(p)) is not None}

        def then(result: Any) -> list[tuple[JobKind, Any]]:
            if not isinstance(result, PartDone):
                return []
            done[index_of[result.label]] = result.assignment
            self.part_greedy[index_of[result.label]] = result.greedy
            ready = [u for u in units if u[0] not in started and all(p.index in done for p in u[2])]
            started.update(label for label, _, _ in ready)
            end = self.started + self.config.time_limit
            left = max(0.0, end - max(self.clock(), self.solve_deadline))
            return [
                ("unit", self._unit_job(u, _merged(done[p.index] for p in u[2]), left, len(units)))
                for u in ready
            ]

        return then

    def _unit_job(
        self,
        unit: tuple[str, frozenset[EnterpriseId], list[Part]],
        placed: Mapping[InspectionId, date],
        left: float,
        units: int,
    ) -> UnitJob:
        """A unit's last stage on the parts' schedule `placed`; of the `left` seconds, the
        repair share of all `units` in proportion to its size."""
        label, ents, parts = unit
        cfg = self.config
        merged = Part(
            index=-1,
            component=parts[0].component,
            enterprises=ents,
            inspections=tuple(i for p in parts for i in p.inspections),
            history=tuple(h for p in parts for h in p.history),
        )
        sub = slice_of(self.instance, merged, self.instance.horizon, placed={}, name=label)
        mine = {i.id: placed[i.id] for i in sub.inspections if i.id in placed}
        seconds = self.repair_seconds(len(sub.inspections), left, units)
        uncut = parts[0].component not in self.plan.split_components
        made = self.part_greedy.get(parts[0].index) if uncut else None
        return UnitJob(label, sub, mine, seconds, cfg, made)

    def repair_seconds(self, size: int, left: float, units: int) -> float:
        """A unit's repair budget: of the `left` seconds less the units' own work, the repair
        share of all `units` in proportion to its `size`."""
        repair = _REPAIR_SHARE * max(0.0, left - self.last_stage) * min(self.pool.width, units)
        return round(repair * size / self.plan_size, 3)

    def finish(self, placed: Mapping[InspectionId, date]) -> _Finished:
        units = self.units()
        left = max(0.0, self.started + self.config.time_limit - self.clock())
        finished = {d.label for d in self.early_units}
        # Largest first; each job made only when the pool takes it, while the first solve.
        todo = sorted(
            (u for u in units if u[0] not in finished),
            key=lambda u: (-sum(len(p.inspections) for p in u[2]), u[0]),
        )
        jobs = (self._unit_job(unit, placed, left, len(units)) for unit in todo)
        done_units: list[UnitDone] = list(self.early_units)
        done: UnitDone
        for done in self.pool.run("unit", jobs, None):
            self.jobs_done += 1
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
            violations=tuple(v for d in done_units for v in d.violations),
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
        self.jobs_done = self.jobs_expected
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
                "processes": self.pool.width,
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
            "peak_rss_mib": None if cfg.deterministic else peak_rss_mib(),
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
            placement_violations=fin.violations,
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
    violations: tuple[Violation, ...]


def _merged(assignments: Iterable[Mapping[InspectionId, date]]) -> dict[InspectionId, date]:
    return {i: d for one in assignments for i, d in one.items()}


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
