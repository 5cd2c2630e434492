"""`quietday worker`: takes runs from the PostgreSQL job queue (procrastinate) and solves them.

Any number of workers, on any machines, share one database. The API defers a run's job in the
transaction that records the run (`QueueRunner`); a worker takes it, and two runs of one scope
never solve at once (the job's lock). Each worker sends a heartbeat; a job whose worker has sent
none for `stalled_seconds` (it was killed, or its machine died) is handed back to the queue by
any other worker, and the run starts over on the instance the first worker stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import ConnectorException

from quietday.persistence import make_engine
from quietday.persistence.jobs import libpq_url
from quietday.planning.runner import RUN_QUEUE, RUN_TASK
from quietday.planning.runs import execute_run

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def _app(database_url: str) -> App:
    app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
    engine = make_engine(database_url)

    @app.task(name=RUN_TASK, queue=RUN_QUEUE, pass_context=True)
    def solve_run(context: JobContext, run_id: int) -> None:
        job = context.job
        execute_run(engine, run_id, retry=job.attempts > 0)

    return app


async def _hand_back_stalled(app: App, stalled_seconds: float) -> None:
    """Every few seconds: the runs' jobs whose worker stopped sending heartbeats go back to
    the queue (another worker may get there first: then there is nothing left to do)."""
    while True:
        await asyncio.sleep(max(1.0, stalled_seconds / 3))
        for job in await app.job_manager.get_stalled_jobs(
            queue=RUN_QUEUE, seconds_since_heartbeat=stalled_seconds
        ):
            with contextlib.suppress(ConnectorException):
                await app.job_manager.retry_job(job)
                log.warning("任务 %s 的执行进程已失联,重新排队", job.id)


def run_worker(
    database_url: str,
    *,
    name: str,
    heartbeat_seconds: float,
    stalled_seconds: float,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Work until SIGINT or SIGTERM (the job in hand is finished first)."""
    app = _app(database_url)

    async def main() -> None:
        async with app.open_async():
            if on_ready is not None:
                on_ready()
            sweeper = asyncio.create_task(_hand_back_stalled(app, stalled_seconds))
            try:
                await app.run_worker_async(
                    queues=[RUN_QUEUE],
                    name=name,
                    concurrency=1,
                    update_heartbeat_interval=heartbeat_seconds,
                    stalled_worker_timeout=stalled_seconds,
                )
            finally:
                sweeper.cancel()

    asyncio.run(main())
