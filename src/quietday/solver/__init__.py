"""Scheduling with OR-Tools CP-SAT, warm-started by a greedy; domain + ortools only."""

from quietday.solver.config import (
    DEFAULT_PART_SIZE,
    Method,
    Progress,
    ProgressFn,
    SolverConfig,
    SolveResult,
)
from quietday.solver.decompose import solve

__all__ = [
    "DEFAULT_PART_SIZE",
    "Method",
    "Progress",
    "ProgressFn",
    "SolveResult",
    "SolverConfig",
    "solve",
]
