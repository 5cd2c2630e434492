"""Where runs execute, behind one small interface: a child process per run (the embedded default;
the CPU-bound solve never competes with the API for the interpreter), or a thread (tools and
tests that want one process). A distributed queue runner can take the same place later."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Protocol

from quietday.persistence import Engine, make_engine, session_scope
from quietday.persistence.repositories import RunRepository
from quietday.planning.runs import RUNNER, RunStatus, execute_run, fail_run

__all__ = ["ProcessRunner", "Runner", "ThreadRunner"]


class Runner(Protocol):
    def submit(self, run_id: int) -> None: ...

    def shutdown(self) -> None: ...


def _child(database_url: str, run_id: int) -> None:
    engine = make_engine(database_url)
    try:
        execute_run(engine, run_id)
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


class ProcessRunner:
    def __init__(self, engine: Engine, database_url: str) -> None:
        self._engine = engine
        self._url = database_url
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []

    def submit(self, run_id: int) -> None:
        process = self._ctx.Process(target=_child, args=(self._url, run_id), daemon=True)
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


class ThreadRunner:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._threads: list[threading.Thread] = []

    def submit(self, run_id: int) -> None:
        thread = threading.Thread(target=execute_run, args=(self._engine, run_id), daemon=True)
        thread.start()
        self._threads.append(thread)

    def shutdown(self) -> None:
        for thread in self._threads:
            thread.join()
