"""Scheduling with OR-Tools CP-SAT, warm-started by a greedy; domain + ortools only."""

from quietday.solver.config import Method, Progress, ProgressFn, SolverConfig, SolveResult
from quietday.solver.solve import solve

__all__ = ["Method", "Progress", "ProgressFn", "SolveResult", "SolverConfig", "solve"]
