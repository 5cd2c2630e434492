"""Files in, files out: load -> solve -> check -> write, and the Chinese summaries.

The CLI (and later the API) call these; they never print, they return what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from quietday.domain.check import Metrics, Violation, find_violations, measure
from quietday.domain.model import Instance, Reason, Solution
from quietday.formats import load_instance, load_solution, write_instance, write_solution
from quietday.generate import GeneratorConfig, generate
from quietday.solver import ProgressFn, SolverConfig, SolveResult, solve, start_job_server

__all__ = [
    "CheckReport",
    "SolveReport",
    "check_files",
    "generate_file",
    "reason_label",
    "solve_file",
    "summary_lines",
]

_WRITE_MARGIN, _MIN_SOLVE = 1.0, 1.0
# Checking and writing a solution after the solve: 7-9 us per inspection here (the county's 18k
# inspections in 0.16 s, the province year's 2.03 M in 14.5 s).
_WRITE_SECONDS_PER_INSPECTION = 8e-6
# An instance file of more bytes than this per inspection of a part is taken as one to be
# decomposed, and its worker processes are made ready while it is read. Inspections are most of
# a file (about 400 bytes each, with their enterprises and history, in a generated province); a
# wrong guess costs a second either way: of another core's time, or of waiting as before.
_BYTES_PER_INSPECTION = 300

REASON_LABELS = {
    Reason.NO_ALLOWED_DAY: "窗口内无可用日期",
    Reason.WHITELISTED: "白名单企业",
    Reason.CAP: "频次上限",
    Reason.MIN_GAP: "最短间隔",
    Reason.CAPACITY: "部门检查能力不足",
    Reason.PRIORITY: "被更高优先级挤占",
    Reason.NOT_SOLVED: "求解未完成",
}


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(Reason(reason), reason)


@dataclass(frozen=True)
class SolveReport:
    instance: Instance
    result: SolveResult
    violations: list[Violation]
    load_seconds: float
    write_seconds: float


@dataclass(frozen=True)
class CheckReport:
    instance: Instance
    solution: Solution
    violations: list[Violation]
    metrics: Metrics


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reading it says why


def solve_file(
    instance_path: Path,
    out: Path,
    config: SolverConfig,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SolveReport:
    """Read an instance, solve it, check the answer with the independent checker, write it."""
    t0 = clock()
    if config.processes > 1 and _size(instance_path) > config.part_size * _BYTES_PER_INSPECTION:
        start_job_server()
    instance = load_instance(instance_path)
    t1 = clock()
    if not config.deterministic:
        # The limit is the user's whole wait: reading the file counts, and so do checking and
        # writing the solution.
        writing = max(_WRITE_MARGIN, _WRITE_SECONDS_PER_INSPECTION * len(instance.inspections))
        budget = config.time_limit - (t1 - t0) - writing
        config = replace(config, time_limit=max(_MIN_SOLVE, budget))
    result = solve(instance, config, on_progress=on_progress, cancel=cancel, clock=clock)
    violations = find_violations(instance, result.solution, placement=result.placement_violations)
    t2 = clock()
    write_solution(result.solution, out)
    return SolveReport(instance, result, violations, t1 - t0, clock() - t2)


def check_files(instance_path: Path, solution_path: Path) -> CheckReport:
    instance = load_instance(instance_path)
    solution = load_solution(solution_path)
    return CheckReport(
        instance=instance,
        solution=solution,
        violations=find_violations(instance, solution),
        metrics=measure(instance, solution),
    )


def generate_file(
    config: GeneratorConfig, out: Path, *, on_step: Callable[[str], None] | None = None
) -> Instance:
    instance = generate(config, on_step=on_step)
    write_instance(instance, out)
    return instance


def summary_lines(instance: Instance, metrics: Metrics) -> list[str]:
    """A short Chinese summary of a schedule."""
    unscheduled = metrics.inspections - metrics.scheduled
    lines = [
        f"实例 {instance.name}: 检查计划 {metrics.inspections:,} 项, 企业 {len(instance.enterprises):,} 家, "
        f"执法部门 {len(instance.agencies):,} 个, 排期 {instance.horizon.start} 至 {instance.horizon.end}",
        f"已排 {metrics.scheduled:,} 项(优先级合计 {metrics.total_priority:,} / {metrics.possible_priority:,}), "
        f"入企 {metrics.visits:,} 次, 其中联合检查 {metrics.joint_visits:,} 次"
        f"(综合查一次率 {metrics.joint_rate:.1%})",
    ]
    if unscheduled:
        parts = "、".join(
            f"{reason_label(r)} {n:,}" for r, n in sorted(metrics.unscheduled_by_reason.items())
        )
        lines.append(f"未排 {unscheduled:,} 项: {parts}")
    else:
        lines.append("全部检查均已排期")
    return lines
