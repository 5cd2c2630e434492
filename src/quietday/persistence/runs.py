"""Queries of solve runs and what each made of the plans it saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import col, select

from quietday.domain.status import PlanStatus, RunStatus
from quietday.errors import NotFoundError
from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    PlanRow,
    RunPlanRow,
    RunRow,
    SettingRow,
)

__all__ = ["PlanOutcome", "RunRepository"]

# A run's instance and solution (megabytes at province scale) load when first read, not with
# the row: status polls, the run list and the cancel watch read the row many times a minute.
# (SQLModel types a column as its value: `defer` wants the class attribute it really is.)
_BLOBS_DEFERRED = tuple(
    defer(cast("QueryableAttribute[bytes | None]", blob))
    for blob in (RunRow.instance_gz, RunRow.solution_gz)
)


class RunRepository(Repository[RunRow]):
    model = RunRow
    label = "排期运行"

    def get(self, key: Any) -> RunRow | None:
        return self.session.get(RunRow, key, options=_BLOBS_DEFERRED)

    def list(self, *, limit: int, after: int | None) -> Sequence[RunRow]:
        query = select(RunRow).options(*_BLOBS_DEFERRED).order_by(col(RunRow.id).desc())
        if after is not None:
            query = query.where(col(RunRow.id) < after)
        return self.session.exec(query.limit(limit)).all()

    def lock(self, run_id: int) -> RunRow:
        """The run, locked for update until the transaction ends (a no-op on SQLite, which
        serialises writers anyway)."""
        row = self.session.exec(
            select(RunRow).options(*_BLOBS_DEFERRED).where(RunRow.id == run_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"排期运行 {run_id} 不存在")
        return row

    def cancel_requested(self, run_id: int) -> bool | None:
        """Whether the run was asked to stop (None: there is no such run)."""
        return self.session.exec(select(RunRow.cancel_requested).where(RunRow.id == run_id)).first()

    def set_progress(self, run_id: int, progress: float, message: str, stage: str) -> None:
        self.session.execute(
            sa.update(RunRow)
            .where(col(RunRow.id) == run_id)
            .values(progress=progress, message=message, stage=stage)
        )

    def lock_publishing(self) -> None:
        """Serialise publishing across processes: lock the `publish` setting row."""
        self.session.exec(
            select(SettingRow).where(SettingRow.key == "publish").with_for_update()
        ).first()

    def published_since(self, moment: datetime) -> Sequence[RunRow]:
        return self.session.exec(
            select(RunRow)
            .options(*_BLOBS_DEFERRED)
            .where(RunRow.status == RunStatus.PUBLISHED, col(RunRow.published_at) > moment)
        ).all()

    def plans(self, run_id: int) -> Sequence[RunPlanRow]:
        return self.session.exec(
            select(RunPlanRow).where(RunPlanRow.run_id == run_id).order_by(col(RunPlanRow.plan_id))
        ).all()

    def plan_versions(self, run_id: int) -> dict[int, int]:
        """The version of each plan the run saw, by plan id."""
        rows = self.session.execute(
            sa.select(col(RunPlanRow.plan_id), col(RunPlanRow.version))
            .where(col(RunPlanRow.run_id) == run_id)
            .order_by(col(RunPlanRow.plan_id))
        )
        return {int(plan_id): int(version) for plan_id, version in rows}

    def add_plans(self, run_id: int, versions: Mapping[int, int]) -> None:
        """The plans a run sees, at these versions."""
        self._insert_plans(
            ("run_id", "plan_id", "version"), [(run_id, p, v) for p, v in versions.items()]
        )

    def store_outcomes(self, run_id: int, outcomes: Sequence[PlanOutcome]) -> None:
        """What the run made of each plan it saw; then every plan still at the version the run
        saw, and not published, takes that as its draft. Set-based: a province's run has 10^5."""
        self.session.execute(sa.delete(RunPlanRow).where(col(RunPlanRow.run_id) == run_id))
        self._insert_plans(("run_id", *PlanOutcome._fields), [(run_id, *o) for o in outcomes])
        self.session.execute(
            sa.update(PlanRow)
            .where(
                col(RunPlanRow.run_id) == run_id,
                col(RunPlanRow.plan_id) == col(PlanRow.id),
                col(RunPlanRow.version) == col(PlanRow.version),
                col(PlanRow.status) != PlanStatus.PUBLISHED,
            )
            .values(
                draft_run_id=run_id,
                draft_date=RunPlanRow.day,
                reason=RunPlanRow.reason,
                detail=RunPlanRow.detail,
            )
            .execution_options(synchronize_session=False)
        )

    def _insert_plans(self, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """`run_plan` rows: COPY on PostgreSQL (a province's 10^5 rows took 5.4 s as multi-row
        inserts, 1.8 s copied), multi-row inserts elsewhere."""
        if not rows:
            return
        if self.session.get_bind().dialect.name != "postgresql":
            self.session.execute(
                sa.insert(RunPlanRow), [dict(zip(names, r, strict=True)) for r in rows]
            )
            return
        conn = cast(psycopg.Connection[Any], self.session.connection().connection.driver_connection)
        copy_sql = f"COPY {RunPlanRow.__tablename__} ({', '.join(names)}) FROM STDIN"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)


class PlanOutcome(NamedTuple):
    """What a run made of one plan: its day, or why it has none."""

    plan_id: int
    version: int
    day: date | None
    reason: str | None
    detail: str | None
