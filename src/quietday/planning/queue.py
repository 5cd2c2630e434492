"""`quietday worker`: takes runs and their parts from the PostgreSQL job queue (procrastinate).

Any number of workers, on any machines, share one database. The API defers a run's job in the
transaction that records the run (`QueueRunner`); a worker takes it, and two runs of one scope
never solve at once (the job's lock). A run too large for one model is decomposed, and its parts
go to the queue as jobs of their own (`quietday.planning.parts`): each worker process is two
queue workers, one coordinating a run, one solving a part, so that N processes solve N parts at
once. Each sends a heartbeat; a job whose worker has sent none for `stalled_seconds` (it was
killed, or its machine died) is handed back to the queue by any other worker: a part is solved
again, a run starts over on the instance the first worker stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import ConnectorException
from procrastinate.worker import Worker

from quietday.persistence import make_engine
from quietday.persistence.jobs import libpq_url
from quietday.planning.parts import (
    PART_QUEUE,
    PART_TASK,
    WORKER_QUEUES,
    QueuePool,
    solve_part_job,
)
from quietday.planning.runner import RUN_QUEUE, RUN_TASK
from quietday.planning.runs import execute_run
from quietday.solver import for_solving

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def _app(database_url: str, *, name: str, stalled_seconds: float, part_size: int) -> App:
    app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
    engine = make_engine(database_url)

    @app.task(name=RUN_TASK, queue=RUN_QUEUE, pass_context=True)
    def solve_run(context: JobContext, run_id: int) -> None:
        retry = context.job.attempts > 0
        pool = QueuePool(engine, run_id, stalled_seconds=stalled_seconds)
        if retry:
            pool.abandon_earlier()
        execute_run(engine, run_id, retry=retry, pool=pool, part_size=part_size)

    @app.task(name=PART_TASK, queue=PART_QUEUE)
    def solve_part(part_id: int) -> None:
        solve_part_job(engine, database_url, part_id, name)

    return app


async def _hand_back_stalled(app: App, stalled_seconds: float) -> None:
    """Every few seconds: the jobs whose worker stopped sending heartbeats go back to the
    queue (another worker may get there first: then there is nothing left to do)."""
    while True:
        await asyncio.sleep(max(1.0, stalled_seconds / 3))
        for queue in (RUN_QUEUE, PART_QUEUE):
            for job in await app.job_manager.get_stalled_jobs(
                queue=queue, seconds_since_heartbeat=stalled_seconds
            ):
                with contextlib.suppress(ConnectorException):
                    await app.job_manager.retry_job(job)
                    log.warning("任务 %s(%s)的执行进程已失联,重新排队", job.id, job.task_name)


def run_worker(
    database_url: str,
    *,
    name: str,
    heartbeat_seconds: float,
    stalled_seconds: float,
    part_size: int,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Work until SIGINT or SIGTERM (the jobs in hand are finished first)."""
    for_solving()
    app = _app(database_url, name=name, stalled_seconds=stalled_seconds, part_size=part_size)

    async def main() -> None:
        async with app.open_async():
            workers = [
                Worker(
                    app=app,
                    queues=[queue],
                    name=f"{name}/{queue}",
                    concurrency=1,
                    update_heartbeat_interval=heartbeat_seconds,
                    stalled_worker_timeout=stalled_seconds,
                    install_signal_handlers=False,
                )
                for queue in WORKER_QUEUES
            ]
            # procrastinate's Worker.run and Worker.stop carry no annotations.
            slots = [asyncio.create_task(w.run()) for w in workers]  # type: ignore[no-untyped-call]

            def stop() -> None:
                # A queue worker asked to stop finishes its job in hand first.
                for w in workers:
                    w.stop()  # type: ignore[no-untyped-call]

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop)
            # Ready once each is registered (and so counted in a run's width).
            while any(w.worker_id is None for w in workers) and not any(s.done() for s in slots):
                await asyncio.sleep(0.05)
            if on_ready is not None:
                on_ready()
            sweeper = asyncio.create_task(_hand_back_stalled(app, stalled_seconds))
            try:
                # Until a signal, or one of them fails: then the other stops too.
                await asyncio.wait(slots, return_when=asyncio.FIRST_EXCEPTION)
                stop()
                await asyncio.wait(slots)
            finally:
                sweeper.cancel()
            for slot in slots:
                if (failure := slot.exception()) is not None:
                    raise failure

    asyncio.run(main())
