"""Builds the CP-SAT model from the rule registry, warm-starts it and runs the search."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ortools.sat.python import cp_model

from quietday.domain.model import InspectionId
from quietday.solver.config import Progress, ProgressFn, SolverConfig
from quietday.solver.model import Grid, Subproblem, build_grid
from quietday.solver.rules import HARD_RULES, Objective, build_objective

__all__ = ["Built", "CpSatOutcome", "build", "search"]


@dataclass
class Built:
    model: cp_model.CpModel
    grid: Grid
    objective: Objective


@dataclass(frozen=True)
class CpSatOutcome:
    """What the search found; `assignment` is None when it found no solution at all."""

    assignment: dict[InspectionId, date] | None
    status: str
    proven_optimal: bool
    objective: float | None
    bound: float | None
    priority_bound: int | None
    stopped_by_cancel: bool
    deterministic_time: float


def build(sub: Subproblem) -> Built:
    model = cp_model.CpModel()
    grid = build_grid(sub, model)
    for rule in HARD_RULES:
        rule(grid)
    return Built(model=model, grid=grid, objective=build_objective(grid))


def add_hint(built: Built, assignment: Mapping[InspectionId, date]) -> None:
    """A complete hint: every x literal, and every derived literal as the OR of its parts
    (written to the model in bulk: one call per literal costs seconds at county scale)."""
    values: dict[int, int] = {}
    for iid, lits in built.grid.vars.x.items():
        chosen = assignment.get(iid)
        for day, lit in lits:
            values[lit.index] = int(day == chosen)
    for var, parts in built.grid.vars.derived:
        values[var.index] = int(any(values[p.index] for p in parts))
    hint = built.model.proto.solution_hint
    hint.vars.extend(values.keys())
    hint.values.extend(values.values())


class _Listener(cp_model.CpSolverSolutionCallback):
    def __init__(
        self, objective: Objective, on_progress: ProgressFn | None, started: float
    ) -> None:
        super().__init__()
        self._objective = objective
        self._on_progress = on_progress
        self._started = started
        self.solutions = 0

    def on_solution_callback(self) -> None:
        self.solutions += 1
        if self._on_progress is None:
            return
        priority, visits, moved = self._objective.decode(self.objective_value)
        self._on_progress(
            Progress(
                phase="cpsat",
                seconds=time.monotonic() - self._started,
                visits=visits,
                message=f"第 {self.solutions} 个解: 已排优先级 {priority}, 入企 {visits} 次, 改动 {moved}",
            )
        )


def _parameters(solver: cp_model.CpSolver, config: SolverConfig, seconds: float) -> None:
    params = solver.parameters
    params.num_workers = config.workers
    params.random_seed = config.seed
    params.log_search_progress = config.log_search
    params.relative_gap_limit = config.relative_gap
    # Presolve's later rounds, probing and symmetry detection take minutes on county-scale
    # models and gain little here (measured: 43 s of a 60 s budget before the first search).
    params.max_presolve_iterations = 1
    params.cp_model_probing_level = 0
    params.symmetry_level = 0
    if config.deterministic:
        params.interleave_search = True
        params.max_deterministic_time = config.time_limit
    else:
        params.max_time_in_seconds = max(0.1, seconds)


def search(
    built: Built,
    config: SolverConfig,
    *,
    seconds: float,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> CpSatOutcome:
    """Run CP-SAT for at most `seconds` wall time (deterministic time in deterministic mode)."""
    solver = cp_model.CpSolver()
    _parameters(solver, config, seconds)
    listener = _Listener(built.objective, on_progress, time.monotonic())
    done = threading.Event()
    cancelled = threading.Event()

    def watch() -> None:
        assert cancel is not None
        while not done.is_set():
            if cancel.wait(0.2):
                cancelled.set()
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, daemon=True) if cancel is not None else None
    if watcher is not None:
        watcher.start()
    try:
        status = solver.solve(built.model, listener)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assignment: dict[InspectionId, date] | None = None
    if found:
        assignment = dict(built.grid.sub.fixed)
        for iid, lits in built.grid.vars.x.items():
            for day, lit in lits:
                if solver.boolean_value(lit):
                    assignment[iid] = day
                    break
    bound = solver.best_objective_bound if found else None
    return CpSatOutcome(
        assignment=assignment,
        status=solver.status_name(status),
        proven_optimal=status == cp_model.OPTIMAL,
        objective=solver.objective_value if found else None,
        bound=bound,
        priority_bound=built.objective.priority_upper_bound(bound) if bound is not None else None,
        stopped_by_cancel=cancelled.is_set(),
        deterministic_time=solver.deterministic_time,
    )
