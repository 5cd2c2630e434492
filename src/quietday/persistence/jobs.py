"""The job queue's side in the database: procrastinate's tables on PostgreSQL (migration 0007).

A job is deferred in the caller's transaction, so that a run and its job are recorded together
or not at all; procrastinate's own client would defer on a connection of its own.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from quietday.errors import ConflictError

__all__ = ["JobRepository", "libpq_url"]

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
