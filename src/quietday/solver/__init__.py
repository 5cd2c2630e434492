"""Scheduling with OR-Tools CP-SAT, warm-started by a greedy; domain + ortools only."""

from quietday.solver.config import (
    DEFAULT_PART_SIZE,
    Method,
    Progress,
    ProgressFn,
    SolverConfig,
    SolveResult,
)
from quietday.solver.jobs import JobKind, for_solving, run_job
from quietday.solver.pool import SOLVER_PRELOAD, FollowUps, JobPool, LocalPool, start_job_server
from quietday.solver.solve import solve

__all__ = [
    "DEFAULT_PART_SIZE",
    "SOLVER_PRELOAD",
    "FollowUps",
    "JobKind",
    "JobPool",
    "LocalPool",
    "Method",
    "Progress",
    "ProgressFn",
    "SolveResult",
    "SolverConfig",
    "for_solving",
    "run_job",
    "solve",
    "start_job_server",
]
