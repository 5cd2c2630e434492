"""Solver limits and the shape of a solve's answer: status is data, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from quietday.domain.check import Metrics, Violation
from quietday.domain.model import Solution, Status

__all__ = [
    "DEFAULT_PART_SIZE",
    "Method",
    "Progress",
    "ProgressFn",
    "SolveResult",
    "SolverConfig",
    "config_summary",
]

Method = Literal["cpsat", "greedy"]
# Inspections per part of a decomposed solve: a part is solved whole (greedy, local search,
# CP-SAT neighbourhoods) in one worker process.
DEFAULT_PART_SIZE = 40_000


@dataclass(frozen=True, slots=True)
class SolverConfig:
    """Limits of one solve.

    `time_limit` bounds the whole solve in wall seconds, model building included. In
    `deterministic` mode the CP-SAT search is interleaved (same result for any load on the
    machine) and stopped by deterministic time instead, `time_limit` units of it, so the same
    instance and config give a byte-identical solution file; wall timings are then left out
    of the file.
    """

    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    deterministic: bool = False
    method: Method = "cpsat"
    relative_gap: float = 0.0
    log_search: bool = False
    # A problem of more inspections than this is cut into parts (`quietday.solver.partition`),
    # solved side by side in `processes` worker processes.
    part_size: int = DEFAULT_PART_SIZE
    processes: int = 1

    def __post_init__(self) -> None:
        if self.time_limit <= 0:
            raise ValueError("time_limit must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.part_size < 1 or self.processes < 1:
            raise ValueError("part_size and processes must be at least 1")


def config_summary(config: SolverConfig) -> dict[str, Any]:
    """The limits a solution file records (what reproduces it)."""
    return {
        "time_limit": config.time_limit,
        "workers": config.workers,
        "seed": config.seed,
        "deterministic": config.deterministic,
    }


@dataclass(frozen=True, slots=True)
class Progress:
    """A moment of a solve, for a terminal or a run's status page."""

    phase: str
    seconds: float
    scheduled: int | None = None
    visits: int | None = None
    message: str = ""
    # The share of the solve done (0 to 1), where the solver can tell.
    done: float | None = None


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class SolveResult:
    """The solution with its figures; `timings` are wall seconds per phase."""

    solution: Solution
    status: Status
    metrics: Metrics
    greedy_metrics: Metrics | None
    visits_lower_bound: int
    timings: dict[str, float] = field(default_factory=dict)
    # The placement rules' violations, judged by independent units where the solve made
    # them (a decomposed solve); None: not judged.
    placement_violations: tuple[Violation, ...] | None = None
