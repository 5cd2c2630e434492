"""A run's parts as jobs on the PostgreSQL queue, so that one run's solve is spread over the
`quietday worker` processes of any number of machines.

The run's own worker coordinates: the decomposed solve hands each stage's jobs (the parts of a
quarter, then the units' last stage) to a `QueuePool`, which records them (`run_part`, the job a
gzip pickle) and defers one queue job per part in one transaction, then waits for their results
and hands them back as they end. Any worker takes a part's job (`solve_part_job`) and solves it
in a child process, which writes the result; the worker watches the part meanwhile and stops
the child when the run has given the part up (a cancelled run gives up the parts of its
quarter still solving, and keeps what the others found). A part whose worker dies is handed
back by the queue's sweeper and solved again; a part that fails fails its run. In deterministic
mode a part's result depends on its job alone, so the run's schedule is the one a single
process finds, whichever workers solved which parts.

Pickles are read only from this database, written by this code: the database is trusted as it
is for everything else a run stores.
"""

from __future__ import annotations

import gzip
import logging
import multiprocessing
import os
import pickle
import select
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from quietday.domain.status import PartState
from quietday.persistence import Engine, make_engine, session_scope
from quietday.persistence.jobs import JobRepository, PartRepository
from quietday.planning.runner import RUN_QUEUE
from quietday.solver import SOLVER_PRELOAD, FollowUps, JobKind, for_solving, run_job

__all__ = [
    "PART_QUEUE",
    "PART_TASK",
    "WORKER_QUEUES",
    "PartFailedError",
    "QueuePool",
    "solve_part_job",
]

log = logging.getLogger(__name__)

PART_QUEUE = "parts"
PART_TASK = "quietday.part"
# How often the run's worker looks for ended parts, and a part's worker for a reason to stop.
_POLL_SECONDS = 0.2
_WATCH_SECONDS = 1.0
# What the server that forks a worker's part processes loads once: this module (and with it the
# database layer) and the solver's jobs and search.
_PRELOAD = [__name__, *SOLVER_PRELOAD]
# Each `quietday worker` process is one queue worker per queue (`quietday.planning.queue`).
WORKER_QUEUES = (RUN_QUEUE, PART_QUEUE)


class PartFailedError(RuntimeError):
    """A part of the run could not be solved (its message says which and why)."""


def _pack(value: Any) -> bytes:
    return gzip.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), compresslevel=1)


def _unpack(blob: bytes) -> Any:
    return pickle.loads(gzip.decompress(blob))


