"""Where the decomposed solve's jobs run (`JobPool`): in worker processes of this machine
(`LocalPool`, the default), or as jobs on the PostgreSQL queue that `quietday worker` processes
on any machine take (`quietday.planning.parts`). The solve itself does not change: it hands a
pool the jobs of one stage, largest first (each made as the pool takes it), and merges their
results in a fixed order."""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.forkserver
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from quietday.solver.jobs import JobKind, for_solving, run_job

__all__ = ["SOLVER_PRELOAD", "FollowUps", "JobPool", "LocalPool", "start_job_server"]

# Given a job's result, the jobs it makes ready (run on the same pool, after those waiting).
FollowUps = Callable[[Any], Sequence[tuple[JobKind, Any]]]

# What a server that forks processes to run jobs loads once, for all of them: the jobs and the
# CP-SAT search, which `quietday.solver.whole` imports only when a search starts.
SOLVER_PRELOAD = ("quietday.solver.jobs", "quietday.solver.lns")
_PRELOAD = ["__main__", *SOLVER_PRELOAD]


def start_job_server() -> None:
    """Start the server that forks `LocalPool`'s processes now rather than at the first job:
    its loading of the solver (about a second) then runs on another core beside what this
    process does first, such as reading a large instance."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(_PRELOAD)
    multiprocessing.forkserver.ensure_running()


class JobPool(Protocol):
    @property
    def width(self) -> int:
        """How many jobs run at once (wall-time budgets are shared over it)."""

    def run(
        self,
        kind: JobKind,
        jobs: Iterable[Any],
        cancel: threading.Event | None,
        then: FollowUps | None = None,
    ) -> Iterator[Any]:
        """The results of the jobs and of their follow-ups (`then`) as they finish, in any
        order; none more once `cancel` is set. `jobs` is read as they are handed out: a job
        may be made only when the one before it is on its way."""


class LocalPool:
    """One fresh process per job, forked from a server that has the solver loaded, so each
    job's peak memory is its own and a crash takes only that job; in this process when there is
    one process or one job. A job is taken from those given (and so made) only when at most
    `processes` others are on their way: this process never holds every part's instance."""

    def __init__(self, processes: int) -> None:
        self.processes = processes

    @property
    def width(self) -> int:
        return self.processes

    def run(
        self,
        kind: JobKind,
        jobs: Iterable[Any],
        cancel: threading.Event | None,
        then: FollowUps | None = None,
    ) -> Iterator[Any]:
        given = iter(jobs)
        first = list(itertools.islice(given, 2))
        work = ((kind, job) for job in itertools.chain(first, given))
        later: deque[tuple[JobKind, Any]] = deque()

        def next_job() -> tuple[JobKind, Any] | None:
            """The next job to run: those given (each made only now), then the follow-ups."""
            made = next(work, None)
            return made if made is not None or not later else later.popleft()

        if self.processes == 1 or (len(first) == 1 and then is None):
            while (job := next_job()) is not None:
                if cancel is not None and cancel.is_set():
                    return
                result = run_job(*job)
                later.extend(then(result) if then is not None else ())
                yield result
            return
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        with ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=ctx,
            initializer=for_solving,
            max_tasks_per_child=1,
        ) as pool:
            pending: set[Future[Any]] = set()
            while True:
                # One job more than processes: a process that ends finds the next one made.
                while len(pending) <= self.processes and (job := next_job()) is not None:
                    pending.add(pool.submit(run_job, *job))
                if not pending:
                    return
                ended, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in ended:
                    if cancel is not None and cancel.is_set():
                        for rest in pending:
                            rest.cancel()
                        return
                    result = future.result()
                    later.extend(then(result) if then is not None else ())
                    yield result
