"""The solver's entry point: a problem solved whole (`whole`), or decomposed (`decompose`)
when it is too large for one model or longer than a quarter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from quietday.domain.model import Instance
from quietday.solver.config import ProgressFn, SolverConfig, SolveResult
from quietday.solver.decompose import Decomposed
from quietday.solver.partition import plan_parts
from quietday.solver.pool import JobPool, LocalPool
from quietday.solver.whole import solve_whole

__all__ = ["solve"]


def solve(
    instance: Instance,
    config: SolverConfig | None = None,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    pool: JobPool | None = None,
) -> SolveResult:
    """Schedule `instance` within `config`'s limits; the status is in the result, never raised.

    More than `config.part_size` inspections or a horizon longer than a quarter: decomposed,
    the parts run on `pool` (default: `config.processes` worker processes of this machine)."""
    config = config or SolverConfig()
    started = clock()
    plan = plan_parts(instance, config.part_size)
    if not plan.decomposed:
        return solve_whole(instance, config, on_progress=on_progress, cancel=cancel, clock=clock)
    return Decomposed(
        instance,
        plan,
        config,
        pool or LocalPool(config.processes),
        on_progress=on_progress,
        cancel=cancel,
        clock=clock,
        started=started,
    ).run()
