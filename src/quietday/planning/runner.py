"""Where runs execute, behind one small interface: a child process per run (the embedded default;
the CPU-bound solve never competes with the API for the interpreter), a thread (tools and tests
that want one process), or the PostgreSQL job queue that `quietday worker` processes on any
machine take runs from (`quietday.planning.queue`).

`submit` is called in the transaction that records the run: the in-process runners start it once
that commits, the queue runner defers its job in that same transaction, so that no run is ever
recorded without being started, nor started without being recorded."""

from __future__ import annotations

import multiprocessing
import threading
from abc import ABC, abstractmethod
from typing import Protocol

from quietday.domain.status import RunStatus
from quietday.persistence import Engine, Session, after_commit, make_engine, session_scope
from quietday.persistence.jobs import JobRepository
from quietday.persistence.runs import RunRepository
from quietday.planning.runs import RUNNER, execute_run, fail_run, recover_runs
from quietday.solver import for_solving

__all__ = ["RUN_QUEUE", "RUN_TASK", "ProcessRunner", "QueueRunner", "Runner", "ThreadRunner"]

RUN_QUEUE = "runs"
RUN_TASK = "quietday.run"


class Runner(Protocol):
    def submit(self, session: Session, run_id: int) -> None:
        """Take on the run that `session` is recording, once (and only if) it commits."""

    def recover(self) -> None:
        """At start-up: take on again what a stopped API process left."""

    def shutdown(self) -> None: ...


def _child(database_url: str, run_id: int, part_size: int) -> None:
    for_solving()
    engine = make_engine(database_url)
    try:
        execute_run(engine, run_id, part_size=part_size)
    finally:
        engine.dispose()


def _mark_lost(engine: Engine, run_id: int, exitcode: int | None) -> None:
    """A child that died without recording an outcome leaves the run failed, not running."""
    with session_scope(engine, actor=RUNNER) as session:
        run = RunRepository(session).get(run_id)
        if run is not None and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            fail_run(
                session, run_id, message=run.message, error=f"求解进程意外退出(退出码 {exitcode})"
            )


class _InProcess(ABC):
    """Runs started by this API process once their record commits: after a restart, the
    runs the old process left running are failed and the queued ones started again."""

    def __init__(self, engine: Engine, part_size: int) -> None:
        self._engine = engine
        self._part_size = part_size

    def submit(self, session: Session, run_id: int) -> None:
        after_commit(session, lambda: self._start(run_id))

    def recover(self) -> None:
        for run_id in recover_runs(self._engine):
            self._start(run_id)

    @abstractmethod
    def _start(self, run_id: int) -> None: ...


class ProcessRunner(_InProcess):
    def __init__(self, engine: Engine, database_url: str, part_size: int) -> None:
        super().__init__(engine, part_size)
        self._url = database_url
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []

    def _start(self, run_id: int) -> None:
        process = self._ctx.Process(
            target=_child, args=(self._url, run_id, self._part_size), daemon=True
        )
        process.start()

        def watch() -> None:
            process.join()
            if process.exitcode != 0:
                _mark_lost(self._engine, run_id, process.exitcode)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with self._lock:
            self._watchers = [w for w in self._watchers if w.is_alive()] + [watcher]
            self._processes = [p for p in self._processes if p.is_alive()] + [process]

    def shutdown(self) -> None:
        """Stop runs still solving (they are recorded as failed) and wait for the records."""
        with self._lock:
            processes, watchers = list(self._processes), list(self._watchers)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for watcher in watchers:
            watcher.join()


class ThreadRunner(_InProcess):
    def __init__(self, engine: Engine, part_size: int) -> None:
        super().__init__(engine, part_size)
        self._threads: list[threading.Thread] = []

    def _start(self, run_id: int) -> None:
        thread = threading.Thread(
            target=execute_run,
            args=(self._engine, run_id),
            kwargs={"part_size": self._part_size},
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def shutdown(self) -> None:
        for thread in self._threads:
            thread.join()


class QueueRunner:
    """Runs as jobs on the PostgreSQL queue. The job's lock is the run's scope: two runs of
    one scope never solve at once, and while one waits another is refused (queueing lock).
    Workers own what they run: an API process that stops leaves their runs alone."""

    def submit(self, session: Session, run_id: int) -> None:
        run = RunRepository(session).get_or_raise(run_id)
        scope = f"run-scope:{run.scope or '*'}"
        JobRepository(session).defer(
            queue=RUN_QUEUE,
            task=RUN_TASK,
            args={"run_id": run_id},
            lock=scope,
            queueing_lock=scope,
        )

    def recover(self) -> None:
        """Nothing: queued runs are in the queue, and the workers retry the jobs of a dead one."""

    def shutdown(self) -> None:
        """Nothing: the runs go on in the workers."""
