"""The job queue's side in the database: procrastinate's tables on PostgreSQL (migration 0007),
and the parts of runs solved on it (`run_part`, migration 0008).

A job is deferred in the caller's transaction, so that a run and its job (or a part and its
job) are recorded together or not at all; procrastinate's own client would defer on a
connection of its own.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from quietday.domain.status import PartState
from quietday.errors import ConflictError
from quietday.persistence.tables import RunPartRow, utcnow

__all__ = ["JobRepository", "PartRepository", "libpq_url"]

# procrastinate's unique index on the queueing lock of waiting ('todo') jobs.
_QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"


def libpq_url(url: str) -> str:
    """The database URL as libpq (and so procrastinate's psycopg connector) takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def defer(
        self,
        *,
        queue: str,
        task: str,
        args: dict[str, Any],
        lock: str | None = None,
        queueing_lock: str | None = None,
    ) -> int:
        """Queue one job in this transaction (procrastinate's `procrastinate_defer_jobs_v1`).
        A job waiting with the same `queueing_lock` makes this a `ConflictError`."""
        statement = sa.text(
            "SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, :qlock,"
            " CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))[1]"
        )
        params = {
            "queue": queue,
            "task": task,
            "lock": lock,
            "qlock": queueing_lock,
            "args": json.dumps(args),
        }
        try:
            with self.session.begin_nested():
                job_id = self.session.execute(statement, params).scalar_one()
        except IntegrityError as exc:
            if _QUEUEING_LOCK_INDEX in str(exc.orig):
                raise ConflictError(
                    f"已有同一范围的排期运行在排队({queueing_lock}),请等它开始后再提交",
                    code="run_already_queued",
                ) from None
            raise
        return int(job_id)

    def cancel(self, job_ids: Collection[int]) -> None:
        """Jobs still waiting are deleted (one being done goes on: its task looks for itself)."""
        for job_id in sorted(job_ids):
            self.session.execute(
                sa.text("SELECT procrastinate_cancel_job_v1(:id, false, true)"), {"id": job_id}
            )

    def live_workers(self, seconds: float) -> int:
        """Queue workers that sent a heartbeat in the last `seconds`."""
        statement = sa.text(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => :s)"
        )
        return int(self.session.execute(statement, {"s": seconds}).scalar_one())


class PartRepository:
    """A run's parts: the run's worker adds them and reads their results, the workers that
    take their jobs mark them running and write the results."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run_id: int, kind: str, label: str, inspections: int, job_gz: bytes) -> int:
        row = RunPartRow(
            run_id=run_id, kind=kind, label=label, inspections=inspections, job_gz=job_gz
        )
        self.session.add(row)
        self.session.flush()
        return int(row.id or 0)

    def set_job(self, part_id: int, queue_job_id: int) -> None:
        self.session.execute(
            update(RunPartRow)
            .where(col(RunPartRow.id) == part_id)
            .values(queue_job_id=queue_job_id)
        )

    def take(self, part_id: int, worker: str) -> RunPartRow | None:
        """The part, now running on `worker`, if it is still to be done: not ended, not given
        up by its run. Again after a retry (the worker it ran on died)."""
        row = self.session.exec(
            select(RunPartRow).where(RunPartRow.id == part_id).with_for_update()
        ).first()
        if row is None or row.state not in (PartState.TODO, PartState.RUNNING):
            return None
        row.state, row.worker, row.started_at = PartState.RUNNING, worker[:64], utcnow()
        row.attempts += 1
        self.session.add(row)
        return row

    def still_wanted(self, part_id: int) -> bool:
        """The part runs, and its run has not given it up (cancelled, or failed elsewhere)."""
        state = self.session.exec(select(RunPartRow.state).where(RunPartRow.id == part_id)).first()
        return state == PartState.RUNNING

    def job(self, part_id: int) -> tuple[str, bytes] | None:
        """The part's kind and job, while it has one."""
        row = self.session.exec(
            select(RunPartRow.kind, RunPartRow.job_gz).where(RunPartRow.id == part_id)
        ).first()
        if row is None or row[1] is None:
            return None
        return row[0], row[1]

    def end(
        self,
        part_id: int,
        state: str,
        *,
        result_gz: bytes | None = None,
        error: str | None = None,
        seconds: float | None = None,
    ) -> bool:
        """Record how a running part ended; False if it no longer runs (its run gave it up)."""
        done = self.session.execute(
            update(RunPartRow)
            .where(col(RunPartRow.id) == part_id, col(RunPartRow.state) == PartState.RUNNING)
            .values(
                state=state,
                result_gz=result_gz,
                error=error,
                seconds=seconds,
                finished_at=utcnow(),
            )
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def ended(self, part_ids: Collection[int]) -> Sequence[tuple[int, str, str, str | None]]:
        """(id, state, label, error) of those of `part_ids` that are done or failed."""
        return self.session.exec(
            select(RunPartRow.id, RunPartRow.state, RunPartRow.label, RunPartRow.error).where(
                col(RunPartRow.id).in_(part_ids),
                col(RunPartRow.state).in_((PartState.DONE, PartState.FAILED)),
            )
        ).all()  # type: ignore[return-value]

    def result(self, part_id: int) -> bytes:
        """A done part's result, read once: the job and the result are cleared."""
        blob = self.session.exec(select(RunPartRow.result_gz).where(RunPartRow.id == part_id)).one()
        self.session.execute(
            update(RunPartRow)
            .where(col(RunPartRow.id) == part_id)
            .values(job_gz=None, result_gz=None)
        )
        if blob is None:
            raise LookupError(f"part {part_id} has no result")
        return blob

    def of_run(self, run_id: int) -> Sequence[RunPartRow]:
        return self.session.exec(
            select(RunPartRow).where(RunPartRow.run_id == run_id).order_by(col(RunPartRow.id))
        ).all()

    def give_up(self, run_id: int, part_ids: Collection[int] | None = None) -> list[int]:
        """The run's parts not yet ended (of `part_ids`, else all) marked cancelled; their
        waiting jobs' ids, for the caller to cancel."""
        where = [
            col(RunPartRow.run_id) == run_id,
            col(RunPartRow.state).in_((PartState.TODO, PartState.RUNNING)),
        ]
        if part_ids is not None:
            where.append(col(RunPartRow.id).in_(part_ids))
        rows = self.session.exec(select(RunPartRow.queue_job_id).where(*where)).all()
        self.session.execute(
            update(RunPartRow).where(*where).values(state=PartState.CANCELLED, finished_at=utcnow())
        )
        return [job for job in rows if job is not None]