class QueuePool:
    """The decomposed solve's pool for a run on the queue: its width is the number of part
    workers alive now (each `quietday worker` solves one part at a time)."""

    def __init__(self, engine: Engine, run_id: int, *, stalled_seconds: float) -> None:
        self.engine = engine
        self.run_id = run_id
        self.stalled_seconds = stalled_seconds

    @property
    def width(self) -> int:
        with session_scope(self.engine) as session:
            live = JobRepository(session).live_workers(self.stalled_seconds)
        return max(1, live // len(WORKER_QUEUES))

    def run(
        self,
        kind: JobKind,
        jobs: Iterable[Any],
        cancel: threading.Event | None,
        then: FollowUps | None = None,
    ) -> Iterator[Any]:
        waiting = self._enqueue([(kind, job) for job in jobs])
        try:
            while waiting:
                if cancel is not None and cancel.is_set():
                    return
                with session_scope(self.engine) as session:
                    ended = sorted(PartRepository(session).ended(waiting))
                if not ended:
                    time.sleep(_POLL_SECONDS)
                    continue
                for part_id, state, label, error in ended:
                    if state == PartState.FAILED:
                        raise PartFailedError(f"部分 {label} 求解失败: {error}")
                    with session_scope(self.engine) as session:
                        blob = PartRepository(session).result(part_id)
                    waiting.discard(part_id)
                    result = _unpack(blob)
                    if then is not None:
                        waiting |= self._enqueue(then(result))
                    yield result
        finally:
            if waiting:
                self._give_up(waiting)

    def _enqueue(self, jobs: Sequence[tuple[JobKind, Any]]) -> set[int]:
        """Parts and their queue jobs recorded together, in the order given (largest first:
        the queue hands jobs out in that order)."""
        ids: set[int] = set()
        if not jobs:
            return ids
        with session_scope(self.engine) as session:
            parts, queue = PartRepository(session), JobRepository(session)
            for kind, job in jobs:
                part_id = parts.add(
                    self.run_id, kind, job.label, len(job.instance.inspections), _pack(job)
                )
                queue_job = queue.defer(queue=PART_QUEUE, task=PART_TASK, args={"part_id": part_id})
                parts.set_job(part_id, queue_job)
                ids.add(part_id)
        return ids

    def _give_up(self, part_ids: set[int] | None = None) -> None:
        with session_scope(self.engine) as session:
            JobRepository(session).cancel(PartRepository(session).give_up(self.run_id, part_ids))

    def abandon_earlier(self) -> None:
        """Before a retried run starts over: the parts an earlier attempt left are given up
        (waiting ones leave the queue, running ones are stopped by their workers)."""
        self._give_up()


def solve_part_job(engine: Engine, database_url: str, part_id: int, worker: str) -> None:
    """A worker's task for one part: solved in a child process (the worker's own threads go on
    sending heartbeats, and the child's memory goes when it ends), stopped if given up."""
    with session_scope(engine) as session:
        if PartRepository(session).take(part_id, worker) is None:
            return
    # Forked from a server that has the solver imported: a part starts in a fraction of the
    # second a fresh interpreter takes to import it, and shares none of this process's threads.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    child = ctx.Process(
        target=_child, args=(database_url, part_id, os.getpid()), name=f"part-{part_id}"
    )
    child.start()
    while True:
        child.join(_WATCH_SECONDS)
        if child.exitcode is not None:
            break
        with session_scope(engine) as session:
            wanted = PartRepository(session).still_wanted(part_id)
        if not wanted:
            child.kill()
            child.join()
            log.info("部分 %s 已不再需要(运行已取消或放弃),已停止", part_id)
            return
    # The child records the part's end; a part it left running failed (a no-op otherwise).
    why = (
        "求解进程未写回结果"
        if child.exitcode == 0
        else f"求解进程意外退出(退出码 {child.exitcode})"
    )
    with session_scope(engine) as session:
        PartRepository(session).end(part_id, PartState.FAILED, error=why)


def _orphaned(worker: int) -> None:
    """In the child: end as soon as the worker that asked for it is gone (killed, its machine
    lost); the queue hands the part to another worker. The child's parent is the worker's fork
    server, which can outlive a killed worker by seconds, so the child waits on the worker
    itself (a pidfd: readable once that process has ended, whatever becomes of its pid)."""
    try:
        fd = os.pidfd_open(worker)
    except ProcessLookupError:
        os._exit(1)
    select.select([fd], [], [])
    os._exit(1)


def _child(database_url: str, part_id: int, worker: int) -> None:
    threading.Thread(target=_orphaned, args=(worker,), daemon=True).start()
    for_solving()
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            job = PartRepository(session).job(part_id)
        if job is None:
            return
        kind, blob = job
        began = time.monotonic()
        try:
            result = run_job(cast(JobKind, kind), _unpack(blob))
        except Exception as exc:
            log.exception("part %s failed", part_id)
            with session_scope(engine) as session:
                PartRepository(session).end(
                    part_id, PartState.FAILED, error=f"{type(exc).__name__}: {exc}"
                )
            return
        with session_scope(engine) as session:
            PartRepository(session).end(
                part_id,
                PartState.DONE,
                result_gz=_pack(result),
                seconds=round(time.monotonic() - began, 3),
            )
    finally:
        engine.dispose()
